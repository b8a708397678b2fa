"""Workflow state <-> bytes, without the process spec.

SpiffWorkflow's serializer writes the whole parsed spec into every saved state. Our
specs come from the deployed definition (parsed once, cached), so we store only the
instance part: tasks, data, subprocesses and pending events. That makes the state a
fraction of the size and skips re-building specs on every load. The stored document
carries a format version so later releases can migrate old rows.
"""

from __future__ import annotations

import base64
from typing import Any
from uuid import UUID

import orjson
from SpiffWorkflow.bpmn.serializer.default.event_definition import (
    ErrorEscalationEventDefinitionConverter,
    TimerConditionalEventDefinitionConverter,
)
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, TaskConverter
from SpiffWorkflow.bpmn.serializer.helpers.registry import DefaultRegistry
from SpiffWorkflow.bpmn.serializer.helpers.spec import EventDefinitionConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.camunda.serializer.event_definition import MessageEventDefinitionConverter
from SpiffWorkflow.task import Task

from engine.errors import EngineError
from engine.events import CamundaErrorEvent, EngineConditional, ExecutionTrigger
from engine.specs import EngineCycleTimer, EngineDateTimer, EngineDurationTimer, EngineMessage
from engine.typed_values import Long, ObjectValue, Short, jsonable

FORMAT = "desk-1"


class StateFormatError(EngineError):
    """A stored workflow state cannot be read back (corrupt, or written by an unknown version)."""


class SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Writes a workflow without its specs; restores it onto specs supplied by the caller."""

    def to_dict(self, workflow):
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


class TypedDataTaskConverter(TaskConverter):
    """SpiffWorkflow 3.2.0 writes a task's data (its delta) without the registry's conversions,
    so a datetime came back as a string and bytes could not be written; convert it here."""

    def to_dict(self, task):
        dct = super().to_dict(task)
        if dct["delta"]:
            dct["delta"]["updates"] = self.registry.convert(self.registry.clean(dct["delta"]["updates"]))
        else:
            dct["data"] = self.registry.convert(self.registry.clean(dct["data"]))
        return dct


class TimerConverter(TimerConditionalEventDefinitionConverter):
    def to_dict(self, event_definition):
        dct = super().to_dict(event_definition)
        dct["calendar"] = event_definition.calendar
        return dct


def _typed_values_registry() -> DefaultRegistry:
    """Task data keeps Camunda's Long, Short, Object and Bytes variables as such (engine.typed_values)."""
    registry = DefaultRegistry()
    registry.register(Long, lambda v: {"value": int(v)}, lambda d: Long(d["value"]))
    registry.register(Short, lambda v: {"value": int(v)}, lambda d: Short(d["value"]))
    registry.register(
        ObjectValue,
        lambda v: {"value": dict(v), "object_type_name": v.object_type_name},
        lambda d: ObjectValue(d["value"], d["object_type_name"]),
    )
    registry.register(
        bytes,
        lambda v: {"value": base64.b64encode(v).decode("ascii")},
        lambda d: base64.b64decode(d["value"]),
    )
    return registry


def _build_registry():
    config = dict(CAMUNDA_CONFIG)
    config[BpmnWorkflow] = SpeclessWorkflowConverter
    config[Task] = TypedDataTaskConverter
    config[EngineMessage] = MessageEventDefinitionConverter
    config[EngineDateTimer] = TimerConverter
    config[EngineDurationTimer] = TimerConverter
    config[EngineCycleTimer] = TimerConverter
    config[CamundaErrorEvent] = ErrorEscalationEventDefinitionConverter
    config[EngineConditional] = TimerConditionalEventDefinitionConverter
    config[ExecutionTrigger] = EventDefinitionConverter
    return BpmnWorkflowSerializer.configure(config, _typed_values_registry())


_REGISTRY = _build_registry()


def dump_workflow(workflow: BpmnWorkflow) -> bytes:
    """Serialize the instance part of a workflow to compact JSON bytes."""
    dct = _REGISTRY.convert(workflow)
    dct["format"] = FORMAT
    return orjson.dumps(dct, option=orjson.OPT_NON_STR_KEYS)


def load_workflow(state: bytes, spec: Any, subprocess_specs: dict[str, Any]) -> BpmnWorkflow:
    """Rebuild a workflow from `dump_workflow` bytes on the definition's cached specs."""
    try:
        dct = orjson.loads(state)
    except orjson.JSONDecodeError as err:
        raise StateFormatError(
            f"stored workflow state is not JSON ({err}); restore it from a backup"
        ) from err
    fmt = dct.pop("format", None)
    if fmt != FORMAT:
        raise StateFormatError(f"stored workflow state has format {fmt!r}, this engine reads {FORMAT!r}")
    return _REGISTRY.restore(dct, spec=spec, subprocess_specs=subprocess_specs)


def to_jsonable(value: Any) -> Any:
    """Task data as plain JSON values (datetimes become ISO strings) for the variables column and APIs."""
    return orjson.loads(orjson.dumps(value, default=jsonable, option=orjson.OPT_NON_STR_KEYS))
