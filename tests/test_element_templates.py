"""Camunda Modeler element templates: one per handler topic, generated from the registry, committed, valid."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from desk import notify
from engine.definitions import parse_resources
from engine.element_templates import (
    TABLE_END,
    TABLE_START,
    GuideMarkersError,
    template_for,
    templates,
    topic_table,
    with_topic_table,
)
from engine.handlers import (
    HandlerInput,
    HandlerMetadataError,
    HandlerOutput,
    HandlerRegistry,
    Text,
    TopicMeta,
)
from tests.conftest import PROJECT, require_service

TEMPLATE_DIR = PROJECT / "bpmn" / "element-templates"
SCHEMA_DIR = Path(__file__).parent / "element_templates_schema"


@pytest.fixture
def registry(app) -> HandlerRegistry:
    return app.extensions["handlers"]


def by_binding(template: dict, kind: str, key: str) -> dict:
    return next(
        p
        for p in template["properties"]
        if p["binding"]["type"] == kind and key in (p["binding"].get("name"), p["binding"].get("source"))
    )


def test_every_registered_topic_declares_names_description_inputs_and_outputs(registry):
    assert registry.topics(), "the app registers the handler package"
    for info in registry:
        meta = info.meta
        assert meta is not None, f"topic {info.topic} has no META"
        assert meta.name.ru and meta.name.en and meta.description.ru and meta.description.en
        assert meta.outputs, f"topic {info.topic} declares no outputs"


def test_a_template_is_generated_for_every_topic_and_equals_the_committed_file(registry):
    generated = templates(registry)
    assert set(generated) == {f"desk-{topic}.json" for topic in registry.topics()}
    committed = {p.name: p.read_text(encoding="utf-8") for p in TEMPLATE_DIR.glob("desk-*.json")}
    regenerate = "flask --app web element-templates --out bpmn/element-templates"
    assert set(committed) == set(generated), f"bpmn/element-templates is out of date; run {regenerate}"
    for name, text in generated.items():
        assert committed[name] == text, f"{name} is out of date; run {regenerate}"


def test_notify_template_fixes_the_topic_and_offers_its_inputs_and_outputs(registry):
    [template] = json.loads(templates(registry)["desk-notify.json"])
    assert template["appliesTo"] == ["bpmn:Task"] and template["elementType"] == {"value": "bpmn:ServiceTask"}
    assert by_binding(template, "property", "camunda:type") == {
        "type": "Hidden",
        "value": "external",
        "binding": {"type": "property", "name": "camunda:type"},
    }
    assert by_binding(template, "property", "camunda:topic")["value"] == "notify"
    chooser = by_binding(template, "camunda:inputParameter", "template")
    assert chooser["type"] == "Dropdown" and chooser["constraints"] == {"notEmpty": True}
    assert [c["value"] for c in chooser["choices"]] == sorted(notify.TEMPLATES)
    recipients = by_binding(template, "camunda:inputParameter", "to")
    assert recipients["type"] == "String" and recipients["label"].endswith("*")
    optional = by_binding(template, "camunda:inputParameter", "request_id")
    assert "type" not in optional, "optional inputs use the Modeler's switchable mapping, not an empty value"
    result = by_binding(template, "camunda:outputParameter", "${notified}")
    assert result["value"] == "notified" and result["type"] == "String"
    assert "Notify" in template["name"] and "Уведомить" in template["name"]
    assert template["description"]


def test_the_cli_writes_the_same_files(app, tmp_path):
    (tmp_path / "desk-gone_topic.json").write_text("[]", encoding="utf-8")
    (tmp_path / "mine.json").write_text("[]", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["element-templates", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.glob("desk-*.json")}
    assert written == templates(app.extensions["handlers"])
    assert (tmp_path / "mine.json").exists(), "files the generator did not write are left alone"


def test_the_cli_refuses_a_guide_without_table_markers(app, tmp_path):
    guide = tmp_path / "guide.md"
    guide.write_text("# Guide\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(
        args=["element-templates", "--out", str(tmp_path / "t"), "--guide", str(guide)]
    )
    assert result.exit_code != 0 and "topics:start" in result.output
    assert guide.read_text(encoding="utf-8") == "# Guide\n"


@pytest.mark.parametrize(
    "meta,problem",
    [
        ({"name": {"ru": "Имя", "en": "Name"}}, "description"),
        ({"name": {"ru": "Имя"}, "description": {"ru": "x", "en": "x"}}, "'en'"),
        (
            {"name": "x", "description": "x", "inputs": [{"name": "n", "type": "colour"}]},
            "type 'colour'",
        ),
        (
            {"name": "x", "description": "x", "inputs": [{"name": "n", "allowed": ["a"], "default": "b"}]},
            "not among",
        ),
        ({"name": "x", "description": "x", "outputs": ["ok", "ok"]}, "twice"),
        ({"name": "x", "description": "x", "inputs": ["not a name"]}, "not a variable name"),
        ({"name": "x", "description": "x", "colour": "red"}, "unknown keys"),
    ],
)
def test_malformed_metadata_is_refused_when_the_topic_is_registered(meta, problem):
    registry = HandlerRegistry()
    with pytest.raises(HandlerMetadataError) as err:
        registry.register("parcel", lambda v: {}, meta)
    assert problem in str(err.value) and "handlers/parcel.py" in str(err.value)
    assert "parcel" not in registry


# ---------------------------------------------------------------------------- a new topic needs no other edit

PARCEL = TopicMeta(
    name=Text("Отследить посылку", "Track parcel"),
    description=Text("Статус посылки у перевозчика.", "The parcel's status at the carrier."),
    inputs=(
        HandlerInput("tracking_number", Text("Трек-номер", "Tracking number"), required=True),
        HandlerInput("carrier", Text("Перевозчик", "Carrier"), allowed=("cdek", "post"), default="post"),
    ),
    outputs=(HandlerOutput("delivered", Text("Доставлена", "Delivered"), type="boolean"),),
)

PARCEL_DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="parcel" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="track" name="Track" camunda:type="external" camunda:topic="parcel_track">
      <bpmn:extensionElements><camunda:inputOutput>INPUTS</camunda:inputOutput></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:exclusiveGateway id="gw" default="f4"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f4</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="track" />
    <bpmn:sequenceFlow id="f2" sourceRef="track" targetRef="gw" />
    <bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="end">
      <bpmn:conditionExpression>${CONDITION}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="gw" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"""


def parcel_diagram(inputs: str, condition: str = "delivered") -> bytes:
    return PARCEL_DIAGRAM.replace("INPUTS", inputs).replace("CONDITION", condition).encode()


def rules(problems) -> list[tuple[str, str | None]]:
    return [
        (p.message.rsplit("(rule ", 1)[-1].rstrip(")"), p.element_id)
        for p in problems
        if "(rule " in p.message
    ]


def test_a_new_topic_module_appears_in_templates_lint_and_the_guide_table(registry):
    extended = HandlerRegistry()
    for info in registry:
        extended.register(info.topic, info.fn, info.meta)
    extended.register("parcel_track", lambda variables: {"delivered": True}, PARCEL)

    [template] = json.loads(templates(extended)["desk-parcel_track.json"])
    assert template == template_for("parcel_track", PARCEL)
    assert by_binding(template, "property", "camunda:topic")["value"] == "parcel_track"
    assert by_binding(template, "camunda:inputParameter", "carrier")["choices"] == [
        {"name": "cdek", "value": "cdek"},
        {"name": "post", "value": "post"},
    ]
    assert "| `parcel_track` | Отследить посылку |" in topic_table(extended, "ru")
    assert "| `parcel_track` | Track parcel |" in topic_table(extended, "en")
    assert "`tracking_number`\\*" in topic_table(extended, "en")

    good = '<camunda:inputParameter name="tracking_number">RU123</camunda:inputParameter>'
    clean = parse_resources({"p.bpmn": parcel_diagram(good)}, known_topics=extended)
    assert clean.errors == [] and clean.warnings == []

    missing = parse_resources({"p.bpmn": parcel_diagram("")}, known_topics=extended)
    assert rules(missing.errors) == [("handler-input-missing", "track")]
    wrong = parse_resources(
        {
            "p.bpmn": parcel_diagram(
                good + '<camunda:inputParameter name="carrier">dhl</camunda:inputParameter>'
            )
        },
        known_topics=extended,
    )
    assert (
        rules(wrong.errors) == [("handler-input-missing", "track")]
        and "cdek, post" in wrong.errors[0].message
    )
    typo = parse_resources(
        {
            "p.bpmn": parcel_diagram(
                good + '<camunda:inputParameter name="carier">post</camunda:inputParameter>'
            )
        },
        known_topics=extended,
    )
    assert rules(typo.warnings) == [("handler-input-unknown", "track")]
    misread = parse_resources({"p.bpmn": parcel_diagram(good, "delivred")}, known_topics=extended)
    assert rules(misread.warnings) == [("unknown-variable", "f3")]
    assert "did you mean 'delivered'?" in misread.warnings[0].message

    without_metadata = parse_resources({"p.bpmn": parcel_diagram("")}, known_topics=extended.topics())
    assert without_metadata.errors == [], "bare topic names carry no input contract to check"


def test_the_guide_table_is_replaced_between_its_markers_only():
    guide = f"# Guide\n\nbefore\n{TABLE_START}\nold table\n{TABLE_END}\nafter\n"
    updated = with_topic_table(guide, "| new |")
    assert updated == f"# Guide\n\nbefore\n{TABLE_START}\n| new |\n{TABLE_END}\nafter\n"
    assert with_topic_table(updated, "| new |") == updated
    with pytest.raises(GuideMarkersError):
        with_topic_table("# no markers\n", "| new |")


# ---------------------------------------------------------------------------- the official JSON schema


def schema_validator() -> Path:
    """Skip unless node and npm are here; install the pinned schema package and ajv once."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed, so the element-templates schema cannot be checked")
    schema = SCHEMA_DIR / "node_modules" / "@camunda" / "element-templates-json-schema" / "resources"
    if not (schema / "schema.json").is_file() or not (SCHEMA_DIR / "node_modules" / "ajv").is_dir():
        installed = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=SCHEMA_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if installed.returncode != 0:
            require_service("npm install of @camunda/element-templates-json-schema", installed.stderr[-500:])
    return SCHEMA_DIR / "validate.mjs"


def validate(script: Path, *files: Path) -> tuple[int, list[dict]]:
    done = subprocess.run(
        ["node", str(script), *map(str, files)], cwd=SCHEMA_DIR, capture_output=True, text=True, timeout=120
    )
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


@pytest.mark.node
def test_committed_templates_are_valid_camunda_7_element_templates(tmp_path):
    script = schema_validator()
    files = sorted(TEMPLATE_DIR.glob("desk-*.json"))
    code, results = validate(script, *files)
    assert code == 0, [r for r in results if not r["ok"]]
    assert len(results) == len(files)

    # Not vacuous: a Boolean field bound to an input parameter is outside the Camunda 7 schema.
    [template] = json.loads(files[0].read_text(encoding="utf-8"))
    template["properties"].append(
        {"label": "x", "type": "Boolean", "binding": {"type": "camunda:inputParameter", "name": "x"}}
    )
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps([template]), encoding="utf-8")
    code, [result] = validate(script, broken)
    assert code == 1 and not result["ok"]
