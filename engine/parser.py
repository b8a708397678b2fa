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
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import (
    CANCEL_EVENT_XPATH,
    CONDITIONAL_EVENT_XPATH,
    ERROR_EVENT_XPATH,
    ESCALATION_EVENT_XPATH,
    MESSAGE_EVENT_XPATH,
    SIGNAL_EVENT_XPATH,
    TERMINATION_EVENT_XPATH,
    TIMER_EVENT_XPATH,
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
    CallActivity,
    EndEvent,
    IntermediateCatchEvent,
    IntermediateThrowEvent,
    ReceiveTask,
    SendTask,
)
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.parser.event_parsers import CamundaEventDefinitionParser
from SpiffWorkflow.camunda.parser.task_spec import (
    CAMUNDA_MODEL_NS,
    CamundaTaskParser,
    SubWorkflowParser,
    UserTaskParser,
)
from SpiffWorkflow.camunda.specs.multiinstance_task import SequentialMultiInstanceTask

from engine import timer_schedule, timer_start
from engine.bpmn_normalize import local_ref
from engine.call_activity import CamundaCallActivity, create_call_activity
from engine.decision_task import DecisionTask, decision_ref
from engine.decision_task import refusals as decision_refusals
from engine.events import CamundaErrorEvent, EngineConditional, EngineStartEvent, ExecutionTrigger
from engine.expressions import is_expression
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
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
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
    if ACTIVITI_NS.encode() in content:
        _activiti_as_camunda(tree)
    return tree


ACTIVITI_NS = "http://activiti.org/bpmn"
_ACTIVITI = f"{{{ACTIVITI_NS}}}"


def _activiti_as_camunda(tree: etree._ElementTree) -> None:
    """Camunda 7 reads its extensions in the Activiti namespace too (BpmnParser's
    ACTIVITI_BPMN_EXTENSIONS_NS, kept for diagrams that came from Activiti): `activiti:assignee`,
    `activiti:formKey`, `<activiti:field>`... mean what their `camunda:` twins mean. The tree every
    check and the parser read has them in the Camunda namespace; the stored file is unchanged."""
    for element in tree.getroot().iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag.startswith(_ACTIVITI):
            element.tag = CAMUNDA + element.tag[len(_ACTIVITI) :]
        for key in [k for k in element.attrib if k.startswith(_ACTIVITI)]:
            value = element.attrib.pop(key)
            if element.get(CAMUNDA + key[len(_ACTIVITI) :]) is None:
                element.set(CAMUNDA + key[len(_ACTIVITI) :], value)


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


_IMPLEMENTATIONS = ("type", "topic", "delegateExpression", "class", "expression")


def implemented_message_event(node) -> Any:
    """The messageEventDefinition of a throw or end event that carries an implementation
    (Camunda Modeler's "Implementation: External" on a message event), else None."""
    definition = node.find(f"{BPMN}messageEventDefinition")
    if definition is not None and any(definition.get(f"{CAMUNDA}{a}") for a in _IMPLEMENTATIONS):
        return definition
    return None


def parse_service_call(node, implementation: Any = None) -> ServiceCall:
    """Read how a service/send task is served; the topic is what handlers register under.

    `implementation` is the element that carries camunda:type/topic/class/… when it is not the
    activity itself: a message throw or end event's messageEventDefinition (Camunda 7 runs such an
    event as it runs a service task); the mappings, retries and async flags stay on the event.
    """
    node_attr = node.attrib.get
    impl_attr = (implementation if implementation is not None else node).attrib.get

    def attr(name: str) -> str | None:
        local = name.removeprefix(CAMUNDA)
        return (
            impl_attr(name)
            if local in (*_IMPLEMENTATIONS, "resultVariable", "taskPriority")
            else node_attr(name)
        )

    inputs, outputs = parse_input_output(node)
    retry = _extension(node, "failedJobRetryTimeCycle")
    common = {
        "inputs": inputs,
        "outputs": outputs,
        "retry_cycle": retry.text.strip() if retry is not None and retry.text else None,
        "priority": _int_or_zero(attr(f"{CAMUNDA}taskPriority")),
        "properties": parse_properties(node),
        "result_variable": attr(f"{CAMUNDA}resultVariable"),
        # camunda:async is Camunda 7's older name for asyncBefore.
        "async_before": _is_true(attr(f"{CAMUNDA}asyncBefore")) or _is_true(attr(f"{CAMUNDA}async")),
        "async_after": _is_true(attr(f"{CAMUNDA}asyncAfter")),
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


def _is_true(text: str | None) -> bool:
    return (text or "").strip().lower() == "true"


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
        # SpiffWorkflow sets the input side when the task first starts, on the shared spec; a
        # process that loads the instance later (a restart, another worker) would find no input,
        # run one iteration and append to the collection. Camunda's collection is the input.
        task = self.task
        if task.cardinality is None and task.data_output is not None:
            task.data_input = TaskDataReference(task.data_output.bpmn_id)
        if task.output_item is not None:
            task.input_item = TaskDataReference(task.output_item.bpmn_id)


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


class EngineCallActivityParser(CamundaMultiInstanceParser):
    """Call activities that pass variables as camunda:in / camunda:out say (engine.call_activity)."""

    def create_task(self):
        inputs, _ = parse_input_output(self.node)
        return create_call_activity(self, inputs)


class EngineSubprocessParser(CamundaMultiInstanceParser, SubWorkflowParser):
    """Embedded subprocesses. A multi-instance one loops over `camunda:collection="${list}"` with
    Camunda's semantics, as a multi-instance task does: SpiffWorkflow's own parser took the
    expression for a variable name, and the subprocess failed to start ('NoneType' object is
    not iterable) - sequential approvals drawn as a subprocess never ran."""


class BusinessRuleTaskParser(CamundaTaskParser):
    """camunda:decisionRef evaluates a deployed decision table; a business rule task implemented
    like a service task (external, class, delegateExpression, expression) is served like one."""

    @staticmethod
    def get_decision_ref(node):
        return node.get(f"{CAMUNDA}decisionRef")

    def create_task(self):
        if self.node.get(f"{CAMUNDA}decisionRef") is not None:
            for attribute, message in decision_refusals(self.node):
                raise ValidationException(f"{attribute}: {message}", node=self.node, file_name=self.filename)
            if not self.node.get(f"{CAMUNDA}decisionRef").strip():
                self.raise_validation_exception("camunda:decisionRef is empty; name the decision's id")
            inputs, _ = parse_input_output(self.node)
            return DecisionTask(
                self.spec, self.bpmn_id, ref=decision_ref(self.node, inputs), **self.bpmn_attributes
            )
        call = parse_service_call(self.node)
        if call.implementation == "none":
            self.raise_validation_exception(
                "a business rule task needs camunda:decisionRef (the decision table to evaluate) or an "
                'implementation (camunda:type="external" with a topic); set it in Camunda Modeler'
            )
        return ExternalServiceTask(self.spec, self.bpmn_id, call=call, **self.bpmn_attributes)


class EngineEventDefinitionParser(CamundaEventDefinitionParser):
    """Timers on the engine clock (with an optional business calendar) and merging messages."""

    def parse_conditional_event(self, event):
        base = super().parse_conditional_event(event)
        return EngineConditional(base.expression, description=base.description)

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
                if is_process_timer_start(self.node):
                    return self._start_timer(name, tag, found, description)
                return cls(name, found.text.strip(), calendar=calendar, description=description)
        raise ValidationException(
            "The timer has no definition: set a date, a duration or a cycle in Camunda Modeler",
            node=self.node,
            file_name=self.filename,
        )

    def _start_timer(self, name, tag, found, description):
        """A process's timer start event is scheduled at deploy (engine.timer_start), so it is checked now."""
        try:
            schedule = timer_schedule.check(tag, found.text, timer_start.server_zone())
            if is_expression(found.text):
                raise timer_schedule.TimerSpecError(
                    "a timer start event is scheduled when the diagram is deployed, before any "
                    "process variable exists, so it cannot hold an expression; write the literal value"
                )
        except timer_schedule.TimerSpecError as err:
            raise ValidationException(
                f"timer start event, {tag}: {err}",
                file_name=self.filename,
                id=self.node.get("id"),
                tag="bpmn:startEvent",
                line_number=found.sourceline,
            ) from err
        return timer_start.EngineStartTimer(name, schedule, description=description)

    def parse_error_event(self, error_event):
        """Errors with Camunda's camunda:errorCodeVariable / camunda:errorMessageVariable."""
        base = super().parse_error_event(error_event)
        ref = local_ref(error_event, "errorRef")
        root = error_event.getroottree().getroot()
        errors = root.xpath("//bpmn:error[@id=$ref]", ref=ref, namespaces=NS)
        return CamundaErrorEvent(
            base.name,
            base.code,
            code_variable=error_event.get(f"{CAMUNDA}errorCodeVariable"),
            message_variable=error_event.get(f"{CAMUNDA}errorMessageVariable"),
            # <bpmn:error camunda:errorMessage="…">: what an error end event throws (may be ${…})
            error_message=errors[0].get(f"{CAMUNDA}errorMessage") if errors and ref else None,
            description=base.description,
        )

    def parse_message_event(self, message_event):
        base = super().parse_message_event(message_event)
        return EngineMessage(base.name, base.correlation_properties, base.expression, base.result_var)


def is_process_timer_start(node) -> bool:
    """A start event of the process itself (not of a subprocess) with a timer definition."""
    return (
        node.tag == "{http://www.omg.org/spec/BPMN/20100524/MODEL}startEvent"
        and node.getparent().tag == "{http://www.omg.org/spec/BPMN/20100524/MODEL}process"
        and node.find("{http://www.omg.org/spec/BPMN/20100524/MODEL}timerEventDefinition") is not None
    )


class EngineStartEventParser(EngineEventDefinitionParser, StartEventParser):
    """Start events, including the error and escalation starts of event subprocesses.

    SpiffWorkflow reads no error definition on a start event, so an error event subprocess
    became a none-start one and ran as soon as its process started.
    """

    def create_task(self):
        event_definition = self.get_event_definition(
            [
                MESSAGE_EVENT_XPATH,
                SIGNAL_EVENT_XPATH,
                TIMER_EVENT_XPATH,
                CONDITIONAL_EVENT_XPATH,
                ERROR_EVENT_XPATH,
                ESCALATION_EVENT_XPATH,
            ]
        )
        task = self._create_task(event_definition)
        task.interrupting = self.node.get("isInterrupting", "true").lower() != "false"
        self.spec.start.connect(task)
        return task


class EngineEndEventParser(EngineEventDefinitionParser, EndEventParser):
    """End events, including signal end events, which SpiffWorkflow parses as none end events."""

    def create_task(self):
        definition = implemented_message_event(self.node)
        if definition is not None:  # served like a service task, then the path ends (Camunda 7)
            call = parse_service_call(self.node, definition)
            task = ExternalServiceTask(self.spec, self.bpmn_id, call=call, **self.bpmn_attributes)
            task.connect(self.spec.end)
            return task
        event_definition = self.get_event_definition(
            [
                MESSAGE_EVENT_XPATH,
                SIGNAL_EVENT_XPATH,
                CANCEL_EVENT_XPATH,
                ERROR_EVENT_XPATH,
                ESCALATION_EVENT_XPATH,
                TERMINATION_EVENT_XPATH,
            ]
        )
        task = self._create_task(event_definition)
        task.connect(self.spec.end)
        return task


class EngineCatchEventParser(EngineEventDefinitionParser, IntermediateCatchEventParser):
    def create_task(self):
        return IntermediateCatchEventParser.create_task(self)


class EngineThrowEventParser(EngineEventDefinitionParser, IntermediateThrowEventParser):
    """A message throw event with an implementation (External, Java class…) is served like a
    service task, as Camunda 7 runs it: it waits for its job; other throw events throw."""

    def create_task(self):
        definition = implemented_message_event(self.node)
        if definition is not None:
            call = parse_service_call(self.node, definition)
            return ExternalServiceTask(self.spec, self.bpmn_id, call=call, **self.bpmn_attributes)
        return IntermediateThrowEventParser.create_task(self)


class EngineBoundaryEventParser(EngineEventDefinitionParser, BoundaryEventParser):
    def create_task(self):
        return BoundaryEventParser.create_task(self)


class EngineReceiveTaskParser(EngineEventDefinitionParser, ReceiveTaskParser):
    """A receive task waits for its message, or, without one, for a signal to its execution (Camunda)."""

    def create_task(self):
        if self.node.get("messageRef") is None and not self.xpath(MESSAGE_EVENT_XPATH):
            return self._create_task(ExecutionTrigger())
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
        full_tag("callActivity"): (EngineCallActivityParser, CamundaCallActivity),
        full_tag("subProcess"): (EngineSubprocessParser, CallActivity),
        full_tag("businessRuleTask"): (BusinessRuleTaskParser, DecisionTask),
        full_tag("startEvent"): (EngineStartEventParser, EngineStartEvent),
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
