"""The variables a process must be started with, read from its diagram and the handlers' metadata.

A service task whose handler declares a required input, leaves it unmapped on the task and
defaults it to `${name}` reads the process variable `name` (intake's `request_id`). When no
element of the process sets that variable (no form field, handler output, output mapping,
script or message payload), only the starter can supply it: started without it, the process
runs until the first such job and fails there with an incident. Checking before the start
turns that late failure into an answer naming the missing variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.definitions import parse_resources
from engine.expressions import ExpressionError, compile_template, is_expression
from engine.forms import FormSchema
from engine.handlers import TopicMeta
from engine.parser import CAMUNDA, load_xml, parse_service_call
from engine.store import ProcessDefinition, Resource
from engine.variables import BPMN, WELL_KNOWN, Provided, provided_variables


@dataclass(frozen=True)
class StartVariable:
    """A variable the starter must supply, and the first service task input that reads it."""

    name: str
    element_id: str
    topic: str
    input_name: str

    def __str__(self) -> str:
        return f"{self.name} (read by {self.element_id}, topic {self.topic!r}, input {self.input_name!r})"


def _set_elsewhere(process: Any, topics: Mapping[str, TopicMeta | None], forms: Mapping[str, FormSchema]):
    """Names some element sets, leaving out what handler inputs merely expect (their `${x}` defaults)."""
    without_contract = {
        topic: replace(meta, inputs=()) if meta is not None else None for topic, meta in topics.items()
    }
    provided: Provided = provided_variables(process, without_contract, forms)
    return provided.names | WELL_KNOWN


def start_variables(
    process: Any, topics: Mapping[str, TopicMeta | None], forms: Mapping[str, FormSchema]
) -> list[StartVariable]:
    """What `process` (its bpmn:process element) needs at start, in document order, each name once."""
    provided = _set_elsewhere(process, topics, forms)
    found: dict[str, StartVariable] = {}
    for node in process.iter(f"{BPMN}serviceTask", f"{BPMN}sendTask", f"{BPMN}businessRuleTask"):
        try:
            call = parse_service_call(node)
        except Exception:  # a malformed task is reported by the deploy lint
            continue
        meta = topics.get(call.topic) if call.topic else None
        if meta is None:
            continue
        mapped = {
            p.get("name")
            for p in node.findall(f"{BPMN}extensionElements/{CAMUNDA}inputOutput/{CAMUNDA}inputParameter")
        }
        for item in meta.inputs:
            if not item.required or item.name in mapped or not is_expression(item.default):
                continue
            try:
                names = compile_template(item.default).names
            except ExpressionError:
                continue
            for name in sorted(set(names) - provided):
                found.setdefault(name, StartVariable(name, node.get("id") or "?", call.topic, item.name))
    return list(found.values())


def missing_start_variables(
    session: Session,
    definition: ProcessDefinition,
    variables: Mapping[str, Any],
    topics: Mapping[str, TopicMeta | None],
) -> list[StartVariable]:
    """The start variables `definition` needs that `variables` leaves out (read from its deployment)."""
    resources = {
        r.name: r.content
        for r in session.scalars(select(Resource).where(Resource.deployment_id == definition.deployment_id))
    }
    forms = parse_resources({n: c for n, c in resources.items() if n.endswith(".form")}, lint=False).forms
    for name, content in resources.items():
        if name.endswith(".form"):
            continue
        try:
            root = load_xml(content, name).getroot()
        except Exception:  # not a diagram this check can read: the engine reports it when it runs
            continue
        for process in root.iter(f"{BPMN}process"):
            if process.get("id") == definition.key:
                return [v for v in start_variables(process, topics, forms) if v.name not in variables]
    return []
