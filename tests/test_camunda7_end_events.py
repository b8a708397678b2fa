"""Terminate and escalation end events, as Camunda 7's TerminateEndEventTest and EscalationEventTest pin them.

A terminate end event ends its whole scope at once, open tasks included; an escalation thrown
by an end event inside a subprocess is caught by the interrupting boundary of that subprocess,
and a subprocess that ends without escalating leaves by its normal flow.
"""

from __future__ import annotations

from engine.store import InstanceStatus
from tests.test_camunda7_runtime import (
    complete_task,
    deploy_diagram,
    engine,
    open_task_names,
    open_tasks,
    status,
)

__all__ = ["engine"]  # the fixture, shared with test_camunda7_runtime


def test_a_terminate_end_event_ends_the_instance_with_its_other_open_tasks(engine):
    deploy_diagram(engine, "terminate_end.bpmn")
    started = engine.start("c7_terminate").id
    assert sorted(open_task_names(engine, started)) == ["Cancel", "Work"]

    complete_task(engine, started, "Cancel")

    assert open_task_names(engine, started) == []
    assert status(engine, started) == InstanceStatus.COMPLETED.value


def test_an_escalation_end_event_in_a_subprocess_is_caught_by_its_interrupting_boundary(engine):
    deploy_diagram(engine, "escalation_end.bpmn")
    late = engine.start("c7_escalation").id
    on_time = engine.start("c7_escalation").id

    complete_task(engine, late, "Check", {"late": True})
    complete_task(engine, on_time, "Check", {"late": False})

    assert open_task_names(engine, late) == ["CallCustomer"]
    assert open_task_names(engine, on_time) == ["Ship"]
    complete_task(engine, late, "CallCustomer")
    assert status(engine, late) == InstanceStatus.COMPLETED.value


def test_a_task_without_a_form_is_completed_with_the_variables_sent_as_on_camunda(any_app, engine):
    """Camunda diagrams assign tasks to `demo` and complete formless tasks with variables (REST, CLI)."""
    deploy_diagram(engine, "escalation_end.bpmn")
    started = engine.start("c7_escalation").id
    [check] = [t for t in open_tasks(engine, started) if t.element_id == "Check"]

    done = any_app.test_cli_runner().invoke(
        args=["complete", check.id, "--user", "demo", "--var", "late=true"]
    )

    assert done.exit_code == 0, done.output
    assert open_task_names(engine, started) == ["CallCustomer"]
    assert engine.variables(started)["late"] is True
