"""Diagrams Camunda 7 itself refuses to deploy (its BpmnParse errors), refused here the same way.

SpiffWorkflow is more lenient than Camunda's parser: it deploys a process with two signals of
one name, an escalation boundary event on a service task or two catch-all escalation boundaries
on one activity, and then runs something Camunda never would (or loops). An analyst moving a
diagram between the two engines must get the same verdict at deploy, so each rule below is one
of BpmnParse's checks, with its wording, located on the element Camunda names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engine.bpmn_normalize import local_ref
from engine.camunda_support import B, Unsupported, _local

_CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"

# An escalation boundary event is caught only where an escalation can come from a child.
_ESCALATION_HOSTS = {"subProcess", "transaction", "callActivity", "userTask"}
_THROWS = ("intermediateThrowEvent", "endEvent")


def camunda_parse_errors(root: Any) -> list[Unsupported]:
    """Every BpmnParse error of `root` (the analyst's definitions element) covered here."""
    return [
        *_signals(root),
        *_escalations(root),
        *_same_name_subscriptions(root),
        *_subprocess_start_events(root),
        *_message_catches(root),
        *_io_mappings(root),
    ]


def _by_id(root: Any, tag: str) -> dict[str, Any]:
    return {node.get("id"): node for node in root.iter(f"{B}{tag}") if node.get("id")}


def _signals(root: Any) -> Iterator[Unsupported]:
    seen: dict[str, Any] = {}
    for signal in root.iter(f"{B}signal"):
        name = signal.get("name")
        if name is not None and name in seen:
            yield Unsupported(
                signal,
                signal,
                "signal/name",
                f"duplicate signal name {name!r} (signal {seen[name].get('id')!r} has it too); "
                "give each signal its own name",
            )
        elif signal.get("id") and name is None:
            yield Unsupported(
                signal, signal, "signal/name", f"signal with id {signal.get('id')!r} has no name"
            )
        if name is not None:
            seen.setdefault(name, signal)
    signals = _by_id(root, "signal")
    for definition in root.iter(f"{B}signalEventDefinition"):
        event = definition.getparent()
        ref = local_ref(definition, "signalRef")
        if not ref:
            yield Unsupported(
                event,
                definition,
                "signalEventDefinition/signalRef",
                "signalEventDefinition does not have required property 'signalRef'; choose the signal "
                "in Camunda Modeler",
            )
        elif ref not in signals:
            yield Unsupported(
                event, definition, "signalEventDefinition/signalRef", f"Could not find signal with id {ref!r}"
            )


def _escalation_code(definition: Any, escalations: dict[str, Any]) -> str | None:
    escalation = escalations.get(local_ref(definition, "escalationRef") or "")
    return escalation.get("escalationCode") if escalation is not None else None


def _escalations(root: Any) -> Iterator[Unsupported]:
    escalations = _by_id(root, "escalation")
    for definition in root.iter(f"{B}escalationEventDefinition"):
        event = definition.getparent()
        ref = local_ref(definition, "escalationRef")
        if ref and ref not in escalations:
            yield Unsupported(
                event,
                definition,
                "escalationEventDefinition/escalationRef",
                f"could not find escalation with id {ref!r}",
            )
        elif _local(event) in _THROWS:
            if not ref:
                yield Unsupported(
                    event,
                    definition,
                    "escalationEventDefinition/escalationRef",
                    "escalationEventDefinition does not have required attribute 'escalationRef'; "
                    "choose the escalation in Camunda Modeler",
                )
            elif _escalation_code(definition, escalations) is None:
                what = "escalation end event" if _local(event) == "endEvent" else "throwing escalation event"
                yield Unsupported(
                    event,
                    definition,
                    "escalation/escalationCode",
                    f"{what} must have an 'escalationCode' (escalation {ref!r} has none)",
                )
    yield from _escalation_boundaries(root, escalations)
    yield from _escalation_event_subprocesses(root, escalations)


def _escalation_boundaries(root: Any, escalations: dict[str, Any]) -> Iterator[Unsupported]:
    activities = {n.get("id"): n for n in root.iter() if isinstance(n.tag, str) and n.get("id")}
    caught: dict[str, list[str | None]] = {}
    for boundary in root.iter(f"{B}boundaryEvent"):
        definition = boundary.find(f"{B}escalationEventDefinition")
        if definition is None:
            continue
        attached = activities.get(boundary.get("attachedToRef") or "")
        if attached is not None and _local(attached) not in _ESCALATION_HOSTS:
            yield Unsupported(
                boundary,
                boundary,
                "attachedToRef",
                "An escalation boundary event should only be attached to a subprocess, a call activity "
                f"or an user task ({attached.get('id')!r} is a {_local(attached)})",
            )
            continue
        codes = caught.setdefault(boundary.get("attachedToRef") or "", [])
        code = _escalation_code(definition, escalations)
        problem = _clash(codes, code, "escalation boundary event")
        if problem:
            yield Unsupported(boundary, definition, "escalationEventDefinition", problem)
        codes.append(code)


def _escalation_event_subprocesses(root: Any, escalations: dict[str, Any]) -> Iterator[Unsupported]:
    for scope in root.iter(f"{B}process", f"{B}subProcess", f"{B}transaction"):
        codes: list[str | None] = []
        for start in _event_subprocess_starts(scope):
            definition = start.find(f"{B}escalationEventDefinition")
            if definition is None:
                continue
            code = _escalation_code(definition, escalations)
            problem = _clash(codes, code, "escalation event subprocess")
            if problem:
                yield Unsupported(start, definition, "escalationEventDefinition", problem)
            codes.append(code)


def _clash(codes: list[str | None], code: str | None, what: str) -> str | None:
    """BpmnParse.addEscalationEventDefinition: one catcher per code per scope, one catch-all alone."""
    if code is None and None in codes:
        return (
            f"The same scope can not contains more than one {what} without escalation code. "
            f"An {what} without escalation code catch all escalation events."
        )
    if codes and (code is None or None in codes):
        return (
            f"The same scope can not contains an {what} without escalation code and another one with "
            f"escalation code. The {what} without escalation code catch all escalation events."
        )
    if code is not None and code in codes:
        plural = f"{what}es" if what.endswith("s") else f"{what}s"
        return f"multiple {plural} with the same escalationCode {code!r} are not supported on same scope"
    return None


def _event_subprocess_starts(scope: Any) -> Iterator[Any]:
    for child in scope.findall(f"{B}subProcess"):
        if child.get("triggeredByEvent") == "true":
            yield from child.findall(f"{B}startEvent")


def _subscription(event: Any, messages: dict[str, Any], signals: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, name) of a message or signal catch, by the name Camunda subscribes with."""
    message = event.find(f"{B}messageEventDefinition")
    if message is not None and local_ref(message, "messageRef") in messages:
        return "message", messages[local_ref(message, "messageRef")].get("name") or ""
    signal = event.find(f"{B}signalEventDefinition")
    if signal is not None and local_ref(signal, "signalRef") in signals:
        return "signal", signals[local_ref(signal, "signalRef")].get("name") or ""
    return None


def _same_name_subscriptions(root: Any) -> Iterator[Unsupported]:
    """BpmnParse.addEventSubscriptionDeclaration: one message or signal name per scope.

    The scopes are a process's start events, the event subprocess starts of one scope, and the
    boundary events of one activity; catch events on the flow subscribe one at a time.
    """
    messages, signals = _by_id(root, "message"), _by_id(root, "signal")
    groups: list[tuple[str, list[Any]]] = []
    for process in root.iter(f"{B}process"):
        groups.append((process.get("id") or "", process.findall(f"{B}startEvent")))
    for scope in root.iter(f"{B}process", f"{B}subProcess", f"{B}transaction"):
        groups.append((scope.get("id") or "", list(_event_subprocess_starts(scope))))
    boundaries: dict[str, list[Any]] = {}
    for boundary in root.iter(f"{B}boundaryEvent"):
        boundaries.setdefault(boundary.get("attachedToRef") or "", []).append(boundary)
    groups.extend(boundaries.items())
    for scope_id, events in groups:
        seen: set[tuple[str, str]] = set()
        for event in events:
            key = _subscription(event, messages, signals)
            if key is None:
                continue
            if key in seen:
                kind, name = key
                yield Unsupported(
                    event,
                    event,
                    f"{kind}EventDefinition",
                    f"Cannot have more than one {kind} event subscription with name {name!r} for scope "
                    f"{scope_id!r}",
                )
            seen.add(key)


_NEVER_IN_SUBPROCESS = ("conditional", "timer", "escalation", "compensate")
_ONLY_IN_EVENT_SUBPROCESS = ("error", "message", "signal")


def _subprocess_start_events(root: Any) -> Iterator[Unsupported]:
    """BpmnParse.parseSubProcessStartEvent: an embedded subprocess starts with a none start event;
    a start event with a trigger belongs to an event subprocess (and a timer one would run
    here as the event subprocess it is not)."""
    for scope in root.iter(f"{B}subProcess", f"{B}transaction"):
        if scope.get("triggeredByEvent") == "true":
            continue
        for start in scope.findall(f"{B}startEvent"):
            for kind in _NEVER_IN_SUBPROCESS + _ONLY_IN_EVENT_SUBPROCESS:
                definition = start.find(f"{B}{kind}EventDefinition")
                if definition is None:
                    continue
                rule = (
                    "is not allowed on start event within a subprocess"
                    if kind in _NEVER_IN_SUBPROCESS
                    else "only allowed on start event if subprocess is an event subprocess"
                )
                yield Unsupported(
                    start,
                    definition,
                    f"{kind}EventDefinition",
                    f"{kind}EventDefinition {rule} (subprocess {scope.get('id')!r}); use a none start "
                    "event, or mark the subprocess as an event subprocess",
                )


_CATCHES = ("startEvent", "intermediateCatchEvent", "boundaryEvent")


def _message_catches(root: Any) -> Iterator[Unsupported]:
    """BpmnParse.parseMessageEventDefinition / addEventSubscriptionDeclaration: a message catch
    subscribes by the message's name, so the message must exist and have one."""
    messages = _by_id(root, "message")
    catches = [
        (event, definition, local_ref(definition, "messageRef"))
        for tag in _CATCHES
        for event in root.iter(f"{B}{tag}")
        for definition in event.findall(f"{B}messageEventDefinition")
    ]
    catches += [
        (task, task, local_ref(task, "messageRef"))
        for task in root.iter(f"{B}receiveTask")
        if task.get("messageRef")
    ]
    for event, node, ref in catches:
        if ref and ref not in messages:
            yield Unsupported(
                event, node, "messageRef", f"Invalid 'messageRef': no message with id {ref!r} found."
            )
        elif ref and not (messages[ref].get("name") or "").strip():
            yield Unsupported(
                event,
                node,
                "message/name",
                f"Cannot have a message event subscription with an empty or missing name (message {ref!r} "
                "has none); name the message in Camunda Modeler",
            )


def _io_mappings(root: Any) -> Iterator[Unsupported]:
    """BpmnParse.checkActivityInputOutputSupported / ensureNoIoMappingDefined: where an activity
    can be a variable scope. Start and boundary events, gateways and event subprocesses cannot;
    an end event and a multi-instance activity take no output parameters."""
    for io in root.iter(f"{_CAMUNDA}inputOutput"):
        extensions = io.getparent()
        element = extensions.getparent() if extensions is not None else None
        if element is None or _local(extensions.tag) != "extensionElements":
            continue  # a connector's own inputOutput
        tag = _local(element.tag)
        supported = (
            "task" in tag.lower() or "Event" in tag or tag in ("transaction", "subProcess", "callActivity")
        )
        if tag in ("startEvent", "boundaryEvent") or not supported:
            message = f"camunda:inputOutput mapping unsupported for element type {tag!r}."
            yield Unsupported(element, io, "camunda:inputOutput", message)
        elif tag == "subProcess" and element.get("triggeredByEvent") == "true":
            yield Unsupported(
                element,
                io,
                "camunda:inputOutput",
                f"camunda:inputOutput mapping unsupported for element type {tag!r} with attribute "
                "'triggeredByEvent = true'.",
            )
        elif io.find(f"{_CAMUNDA}outputParameter") is None:
            continue
        elif tag == "endEvent":
            message = f"camunda:outputParameter not allowed for element type {tag!r}."
            yield Unsupported(element, io, "camunda:outputParameter", message)
        elif element.find(f"{B}multiInstanceLoopCharacteristics") is not None:
            yield Unsupported(
                element,
                io,
                "camunda:outputParameter",
                "camunda:outputParameter not allowed for multi-instance constructs; collect the results "
                "in a variable each instance sets, or map outputs on an activity after the loop",
            )
