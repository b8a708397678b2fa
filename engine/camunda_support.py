"""Camunda 7 constructs this engine cannot run faithfully: refused at deploy, never ignored.

A diagram that deploys must end as Camunda 7 ends it. Some Camunda features have no
counterpart here, and SpiffWorkflow would either skip them silently (listeners) or fail
with an error that names no element (compensation boundary events). Each rule below finds
such a construct in the analyst's tree and says which element, which attribute and what to
draw instead; parse_resources turns them into located problems and leaves the file unparsed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree

from engine.bpmn_normalize import link_name
from engine.parser import CAMUNDA

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
B = f"{{{BPMN_NS}}}"

_LISTENER_ATTRIBUTES = ("class", "expression", "delegateExpression")
_COMPENSATION_WAY_OUT = (
    "compensation is not supported by this engine; draw the undo explicitly (an error boundary "
    "event or an error event subprocess leading to the undo tasks)"
)


@dataclass(frozen=True)
class Unsupported:
    """One construct refused: the element it sits on, the node to locate, the attribute at fault."""

    element: Any
    node: Any
    attribute: str
    message: str

    @property
    def line(self) -> int | None:
        return self.node.sourceline


def unsupported(tree: Any) -> list[Unsupported]:
    """Every construct in `tree` (the analyst's lxml tree) this engine refuses to deploy."""
    root = tree.getroot() if hasattr(tree, "getroot") else tree
    return [
        *_listeners(root),
        *_compensation(root),
        *_case_calls(root),
        *_links(root),
        *_escalation_on_multi_instance(root),
        *_signal_in_mappings(root),
        *_conditional_event_subprocess_starts(root),
        *_external_task_error_definitions(root),
    ]


def _owner(node: Any) -> Any:
    while node is not None and node.get("id") is None:
        node = node.getparent()
    return node


def _local(node: Any) -> str:
    return etree.QName(node).localname


def _listeners(root: Any) -> Iterator[Unsupported]:
    """camunda:executionListener / taskListener: Camunda runs them, this engine does not.

    Ignoring one would deploy-then-differ whenever it sets a variable, sends a mail or
    throws; so every listener is refused, with the attribute that says what it would run.
    """
    for listener in root.iter(f"{CAMUNDA}executionListener", f"{CAMUNDA}taskListener"):
        kind = _local(listener)
        event = listener.get("event") or ("start" if kind == "executionListener" else "create")
        attribute = next((a for a in _LISTENER_ATTRIBUTES if listener.get(a)), None)
        if attribute is not None:
            what = f"camunda:{kind} {attribute}={listener.get(attribute)!r} (event {event!r}) is Java code"
        elif listener.find(f"{CAMUNDA}script") is not None:
            what = f"camunda:{kind} with a camunda:script (event {event!r}) is not run by this engine"
            attribute = "script"
        else:
            what = f"camunda:{kind} (event {event!r}) names nothing to run"
            attribute = "event"
        yield Unsupported(
            _owner(listener.getparent()),
            listener,
            f"camunda:{kind}/{attribute}",
            f"{what}, and listeners are not run here; remove it and draw the work as a service task "
            '(camunda:type="external" with a topic) or a script task on the flow',
        )


def _external_task_error_definitions(root: Any) -> Iterator[Unsupported]:
    """camunda:errorEventDefinition on an external task (Modeler's "Errors" group): Camunda 7
    evaluates its expression when the worker completes or fails and throws the BPMN error. This
    engine does not, and ignoring it would complete a task Camunda would have left by its error."""
    for definition in root.iter(f"{CAMUNDA}errorEventDefinition"):
        yield Unsupported(
            _owner(definition.getparent()),
            definition,
            "camunda:errorEventDefinition",
            "error event definitions evaluated on an external task's completion are not supported; "
            "let the worker throw the error (POST /external-task/{id}/bpmnError) and keep the "
            "error boundary event",
        )


def _compensation(root: Any) -> Iterator[Unsupported]:
    for definition in root.iter(f"{B}compensateEventDefinition"):
        event = definition.getparent()
        yield Unsupported(event, definition, "compensateEventDefinition", _COMPENSATION_WAY_OUT)
    for activity in root.iter():
        if isinstance(activity.tag, str) and activity.get("isForCompensation") == "true":
            yield Unsupported(activity, activity, "isForCompensation", _COMPENSATION_WAY_OUT)
    for transaction in root.iter(f"{B}transaction"):
        yield Unsupported(
            transaction,
            transaction,
            "transaction",
            "transaction subprocesses (cancel and compensation) are not supported by this engine; "
            "draw an embedded subprocess with an error boundary event instead",
        )
    for definition in root.iter(f"{B}cancelEventDefinition"):
        event = definition.getparent()
        yield Unsupported(
            event,
            definition,
            "cancelEventDefinition",
            "cancel events belong to transaction subprocesses, which this engine does not support; "
            "use an error end event and an error boundary event instead",
        )


def _case_calls(root: Any) -> Iterator[Unsupported]:
    for call in root.iter(f"{B}callActivity"):
        if call.get(f"{CAMUNDA}caseRef"):
            yield Unsupported(
                call,
                call,
                "camunda:caseRef",
                f"calls CMMN case {call.get(f'{CAMUNDA}caseRef')!r}; CMMN cases are not supported, "
                "call a BPMN process with calledElement instead",
            )
        elif not call.get("calledElement"):
            yield Unsupported(
                call,
                call,
                "calledElement",
                "call activity has no calledElement; set 'Called element' to the id of the process to call",
            )


def _links(root: Any) -> Iterator[Unsupported]:
    """Link events pair by name inside one scope; Camunda refuses a throw with no catch and
    two catches of one name (BpmnParse), so does this engine."""
    for scope in root.iter(f"{B}process", f"{B}subProcess"):
        catches: dict[str, Any] = {}
        for catch in scope.findall(f"{B}intermediateCatchEvent"):
            name = link_name(catch)
            if name is None:
                continue
            if name in catches:
                yield Unsupported(
                    catch,
                    catch.find(f"{B}linkEventDefinition"),
                    "linkEventDefinition/name",
                    f"a second link catch event named {name!r} in this scope (the first is "
                    f"{catches[name].get('id')!r}); give each link catch its own name",
                )
            catches.setdefault(name, catch)
        for throw in scope.findall(f"{B}intermediateThrowEvent"):
            name = link_name(throw)
            if name is not None and name not in catches:
                yield Unsupported(
                    throw,
                    throw.find(f"{B}linkEventDefinition"),
                    "linkEventDefinition/name",
                    f"no link catch event named {name!r} in the same scope; add one, or rename "
                    "this link to match it",
                )


def _escalation_on_multi_instance(root: Any) -> Iterator[Unsupported]:
    """An escalation boundary on a multi-instance subprocess: Camunda catches each instance's
    escalation; here an interrupting one fails with "task not found" and a non-interrupting
    one catches only the first."""
    activities = {a.get("id"): a for a in root.iter(f"{B}subProcess") if a.get("id")}
    for boundary in root.iter(f"{B}boundaryEvent"):
        definition = boundary.find(f"{B}escalationEventDefinition")
        attached = activities.get(boundary.get("attachedToRef"))
        if definition is None or attached is None:
            continue
        if attached.find(f"{B}multiInstanceLoopCharacteristics") is None:
            continue
        yield Unsupported(
            boundary,
            definition,
            "escalationEventDefinition",
            f"an escalation boundary event on multi-instance subprocess {attached.get('id')!r} is not "
            "run as Camunda runs it (each instance's escalation caught); catch the escalation inside "
            "the subprocess (an escalation event subprocess there, or a boundary on its inner task)",
        )


def _signal_in_mappings(root: Any) -> Iterator[Unsupported]:
    """camunda:in on a signal throw or end event: Camunda sends those variables with the
    signal; this engine would broadcast it without them."""
    for event in root.iter(f"{B}intermediateThrowEvent", f"{B}endEvent"):
        if event.find(f"{B}signalEventDefinition") is None:
            continue
        extensions = event.find(f"{B}extensionElements")
        for mapping in extensions.iter(f"{CAMUNDA}in") if extensions is not None else ():
            yield Unsupported(
                event,
                mapping,
                "camunda:in",
                "camunda:in variable mappings on a signal throw or end event are not passed with the "
                "signal by this engine; remove them and have the receiving side read what it needs, "
                "or send the signal with its variables through POST /engine-rest/signal",
            )


def _conditional_event_subprocess_starts(root: Any) -> Iterator[Unsupported]:
    """A conditional start event of an event subprocess: Camunda re-evaluates it whenever a
    variable changes; this engine never would, so the subprocess would never start."""
    for subprocess in root.iter(f"{B}subProcess"):
        if subprocess.get("triggeredByEvent") != "true":
            continue
        for start in subprocess.findall(f"{B}startEvent"):
            definition = start.find(f"{B}conditionalEventDefinition")
            if definition is not None:
                yield Unsupported(
                    start,
                    definition,
                    "conditionalEventDefinition",
                    f"a conditional start event of event subprocess {subprocess.get('id')!r} is not "
                    "re-evaluated by this engine; attach a conditional boundary event (non-interrupting "
                    "if the work goes on) to the task during which the condition matters instead",
                )
