"""Message throw and end events with an implementation (Camunda Modeler's "Implementation:
External" on a message event), as Camunda 7 runs them: like a service task, waiting for a worker.
Before, both passed straight through, and no worker ever saw them."""

from __future__ import annotations

from sqlalchemy import select

from engine.store import Job
from tests.test_camunda7_runtime import (
    complete_task,
    deploy_diagram,
    engine,
    open_task_names,
    restarted,
    status,
)

__all__ = ["engine"]  # the fixture, shared with test_camunda7_runtime


def waiting_jobs(engine, instance_id: str) -> list[tuple[str, str]]:
    with engine.session_factory() as session:
        jobs = session.scalars(
            select(Job).where(Job.instance_id == instance_id, Job.status.in_(["pending", "locked"]))
        )
        return [(job.element_id, job.topic) for job in jobs]


def only_job(engine, instance_id: str) -> int:
    with engine.session_factory() as session:
        [job] = session.scalars(
            select(Job).where(Job.instance_id == instance_id, Job.status.in_(["pending", "locked"]))
        )
        return job.id


def test_message_throw_and_end_events_with_a_topic_wait_for_their_workers(engine):
    deploy_diagram(engine, "message_events_external.bpmn")
    started = engine.start("c7_message_external", business_key="ORD-1", variables={"order": "A-17"})

    assert waiting_jobs(engine, started.id) == [("NotifyCustomer", "c7_notify")]
    assert open_task_names(engine, started.id) == []
    notify = only_job(engine, started.id)
    assert engine.job_variables(notify)["text"] == "Order A-17 received", "the event's input mapping"

    restarted(engine).complete_job(notify, {"notified": True})
    assert open_task_names(engine, started.id) == ["Pack"]

    complete_task(engine, started.id, "Pack")
    assert waiting_jobs(engine, started.id) == [("Archive", "c7_archive")]
    assert status(engine, started.id) == "running", "the end event waits for its worker"

    engine.complete_job(only_job(engine, started.id), {})
    assert status(engine, started.id) == "completed"
    assert engine.variables(started.id) == {"order": "A-17", "notified": True}


def test_a_message_throw_naming_no_declared_message_passes_through_as_in_camunda(engine):
    """Camunda 7 never looks a throw's messageRef up (the event is service-task-like, and without
    an implementation a no-op); SpiffWorkflow's parser refused the deploy with an internal
    AssertionError ("Expected 1 result. Received 0 results")."""
    deploy_diagram(engine, "message_throw_undeclared.bpmn")
    started = engine.start("c7_message_throw_undeclared")
    assert open_task_names(engine, started.id) == ["Task_work"]
    complete_task(engine, started.id, "Task_work")
    assert status(engine, started.id) == "completed"
