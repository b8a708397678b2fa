"""Camunda Modeler element templates and the analyst guide's topic table, from the handler registry.

Analysts bind a service task to a handler by applying its template in Camunda Modeler
(Camunda 7 flavour): the template fixes `camunda:type="external"` and the topic and offers
one field per declared input and one output mapping per declared output. Both outputs of
this module are pure renderings of `TopicMeta`, so a new topic appears in the Modeler and
in the guide without anything written by hand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engine.handlers import HandlerInput, HandlerOutput, HandlerRegistry, TopicMeta

# No "$schema" key: Camunda's convention points it at a package CDN, and nothing we ship may
# name one. It only helps editors; the Modeler reads a template without it as a Camunda 7
# template, and the tests validate against the schema package pinned in
# tests/element_templates_schema/package.json.
TEMPLATE_ID_PREFIX = "desk.topic."
FILE_PREFIX = "desk-"
#: Bump when the shape of every generated template changes, so the Modeler offers an update.
TEMPLATE_VERSION = 1

TABLE_START = "<!-- topics:start (generated from the handler registry; do not edit by hand) -->"
TABLE_END = "<!-- topics:end -->"


class GuideMarkersError(ValueError):
    """The analyst guide lacks the markers between which the topic table is generated."""


def _both(text: Any) -> str:
    ru, en = text.get("ru").strip(), text.get("en").strip()
    return ru if ru == en or not en else f"{ru} / {en}"


def _input_property(item: HandlerInput) -> dict[str, Any]:
    """One field per input: a dropdown for allowed values, required ones marked non-empty.

    An optional input without a default gets Modeler's own mapping control (no `type`),
    whose switch leaves the parameter out: the handler then reads the process variable
    of the same name, which an empty parameter would hide.
    """
    label = f"{item.label.get('ru')} — {item.name}" + (" *" if item.required else "")
    hint = [text for text in (_both(item.description),) if text]
    if item.default is not None and not item.required and not item.allowed_values():
        hint.append(f"По умолчанию / default: {item.default}")
    prop: dict[str, Any] = {"label": label}
    if hint:
        prop["description"] = " ".join(hint)
    binding = {"type": "camunda:inputParameter", "name": item.name}
    allowed = item.allowed_values()
    if allowed:
        choices = [{"name": value, "value": value} for value in allowed]
        if item.default is not None and item.default not in allowed:
            choices.insert(0, {"name": f"{item.default} (переменная / variable)", "value": item.default})
        prop["type"] = "Dropdown"
        prop["choices"] = choices
        if item.default is not None:
            prop["value"] = item.default
    elif item.required or item.default is not None and item.default.startswith("${"):
        prop["type"] = "Text" if item.type == "text" else "String"
        if item.default is not None:
            prop["value"] = item.default
    if item.required:
        prop["constraints"] = {"notEmpty": True}
    prop["binding"] = binding
    prop["group"] = "inputs"
    return prop


def _output_property(item: HandlerOutput) -> dict[str, Any]:
    hint = _both(item.description)
    prop: dict[str, Any] = {
        "label": f"{item.label.get('ru')} — {item.name} → переменная",
        "description": (f"{hint}. " if hint else "")
        + "Имя переменной процесса для результата / process variable that receives it",
        "type": "String",
        "value": item.name,
        "binding": {"type": "camunda:outputParameter", "source": "${" + item.name + "}"},
        "group": "outputs",
    }
    return prop


def template_for(topic: str, meta: TopicMeta) -> dict[str, Any]:
    """The Camunda 7 element template (one JSON object) for a topic."""
    properties: list[dict[str, Any]] = [
        {"type": "Hidden", "value": "external", "binding": {"type": "property", "name": "camunda:type"}},
        {"type": "Hidden", "value": topic, "binding": {"type": "property", "name": "camunda:topic"}},
    ]
    properties += [_input_property(item) for item in meta.inputs]
    properties += [_output_property(item) for item in meta.outputs]
    groups = []
    if meta.inputs:
        groups.append({"id": "inputs", "label": "Входные данные / Inputs"})
    if meta.outputs:
        groups.append({"id": "outputs", "label": "Результаты / Outputs"})
    return {
        "name": _both(meta.name),
        "id": TEMPLATE_ID_PREFIX + topic,
        "version": TEMPLATE_VERSION,
        "description": f"{_both(meta.description)} (topic: {topic})",
        "keywords": [topic, meta.name.get("ru"), meta.name.get("en")],
        "appliesTo": ["bpmn:Task"],
        "elementType": {"value": "bpmn:ServiceTask"},
        "groups": groups,
        "properties": properties,
    }


def _described(registry: HandlerRegistry) -> Iterable[tuple[str, TopicMeta]]:
    for info in registry:
        if info.meta is not None:
            yield info.topic, info.meta


def templates(registry: HandlerRegistry) -> dict[str, str]:
    """File name -> file text (a JSON array holding the topic's template) for every described topic."""
    return {
        f"{FILE_PREFIX}{topic}.json": json.dumps([template_for(topic, meta)], ensure_ascii=False, indent=2)
        + "\n"
        for topic, meta in _described(registry)
    }


def write_templates(registry: HandlerRegistry, out_dir: Path) -> list[Path]:
    """Write every template into out_dir and remove generated files of topics that are gone."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = templates(registry)
    for stale in out_dir.glob(f"{FILE_PREFIX}*.json"):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, text in files.items():
        path = out_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _inputs_cell(meta: TopicMeta, language: str) -> str:
    parts = []
    for item in meta.inputs:
        text = f"`{item.name}`" + ("\\*" if item.required else "")
        extra = []
        if item.allowed_values():
            extra.append(" \\| ".join(item.allowed_values()))
        if item.default is not None:
            extra.append(("по умолчанию " if language == "ru" else "default ") + f"`{item.default}`")
        parts.append(text + (f" ({'; '.join(extra)})" if extra else ""))
    return ", ".join(parts) or "—"


def topic_table(registry: HandlerRegistry, language: str = "ru") -> str:
    """The guide's Markdown table of topics: name, what it does, inputs (* = required), outputs."""
    head = (
        "| topic | название | что делает | входы (\\* — обязательный) | результаты |"
        if language == "ru"
        else "| topic | name | what it does | inputs (\\* = required) | outputs |"
    )
    lines = [head, "|---|---|---|---|---|"]
    for topic, meta in _described(registry):
        outputs = ", ".join(f"`{o.name}`" for o in meta.outputs) or "—"
        lines.append(
            f"| `{topic}` | {_cell(meta.name.get(language))} | {_cell(meta.description.get(language))} "
            f"| {_inputs_cell(meta, language)} | {outputs} |"
        )
    return "\n".join(lines)


def with_topic_table(guide: str, table: str) -> str:
    """The guide text with the generated table between its markers; raise GuideMarkersError without them."""
    pattern = re.compile(re.escape(TABLE_START) + r".*?" + re.escape(TABLE_END), re.S)
    if not pattern.search(guide):
        raise GuideMarkersError(
            f"the guide has no {TABLE_START!r} … {TABLE_END!r} block; add both markers where the table goes"
        )
    return pattern.sub(lambda _: f"{TABLE_START}\n{table}\n{TABLE_END}", guide, count=1)
