"""Camunda 7 events and the constructs refused at deploy, found by sweeping Camunda's engine test resources.

Same approach as tests/test_camunda7_runtime.py: one small Camunda Modeler diagram per
behaviour in tests/data/bpmn/camunda7/, deployed through the real deploy path and driven as a
user would, asserting what Camunda 7 reaches with it (its Java test of the same name was read).
What cannot run the Camunda way must be refused naming the element, the attribute and the line.
"""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.deploy import DeployError, deploy
from engine.errors import MessageNotCorrelatedError, ProcessError
from engine.runtime import Engine
from engine.store import Instance
from tests.test_camunda7_runtime import (
    DATA,
    T0,
    complete_task,
    deploy_diagram,
    engine,
    open_task_names,
    status,
)
from web.demo import DEMO_PASSWORD, DEMO_USERS, create_user

__all__ = ["engine"]  # the fixture, shared with test_camunda7_runtime


def refusal(engine: Engine, name: str) -> list:
    with pytest.raises(DeployError) as refused:
        deploy_diagram(engine, name)
    return refused.value.problems


def line_of(name: str, text: str) -> int:
    return next(n for n, line in enumerate((DATA / name).read_text().splitlines(), 1) if text in line)


# ---------------------------------------------------------------------------- listeners


def test_listeners_are_refused_naming_element_attribute_and_line_never_ignored(engine):
    problems = refusal(engine, "listeners.bpmn")
    found = {(p.element_id, p.line) for p in problems}
    # The groovy script inside the listener is refused on its own line as well (scriptFormat).
    assert found >= {
        ("Approve", line_of("listeners.bpmn", "camunda:taskListener")),
        ("Flow_2", line_of("listeners.bpmn", "camunda:executionListener expression")),
        ("Archive", line_of("listeners.bpmn", 'camunda:executionListener event="end"')),
    }
    by_element = {e: " | ".join(p.message for p in problems if p.element_id == e) for e, _ in found}
    assert "camunda:taskListener/class" in by_element["Approve"]
    assert "com.acme.desk.NotifyApprover" in by_element["Approve"]
    assert "camunda:executionListener/expression" in by_element["Flow_2"]
    assert "camunda:executionListener/script" in by_element["Archive"]
    assert all("service task" in message for message in by_element.values()), "each names a way out"


# ---------------------------------------------------------------------------- compensation


def test_compensation_is_refused_naming_each_element_and_line(engine):
    problems = refusal(engine, "compensation.bpmn")
    assert all(p.element_id and p.line for p in problems), [str(p) for p in problems]
    assert {p.element_id for p in problems} == {"UndoBooking", "CancelHotel", "Compensate"}
    assert all("draw the undo explicitly" in p.message for p in problems)


# ---------------------------------------------------------------------------- error end events


def test_error_end_event_in_a_subprocess_is_caught_by_the_boundary_even_without_an_error_element(engine):
    """Camunda uses a bare errorRef as the error code (BpmnParse.parseErrorEventDefinition)."""
    deploy_diagram(engine, "error_end_subprocess.bpmn")
    rejected = engine.start("c7_error_end_subprocess").id
    complete_task(engine, rejected, "Check", {"approved": False})
    assert open_task_names(engine, rejected) == ["Rework"]
    assert engine.variables(rejected)["reason"] == "REJECTED"
    complete_task(engine, rejected, "Rework")
    assert status(engine, rejected) == "completed"

    approved = engine.start("c7_error_end_subprocess").id
    complete_task(engine, approved, "Check", {"approved": True})
    assert open_task_names(engine, approved) == ["Archive"]
    assert "reason" not in engine.variables(approved)


def test_call_activity_inside_a_subprocess_may_call_a_process_deployed_earlier(engine):
    """Camunda resolves calledElement when the call activity starts, wherever it is nested."""
    deploy_diagram(engine, "error_child.bpmn")
    report = deploy_diagram(engine, "call_in_subprocess.bpmn")
    assert [d.key for d in report.definitions] == ["c7_call_in_subprocess"]
    started = engine.start("c7_call_in_subprocess").id
    assert open_task_names(engine, started) == ["Fix"]
    complete_task(engine, started, "Fix")
    assert open_task_names(engine, started) == ["Escalate"]
    assert engine.variables(started)["failure"] == "FIX_FAILED"
    complete_task(engine, started, "Escalate")
    assert status(engine, started) == "completed"


def test_a_call_activity_whose_process_is_not_deployed_fails_the_start_in_camundas_words(engine):
    """Camunda: "no processes deployed with key …" when the call activity starts, and nothing of
    the act is kept; SpiffWorkflow said "The called process '…' was not found.. "."""
    deploy_diagram(engine, "call_in_subprocess.bpmn")  # its child, c7_error_child, is not deployed
    with pytest.raises(ProcessError) as failed:
        engine.start("c7_call_in_subprocess")
    assert "no processes deployed with key 'c7_error_child'" in str(failed.value)
    with engine.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == 0


# ---------------------------------------------------------------------------- signals


def deploy_signal_diagrams(engine: Engine) -> None:
    for name in ("signal_catch.bpmn", "signal_throw.bpmn", "signal_start.bpmn"):
        deploy_diagram(engine, name)


def instances_of(engine: Engine, key: str) -> list[Instance]:
    with engine.session_factory() as session:
        return list(session.scalars(select(Instance).where(Instance.definition_key == key)))


def test_a_thrown_signal_reaches_every_waiting_instance_and_starts_signal_start_processes(engine):
    """SignalEventTest: a signal throw or end event is broadcast (RuntimeService.signalEventReceived)."""
    deploy_signal_diagrams(engine)
    waiting_for_go = engine.start("c7_signal_catch").id
    complete_task(engine, waiting_for_go, "Work")
    working = engine.start("c7_signal_catch").id

    thrower = engine.start("c7_signal_throw").id

    assert status(engine, thrower) == "completed"
    assert status(engine, waiting_for_go) == "completed", "the intermediate catch heard 'go'"
    assert open_task_names(engine, working) == ["Cleanup"], "the boundary on Work heard 'order.cancelled'"
    [started] = instances_of(engine, "c7_signal_start")
    assert open_task_names(engine, started.id) == ["Refund"]


def test_a_signal_sent_from_outside_starts_event_subprocesses_and_carries_its_variables(engine):
    deploy_signal_diagrams(engine)
    order = engine.start("c7_signal_catch").id
    reached = engine.send_signal("audit", {"auditor": "kim"})
    assert reached == [order]
    assert open_task_names(engine, order) == ["Audit", "Work"], "non-interrupting: Work stays"
    assert engine.variables(order)["auditor"] == "kim"

    reached = engine.send_signal("order.cancelled", {"reason": "customer"})
    [refund] = instances_of(engine, "c7_signal_start")
    assert reached == [order, refund.id]
    assert open_task_names(engine, order) == ["Audit", "Cleanup"]
    assert engine.variables(refund.id)["reason"] == "customer"
    assert engine.send_signal("nobody.listens") == []


def test_rest_post_signal_broadcasts_like_camunda(any_app, engine):
    with any_app.app_context():
        full_name, roles, groups = DEMO_USERS["operator"]
        create_user("operator", DEMO_PASSWORD, full_name=full_name, roles=roles, groups=groups)
    auth = {"Authorization": "Basic " + base64.b64encode(f"operator:{DEMO_PASSWORD}".encode()).decode()}
    client = any_app.test_client()
    deploy_signal_diagrams(engine)
    order = engine.start("c7_signal_catch").id
    body = {"name": "order.cancelled", "variables": {"reason": {"value": "fraud", "type": "String"}}}
    reply = client.post("/engine-rest/signal", json=body, headers=auth)
    assert reply.status_code == 204
    assert open_task_names(engine, order) == ["Cleanup"]
    assert engine.variables(order)["reason"] == "fraud"
    missing = client.post("/engine-rest/signal", json={}, headers=auth)
    assert missing.status_code == 400 and "name" in missing.json["message"]


# ---------------------------------------------------------------------------- links


def test_link_events_jump_to_the_catch_of_the_same_name(engine):
    deploy_diagram(engine, "links.bpmn")
    started = engine.start("c7_links").id
    complete_task(engine, started, "Register")
    assert open_task_names(engine, started) == ["Resolve"]
    complete_task(engine, started, "Resolve")
    assert status(engine, started) == "completed"


def test_a_link_throw_without_its_catch_is_refused_naming_element_and_line(engine):
    catch = 'id="LinkEventDefinition_2" name="page2"'
    content = (DATA / "links.bpmn").read_text().replace(catch, catch.replace("page2", "page3"))
    assert 'name="page3"' in content
    with pytest.raises(DeployError) as refused:
        deploy(engine.session_factory, {"links.bpmn": content.encode()})
    [problem] = refused.value.problems
    line = next(n for n, text in enumerate(content.splitlines(), 1) if 'name="page2"' in text)
    assert (problem.element_id, problem.line) == ("GoToPage2", line)
    assert "page2" in problem.message


# ---------------------------------------------------------------------------- event-based gateway


def fire_timers_at(engine: Engine, moment) -> int:
    engine.clock.now = moment
    return engine.fire_due_timers(moment)


def test_event_based_gateway_takes_the_message_and_forgets_the_timer(engine):
    deploy_diagram(engine, "event_gateway.bpmn")
    started = engine.start("c7_event_gateway", business_key="EG-1").id
    assert open_task_names(engine, started) == []
    assert engine.correlate("customer.reply", business_key="EG-1", variables={"reply": "ok"}) == [started]
    assert open_task_names(engine, started) == ["HandleReply"]
    assert engine.variables(started)["reply"] == "ok"
    assert fire_timers_at(engine, T0 + timedelta(hours=49)) == 0, "the timer went with the gateway"
    assert open_task_names(engine, started) == ["HandleReply"]


def test_event_based_gateway_takes_the_timer_when_nothing_arrives(engine):
    deploy_diagram(engine, "event_gateway.bpmn")
    started = engine.start("c7_event_gateway", business_key="EG-2").id
    assert fire_timers_at(engine, T0 + timedelta(hours=47)) == 0
    assert fire_timers_at(engine, T0 + timedelta(hours=49)) == 1
    assert open_task_names(engine, started) == ["CloseUnanswered"]
    with pytest.raises(MessageNotCorrelatedError):
        engine.correlate("customer.reply", business_key="EG-2")


def test_event_based_gateway_takes_a_signal(engine):
    deploy_diagram(engine, "event_gateway.bpmn")
    started = engine.start("c7_event_gateway").id
    assert engine.send_signal("request.withdrawn") == [started]
    assert open_task_names(engine, started) == ["ConfirmWithdrawal"]


# ---------------------------------------------------------------------------- gateways


@pytest.mark.parametrize(("urgent", "branches"), [(False, ["Support"]), (True, ["Manager", "Support"])])
def test_a_gateway_flow_without_condition_is_always_taken_and_the_join_waits_for_what_was_taken(
    engine, urgent, branches
):
    """Camunda reads a missing condition as true (InclusiveGatewayTest.testJoinAfterCall)."""
    deploy_diagram(engine, "inclusive_unconditional.bpmn")
    started = engine.start("c7_inclusive_unconditional", variables={"urgent": urgent}).id
    assert open_task_names(engine, started) == branches
    for branch in branches:
        assert open_task_names(engine, started) != ["Close"]
        complete_task(engine, started, branch)
    assert open_task_names(engine, started) == ["Close"]
    complete_task(engine, started, "Close")
    assert status(engine, started) == "completed"


# ---------------------------------------------------------------------------- conditional events


def test_a_conditional_event_waits_while_its_variable_is_unset_and_fires_when_it_holds(engine):
    """IntermediateConditionalEventTest.testVariableValue: unknown variables make the condition false."""
    deploy_diagram(engine, "conditional.bpmn")
    started = engine.start("c7_conditional").id
    complete_task(engine, started, "Review")
    assert status(engine, started) == "running" and open_task_names(engine, started) == []
    engine.set_variables(started, {"paid": False})
    assert open_task_names(engine, started) == []
    engine.set_variables(started, {"paid": True})
    assert open_task_names(engine, started) == ["Ship"]


def test_a_conditional_boundary_event_interrupts_when_a_variable_change_makes_it_true(engine):
    deploy_diagram(engine, "conditional.bpmn")
    started = engine.start("c7_conditional").id
    assert open_task_names(engine, started) == ["Review"]
    engine.set_variables(started, {"cancelled": True})
    assert open_task_names(engine, started) == ["Refund"]
