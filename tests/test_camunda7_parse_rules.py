"""Diagrams Camunda 7's own parser refuses are refused here too, naming the element Camunda names.

SpiffWorkflow deployed each of these and then ran something Camunda never would (an escalation
boundary on a service task hung the start); the expected element ids and wording are those of
Camunda's BpmnParse and its *ParseInvalidProcessTest cases. The last tests pin the neighbours
that stay valid, so the rules refuse no diagram Camunda runs.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.definitions import parse_resources
from engine.deploy import DeployError, deploy
from engine.store import Deployment, Instance
from tests.test_camunda7_runtime import engine, open_tasks

__all__ = ["engine"]  # the fixture, shared with test_camunda7_runtime

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" targetNamespace="http://desk.example/test">\n'
)


def diagram(top: str, body: str) -> bytes:
    """`top` holds signals, messages and escalations; `body` the process's flow."""
    return f'{HEAD}{top}\n<process id="p" isExecutable="true">\n{body}\n</process>\n</definitions>\n'.encode()


def refusals(xml: bytes) -> list[tuple[str | None, str]]:
    parsed = parse_resources({"case.bpmn": xml}, known_topics=())
    return [(p.element_id, p.message) for p in parsed.errors]


def accepted(xml: bytes) -> bool:
    return parse_resources({"case.bpmn": xml}, known_topics=()).errors == []


TASK_FLOW = """
<startEvent id="start" /><sequenceFlow id="f1" sourceRef="start" targetRef="{kind}" />
<{tag} id="{kind}" /><sequenceFlow id="f2" sourceRef="{kind}" targetRef="end" /><endEvent id="end" />
"""


def task_with_boundaries(tag: str, *boundaries: str) -> str:
    flow = TASK_FLOW.format(tag=tag, kind="work")
    return flow + "".join(
        f'<boundaryEvent id="b{i}" attachedToRef="work">{definition}</boundaryEvent>'
        for i, definition in enumerate(boundaries, 1)
    )


ESCALATIONS = '<escalation id="late" escalationCode="LATE" /><escalation id="any" />'


def test_an_escalation_boundary_on_a_service_task_is_refused_as_camunda_refuses_it():
    xml = diagram(
        ESCALATIONS,
        task_with_boundaries(
            'serviceTask camunda:expression="${true}"', '<escalationEventDefinition escalationRef="late" />'
        ),
    )
    [(element, message)] = refusals(xml)
    assert element == "b1"
    attached_to = "should only be attached to a subprocess, a call activity or an user task"
    assert f"An escalation boundary event {attached_to}" in message
    assert "'work' is a serviceTask" in message


@pytest.mark.parametrize(
    ("first", "second", "words"),
    [
        ("late", "late", "multiple escalation boundary events with the same escalationCode 'LATE'"),
        (None, None, "more than one escalation boundary event without escalation code"),
        (
            "late",
            None,
            "an escalation boundary event without escalation code and another one with escalation code",
        ),
    ],
    ids=["same code", "two catch-alls", "catch-all beside a code"],
)
def test_two_escalation_boundaries_one_activity_cannot_both_catch(first, second, words):
    definitions = [
        f'<escalationEventDefinition escalationRef="{ref}" />' if ref else "<escalationEventDefinition />"
        for ref in (first, second)
    ]
    [(element, message)] = refusals(diagram(ESCALATIONS, task_with_boundaries("userTask", *definitions)))
    assert element == "b2" and words in message


def test_escalation_event_subprocesses_of_one_scope_follow_the_same_rule():
    starts = "".join(
        f'<subProcess id="esp{i}" triggeredByEvent="true"><startEvent id="esc{i}">'
        f'<escalationEventDefinition escalationRef="late" /></startEvent></subProcess>'
        for i in (1, 2)
    )
    [(element, message)] = refusals(
        diagram(ESCALATIONS, TASK_FLOW.format(tag="userTask", kind="work") + starts)
    )
    assert element == "esc2"
    assert "multiple escalation event subprocesses with the same escalationCode 'LATE'" in message


@pytest.mark.parametrize(
    ("event", "definition", "words"),
    [
        (
            "intermediateThrowEvent",
            "<escalationEventDefinition />",
            "does not have required attribute 'escalationRef'",
        ),
        (
            "intermediateThrowEvent",
            '<escalationEventDefinition escalationRef="any" />',
            "throwing escalation event must have an 'escalationCode'",
        ),
        (
            "endEvent",
            '<escalationEventDefinition escalationRef="any" />',
            "escalation end event must have an 'escalationCode'",
        ),
        (
            "endEvent",
            '<escalationEventDefinition escalationRef="nowhere" />',
            "could not find escalation with id 'nowhere'",
        ),
    ],
)
def test_a_thrown_escalation_needs_a_known_escalation_with_a_code(event, definition, words):
    body = (
        '<startEvent id="start" /><sequenceFlow id="f1" sourceRef="start" targetRef="raise" />'
        f'<{event} id="raise">{definition}</{event}>'
    )
    if event == "intermediateThrowEvent":
        body += '<sequenceFlow id="f2" sourceRef="raise" targetRef="end" /><endEvent id="end" />'
    [(element, message)] = refusals(diagram(ESCALATIONS, body))
    assert element == "raise" and words in message


def test_signals_need_a_unique_name_and_events_a_signal_ref():
    duplicate = diagram(
        '<signal id="alert1" name="alert" /><signal id="alert2" name="alert" />',
        TASK_FLOW.format(tag="userTask", kind="work"),
    )
    assert refusals(duplicate) == [
        (
            "alert2",
            "signal/name: duplicate signal name 'alert' (signal 'alert1' has it too); "
            "give each signal its own name",
        )
    ]
    no_ref = diagram(
        '<signal id="alert1" name="alert" />',
        task_with_boundaries("userTask", "<signalEventDefinition />"),
    )
    [(element, message)] = refusals(no_ref)
    assert element == "b1" and "signalEventDefinition does not have required property 'signalRef'" in message


def test_one_message_name_per_boundary_scope_and_one_signal_name_per_start():
    messages = diagram(
        '<message id="m1" name="messageName" /><message id="m2" name="messageName" />',
        task_with_boundaries(
            "userTask",
            '<messageEventDefinition messageRef="m1" />',
            '<messageEventDefinition messageRef="m2" />',
        ),
    )
    assert refusals(messages) == [
        (
            "b2",
            "messageEventDefinition: Cannot have more than one message event subscription with name "
            "'messageName' for scope 'work'",
        )
    ]
    starts = diagram(
        '<signal id="s" name="signal" />',
        '<startEvent id="start1"><signalEventDefinition signalRef="s" /></startEvent>'
        '<startEvent id="start2"><signalEventDefinition signalRef="s" /></startEvent>'
        '<sequenceFlow id="f1" sourceRef="start1" targetRef="end" />'
        '<sequenceFlow id="f2" sourceRef="start2" targetRef="end" /><endEvent id="end" />',
    )
    [(element, message)] = refusals(starts)
    assert element == "start2" and "more than one signal event subscription with name 'signal'" in message


def test_the_valid_neighbours_still_deploy():
    """Escalation boundaries on a user task with different codes, one catch-all on a subprocess,
    two message catches of one name on the flow (they subscribe one at a time)."""
    assert accepted(
        diagram(
            ESCALATIONS + '<escalation id="early" escalationCode="EARLY" />',
            task_with_boundaries(
                "userTask",
                '<escalationEventDefinition escalationRef="late" />',
                '<escalationEventDefinition escalationRef="early" />',
            ),
        )
    )
    assert accepted(
        diagram(
            ESCALATIONS,
            '<startEvent id="start" /><sequenceFlow id="f1" sourceRef="start" targetRef="sub" />'
            '<subProcess id="sub"><startEvent id="s1" />'
            '<sequenceFlow id="f3" sourceRef="s1" targetRef="e1" />'
            '<endEvent id="e1"><escalationEventDefinition escalationRef="late" /></endEvent></subProcess>'
            '<sequenceFlow id="f2" sourceRef="sub" targetRef="end" /><endEvent id="end" />'
            '<boundaryEvent id="caught" attachedToRef="sub"><escalationEventDefinition /></boundaryEvent>',
        )
    )
    assert accepted(
        diagram(
            '<message id="m" name="reply" />',
            '<startEvent id="start" /><sequenceFlow id="f1" sourceRef="start" targetRef="w1" />'
            '<intermediateCatchEvent id="w1">'
            '<messageEventDefinition messageRef="m" /></intermediateCatchEvent>'
            '<sequenceFlow id="f2" sourceRef="w1" targetRef="w2" />'
            '<intermediateCatchEvent id="w2">'
            '<messageEventDefinition messageRef="m" /></intermediateCatchEvent>'
            '<sequenceFlow id="f3" sourceRef="w2" targetRef="end" /><endEvent id="end" />',
        )
    )


def test_a_refused_diagram_stores_nothing(engine):
    xml = diagram(
        ESCALATIONS,
        task_with_boundaries(
            'serviceTask camunda:expression="${true}"', '<escalationEventDefinition escalationRef="late" />'
        ),
    )
    with engine.session_factory() as session:
        before = session.scalar(select(func.count()).select_from(Deployment))
    with pytest.raises(DeployError) as refused:
        deploy(engine.session_factory, {"case.bpmn": xml}, known_topics=engine.handlers.topics())
    assert [p.element_id for p in refused.value.problems] == ["b1"]
    with engine.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Deployment)) == before


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("timer", "timerEventDefinition is not allowed on start event within a subprocess"),
        (
            "message",
            "messageEventDefinition only allowed on start event if subprocess is an event subprocess",
        ),
    ],
)
def test_an_embedded_subprocess_starts_with_a_none_start_event(kind, words):
    """A timer start in a plain subprocess would otherwise run as the event subprocess it is not."""
    definition = (
        "<timerEventDefinition><timeDuration>PT1H</timeDuration></timerEventDefinition>"
        if kind == "timer"
        else '<messageEventDefinition messageRef="m" />'
    )
    xml = diagram(
        '<message id="m" name="go" />',
        '<startEvent id="start" /><sequenceFlow id="f1" sourceRef="start" targetRef="sub" />'
        f'<subProcess id="sub"><startEvent id="inner">{definition}</startEvent>'
        '<sequenceFlow id="f3" sourceRef="inner" targetRef="e1" /><endEvent id="e1" /></subProcess>'
        '<sequenceFlow id="f2" sourceRef="sub" targetRef="end" /><endEvent id="end" />',
    )
    [(element, message)] = refusals(xml)
    assert element == "inner" and words in message and "'sub'" in message


def test_a_message_catch_needs_a_named_message():
    """An unnamed message failed the start with a database error; an unknown one is named."""
    catch = (
        '<startEvent id="start" /><sequenceFlow id="f1" sourceRef="start" targetRef="wait" />'
        '<intermediateCatchEvent id="wait"><messageEventDefinition messageRef="{ref}" />'
        "</intermediateCatchEvent>"
        '<sequenceFlow id="f2" sourceRef="wait" targetRef="end" /><endEvent id="end" />'
    )
    [(element, message)] = refusals(diagram('<message id="invoice" />', catch.format(ref="invoice")))
    assert element == "wait"
    assert "Cannot have a message event subscription with an empty or missing name" in message
    [(element, message)] = refusals(diagram('<message id="invoice" name="x" />', catch.format(ref="bill")))
    assert (element, message) == (
        "wait",
        "messageRef: Invalid 'messageRef': no message with id 'bill' found.",
    )


def test_a_qname_message_ref_starts_the_process_by_the_messages_name(engine):
    """`messageRef="tns:newInvoice"` (Camunda's and Activiti's older examples) names the local id;
    it was refused with SpiffWorkflow's 'Expected 1 result. Received 0 results.'"""
    xml = (
        HEAD.replace("<definitions ", '<definitions xmlns:tns="http://desk.example/test" ')
        + '<message id="newInvoice" name="invoice.new" />\n'
        '<process id="by_message" isExecutable="true">'
        '<startEvent id="theStart"><messageEventDefinition messageRef="tns:newInvoice" /></startEvent>'
        '<sequenceFlow id="f1" sourceRef="theStart" targetRef="book" /><userTask id="book" />'
        '<sequenceFlow id="f2" sourceRef="book" targetRef="end" /><endEvent id="end" />'
        "</process></definitions>"
    ).encode()
    deploy(engine.session_factory, {"case.bpmn": xml}, known_topics=engine.handlers.topics())
    [started] = engine.correlate("invoice.new")
    with engine.session_factory() as session:
        assert session.get(Instance, started).status == "running"
    assert [t.element_id for t in open_tasks(engine, started)] == ["book"]
