"""Camunda-flavoured BPMN parsing on top of SpiffWorkflow's CamundaParser.

Adds what Camunda Modeler writes and SpiffWorkflow ignores: service-task topics
(external, delegateExpression, class, expression) with camunda:inputOutput, user-task
assignment and formData without a formKey, timers on the engine clock with an optional
business calendar, and message payloads that become variables. XML is read with entity
resolution and network access off before SpiffWorkflow sees it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import (
    BoundaryEventParser,
    EndEventParser,
    IntermediateCatchEventParser,
    IntermediateThrowEventParser,
    ReceiveTaskParser,
    SendTaskParser,
    StartEventParser,
)
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.data_spec import TaskDataReference
from SpiffWorkflow.bpmn.specs.defaults import (
    BoundaryEvent,
    EndEvent,
    IntermediateCatchEvent,
    IntermediateThrowEvent,
    ReceiveTask,
    SendTask,
    StartEvent,
)
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.parser.event_parsers import CamundaEventDefinitionParser
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS, CamundaTaskParser, UserTaskParser
from SpiffWorkflow.camunda.specs.multiinstance_task import SequentialMultiInstanceTask

from engine.specs import (
    EngineCycleTimer,
    EngineDateTimer,
    EngineDurationTimer,
    EngineMessage,
    EngineParallelMultiInstance,
    EngineSequentialMultiInstance,
    ExternalServiceTask,
    HumanAssignment,
    HumanTask,
    Parameter,
    PassThroughManualTask,
    PassThroughTask,
    ServiceCall,
)

CAMUNDA = f"{{{CAMUNDA_MODEL_NS}}}"
MAX_RESOURCE_BYTES = 10 * 1024 * 1024


class UnsafeXmlError(ValueError):
    """The document declares a DTD or entities, which a BPMN file never needs."""


def load_xml(content: bytes, filename: str) -> etree._ElementTree:
    """Parse untrusted XML: no DTD, no entities, no network, bounded size.

    Billion-laughs and XXE both need a DOCTYPE; refusing any DOCTYPE outright is simpler
    and safer than trusting each expansion limit.
    """
    if len(content) > MAX_RESOURCE_BYTES:
        raise UnsafeXmlError(
            f"{filename} is {len(content) // (1024 * 1024)} MB; the limit is "
            f"{MAX_RESOURCE_BYTES // (1024 * 1024)} MB per resource"
        )
    head = content[:65536]
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise UnsafeXmlError(
            f"{filename} declares a DOCTYPE; DTDs and entities are not allowed in BPMN files"
        )
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, dtd_validation=False, load_dtd=False, huge_tree=False
    )
    tree = etree.parse(_BytesReader(content), parser)
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise UnsafeXmlError(
            f"{filename} declares a DOCTYPE; DTDs and entities are not allowed in BPMN files"
        )
    return tree


class _BytesReader:
    def __init__(self, content: bytes) -> None:
        self._content = content
        self._done = False

    def read(self, size: int = -1) -> bytes:
        if self._done:
            return b""
        self._done = True
        return self._content


_TOPIC_FROM_EXPRESSION = re.compile(r"^\s*[$#]\{\s*([A-Za-z_][\w]*)\s*\}\s*$")


def _extension(node, name: str):
    return node.find(f"{{http://www.omg.org/spec/BPMN/20100524/MODEL}}extensionElements/{CAMUNDA}{name}")


def parse_properties(node) -> dict[str, str]:
    """camunda:properties of an element as a plain dict."""
    props = _extension(node, "properties")
    if props is None:
        return {}
    return {p.get("name"): p.get("value") for p in props.findall(f"{CAMUNDA}property") if p.get("name")}


def _parameter(node) -> Parameter:
    name = node.get("name", "")
    children = [c for c in node if isinstance(c.tag, str)]
    if not children:
        return Parameter(name, "text", node.text if node.text is not None else None)
    child = children[0]
    if child.tag == f"{CAMUNDA}list":
        return Parameter(name, "list", tuple((v.text or "") for v in child.findall(f"{CAMUNDA}value")))
    if child.tag == f"{CAMUNDA}map":
        return Parameter(
            name, "map", {e.get("key"): (e.text or "") for e in child.findall(f"{CAMUNDA}entry")}
        )
    if child.tag == f"{CAMUNDA}script":
        return Parameter(name, "script", child.text or "")
    return Parameter(name, "text", child.text)


def parse_input_output(node) -> tuple[tuple[Parameter, ...], tuple[Parameter, ...]]:
    io = _extension(node, "inputOutput")
    if io is None:
        return (), ()
    inputs = tuple(_parameter(p) for p in io.findall(f"{CAMUNDA}inputParameter"))
    outputs = tuple(_parameter(p) for p in io.findall(f"{CAMUNDA}outputParameter"))
    return inputs, outputs


def parse_service_call(node) -> ServiceCall:
    """Read how a service/send task is served; the topic is what handlers register under."""
    attr = node.attrib.get
    inputs, outputs = parse_input_output(node)
    retry = _extension(node, "failedJobRetryTimeCycle")
    common = {
        "inputs": inputs,
        "outputs": outputs,
        "retry_cycle": retry.text.strip() if retry is not None and retry.text else None,
        "priority": _int_or_zero(attr(f"{CAMUNDA}taskPriority")),
        "properties": parse_properties(node),
        "result_variable": attr(f"{CAMUNDA}resultVariable"),
    }
    if attr(f"{CAMUNDA}type") == "external" or attr(f"{CAMUNDA}topic"):
        return ServiceCall(topic=attr(f"{CAMUNDA}topic") or None, implementation="external", **common)
    if attr(f"{CAMUNDA}delegateExpression"):
        text = attr(f"{CAMUNDA}delegateExpression")
        match = _TOPIC_FROM_EXPRESSION.match(text)
        if match is None:
            raise ValidationException(
                f"camunda:delegateExpression {text!r} must name a handler like ${{classify}}", node=node
            )
        return ServiceCall(topic=match.group(1), implementation="delegateExpression", **common)
    if attr(f"{CAMUNDA}class"):
        return ServiceCall(
            topic=attr(f"{CAMUNDA}class").rsplit(".", 1)[-1].lower(), implementation="class", **common
        )
    if attr(f"{CAMUNDA}expression"):
        return ServiceCall(
            topic=None, implementation="expression", expression=attr(f"{CAMUNDA}expression"), **common
        )
    connector = _extension(node, "connector")
    if connector is not None:
        connector_id = connector.find(f"{CAMUNDA}connectorId")
        topic = connector_id.text.strip() if connector_id is not None and connector_id.text else None
        return ServiceCall(topic=topic, implementation="connector", **common)
    return ServiceCall(topic=None, implementation="none", **common)


def _int_or_zero(text: str | None) -> int:
    try:
        return int(text) if text else 0
    except ValueError:
        return 0


class CamundaMultiInstanceParser(CamundaTaskParser):
    """Multi-instance with Camunda semantics: `${list}` collections and process-scope variables."""

    def _add_multiinstance_task(self, loop_characteristics):
        super()._add_multiinstance_task(loop_characteristics)
        self.task.__class__ = (
            EngineSequentialMultiInstance
            if isinstance(self.task, SequentialMultiInstanceTask)
            else EngineParallelMultiInstance
        )
        output = self.task.data_output
        if output is not None and _TOPIC_FROM_EXPRESSION.match(output.bpmn_id):
            self.task.data_output = TaskDataReference(_TOPIC_FROM_EXPRESSION.match(output.bpmn_id).group(1))


class ServiceTaskParser(CamundaMultiInstanceParser):
    """Service and send tasks served by a handler topic."""

    def create_task(self):
        call = parse_service_call(self.node)
        return self.spec_class(self.spec, self.bpmn_id, call=call, **self.bpmn_attributes)


class HumanTaskParser(UserTaskParser, CamundaMultiInstanceParser):
    """User tasks with assignment, dates, priority and a form (formData or a .form reference)."""

    def create_task(self):
        attr = self.node.attrib.get
        assignment = HumanAssignment(
            assignee=attr(f"{CAMUNDA}assignee"),
            candidate_groups=attr(f"{CAMUNDA}candidateGroups"),
            candidate_users=attr(f"{CAMUNDA}candidateUsers"),
            due_date=attr(f"{CAMUNDA}dueDate"),
            follow_up_date=attr(f"{CAMUNDA}followUpDate"),
            priority=attr(f"{CAMUNDA}priority"),
            form_key=attr(f"{CAMUNDA}formKey"),
            form_ref=attr(f"{CAMUNDA}formRef"),
        )
        return self.spec_class(
            self.spec, self.bpmn_id, form=self.get_form(), assignment=assignment, **self.bpmn_attributes
        )


class BusinessRuleTaskRefused(CamundaTaskParser):
    """DMN decisions are not executed by this engine; say so at deploy time."""

    @staticmethod
    def get_decision_ref(node):
        return node.get(f"{CAMUNDA}decisionRef")

    def create_task(self):
        self.raise_validation_exception(
            "Business rule tasks (DMN decisions) are not supported by this engine; "
            "model the rule as a service task with a handler or as gateway conditions"
        )


class EngineEventDefinitionParser(CamundaEventDefinitionParser):
    """Timers on the engine clock (with an optional business calendar) and merging messages."""

    def parse_timer_event(self, event):
        name = self.node.get("name", self.node.get("id"))
        calendar = parse_properties(self.node).get("calendar")
        description = self.get_event_description(event)
        for tag, cls in (
            ("timeDate", EngineDateTimer),
            ("timeDuration", EngineDurationTimer),
            ("timeCycle", EngineCycleTimer),
        ):
            found = event.find(f"{{http://www.omg.org/spec/BPMN/20100524/MODEL}}{tag}")
            if found is not None:
                if not (found.text or "").strip():
                    raise ValidationException(
                        f"The timer has an empty {tag}", node=self.node, file_name=self.filename
                    )
                return cls(name, found.text.strip(), calendar=calendar, description=description)
        raise ValidationException(
            "The timer has no definition: set a date, a duration or a cycle in Camunda Modeler",
            node=self.node,
            file_name=self.filename,
        )

    def parse_message_event(self, message_event):
        base = super().parse_message_event(message_event)
        return EngineMessage(base.name, base.correlation_properties, base.expression, base.result_var)


class EngineStartEventParser(EngineEventDefinitionParser, StartEventParser):
    def create_task(self):
        return StartEventParser.create_task(self)


class EngineEndEventParser(EngineEventDefinitionParser, EndEventParser):
    def create_task(self):
        return EndEventParser.create_task(self)


class EngineCatchEventParser(EngineEventDefinitionParser, IntermediateCatchEventParser):
    def create_task(self):
        return IntermediateCatchEventParser.create_task(self)


class EngineThrowEventParser(EngineEventDefinitionParser, IntermediateThrowEventParser):
    def create_task(self):
        return IntermediateThrowEventParser.create_task(self)


class EngineBoundaryEventParser(EngineEventDefinitionParser, BoundaryEventParser):
    def create_task(self):
        return BoundaryEventParser.create_task(self)


class EngineReceiveTaskParser(EngineEventDefinitionParser, ReceiveTaskParser):
    def create_task(self):
        return ReceiveTaskParser.create_task(self)


class EngineSendTaskParser(EngineEventDefinitionParser, SendTaskParser):
    """A send task with a message ref throws it; one with a topic is served like a service task."""

    def create_task(self):
        if (
            self.node.get(f"{CAMUNDA}type") == "external"
            or self.node.get(f"{CAMUNDA}class")
            or self.node.get(f"{CAMUNDA}delegateExpression")
        ):
            call = parse_service_call(self.node)
            return ExternalServiceTask(self.spec, self.bpmn_id, call=call, **self.bpmn_attributes)
        return SendTaskParser.create_task(self)


class EngineParser(CamundaParser):
    """The parser the engine deploys with; extension points are SpiffWorkflow's tag -> parser map."""

    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("task"): (CamundaTaskParser, PassThroughTask),
        full_tag("manualTask"): (CamundaTaskParser, PassThroughManualTask),
        full_tag("serviceTask"): (ServiceTaskParser, ExternalServiceTask),
        full_tag("sendTask"): (EngineSendTaskParser, SendTask),
        full_tag("receiveTask"): (EngineReceiveTaskParser, ReceiveTask),
        full_tag("userTask"): (HumanTaskParser, HumanTask),
        full_tag("businessRuleTask"): (BusinessRuleTaskRefused, ExternalServiceTask),
        full_tag("startEvent"): (EngineStartEventParser, StartEvent),
        full_tag("endEvent"): (EngineEndEventParser, EndEvent),
        full_tag("intermediateCatchEvent"): (EngineCatchEventParser, IntermediateCatchEvent),
        full_tag("intermediateThrowEvent"): (EngineThrowEventParser, IntermediateThrowEvent),
        full_tag("boundaryEvent"): (EngineBoundaryEventParser, BoundaryEvent),
    }


@dataclass
class Problem:
    """One thing wrong (or worth a warning) in a deployed resource, located for the analyst."""

    resource: str
    message: str
    element_id: str | None = None
    line: int | None = None
    column: int | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = self.resource
        if self.line:
            where += f":{self.line}"
        if self.element_id:
            where += f" [{self.element_id}]"
        return f"{where}: {self.message}"


@dataclass
class ParsedProcess:
    """One executable process from a resource, with its SpiffWorkflow spec."""

    key: str
    name: str | None
    resource: str
    spec: object
    subprocess_specs: dict = field(default_factory=dict)
    missing_called: tuple[str, ...] = ()


def problem_from_validation(err: ValidationException, resource: str) -> Problem:
    line = err.line_number if isinstance(err.line_number, int) else None
    return Problem(resource, str(err.args[0]) if err.args else str(err), err.id or None, line)
