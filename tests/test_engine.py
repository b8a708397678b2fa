"""The engine core end to end on SQLite and PostgreSQL: deploy, start, step, restart, concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.deploy import deploy
from engine.errors import ConcurrentUpdateError, TaskAlreadyCompleted
from engine.forms import FormValidationError
from engine.runtime import Engine
from engine.store import HistoryEvent, Incident, Instance, Job, UserTask
from engine.tasklist import TaskQuery, query_tasks
from tests.conftest import Clock

DATA = Path(__file__).parent / "data" / "bpmn"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(any_app):
    runtime: Engine = any_app.extensions["runtime"]
    runtime.clock = Clock(T0)
    handlers = any_app.extensions["handlers"]
    handlers.register("step_one", lambda v: {"counter": 21})
    handlers.register("step_two", lambda v: {"result": v["value"] * 2, "label_seen": v["label"]})
    return runtime


def deploy_file(engine: Engine, name: str):
    return deploy(
        engine.session_factory, {name: (DATA / name).read_bytes()}, known_topics=engine.handlers.topics()
    )


def fresh(engine: Engine) -> Engine:
    """A new engine object on the same database: what a restart looks like."""
    clone = Engine(
        engine.session_factory,
        engine.handlers,
        clock=engine.clock,
        inline_jobs=engine.inline_jobs,
        worker_id=engine.worker_id,
    )
    return clone


def open_tasks(engine: Engine, **filters):
    with engine.session_factory() as session:
        return query_tasks(session, TaskQuery(everything=True, **filters)).tasks


def history_kinds(engine: Engine, instance_id: str) -> list[str]:
    with engine.session_factory() as session:
        return list(
            session.scalars(
                select(HistoryEvent.kind)
                .where(HistoryEvent.instance_id == instance_id)
                .order_by(HistoryEvent.id)
            )
        )


def test_service_tasks_run_inline_and_map_inputs_and_outputs(engine):
    deploy_file(engine, "five_step.bpmn")
    started = engine.start("five_step", business_key="REQ-1")
    variables = engine.variables(started.id)
    assert variables["counter"] == 21
    assert variables["doubled"] == 42
    # As a Camunda delegate's setVariable, the handler's result reaches the process; the output
    # mapping adds `doubled`; the input parameters stay the task's own.
    assert variables["result"] == 42
    assert "value" not in variables and "label" not in variables
    [task] = open_tasks(engine, instance_id=started.id)
    assert task.name == "Review" and task.candidate_groups == ["reviewers"] and task.priority == 70


def test_restart_between_every_step_changes_nothing(engine):
    deploy_file(engine, "five_step.bpmn")
    started = fresh(engine).start("five_step")
    [task] = open_tasks(fresh(engine), instance_id=started.id)
    fresh(engine).claim(task.id, "olga")
    fresh(engine).complete(task.id, "olga", {"ok": "true", "score": "7"})
    with engine.session_factory() as session:
        inst = session.get(Instance, started.id)
        assert inst.status == "completed"
        assert inst.variables["ok"] is True and inst.variables["score"] == 7
    assert history_kinds(engine, started.id) == [
        "instance_started",
        "service_task_called",
        "service_task_called",
        "task_created",
        "task_claimed",
        "task_completed",
        "instance_ended",
    ]


def test_form_value_of_wrong_type_is_refused_and_nothing_changes(engine):
    deploy_file(engine, "five_step.bpmn")
    started = engine.start("five_step")
    [task] = open_tasks(engine, instance_id=started.id)
    with engine.session_factory() as session:
        before = session.get(Instance, started.id).version
    with pytest.raises(FormValidationError) as err:
        engine.complete(task.id, "olga", {"ok": "maybe", "score": "eleven"})
    assert set(err.value.errors) == {"ok", "score"}
    with pytest.raises(FormValidationError, match="at most 10"):
        engine.complete(task.id, "olga", {"ok": True, "score": 11})
    with engine.session_factory() as session:
        assert session.get(Instance, started.id).version == before
        assert session.get(UserTask, task.id).status == "open"


def test_exclusive_gateway_follows_juel_condition_into_parallel_approvals(engine):
    deploy_file(engine, "approvals.bpmn")
    small = engine.start("approvals", variables={"amount": 5000, "category": "printer", "approvers": ["a"]})
    assert small.ended
    big = engine.start(
        "approvals", variables={"amount": 5000, "category": "network", "approvers": ["anna", "boris", "vera"]}
    )
    tasks = open_tasks(engine, instance_id=big.id)
    assert sorted(t.assignee for t in tasks) == ["anna", "boris", "vera"]
    for task in tasks:
        assert not engine.variables(big.id) == {}
        engine.complete(task.id, task.assignee, {"approved": True})
    with engine.session_factory() as session:
        assert session.get(Instance, big.id).status == "completed"


def test_boundary_timer_fires_when_time_is_moved_not_slept(engine):
    deploy_file(engine, "escalation.bpmn")
    started = engine.start("escalation")
    assert engine.fire_due_timers(T0 + timedelta(minutes=59)) == 0
    engine.clock.now = T0 + timedelta(minutes=61)
    assert engine.fire_due_timers() == 1
    [task] = open_tasks(engine, instance_id=started.id)
    assert task.element_id == "manager_look"
    with engine.session_factory() as session:
        assert session.get(UserTask, task.id).candidate_groups == ["managers"]
        cancelled = session.scalars(select(UserTask).where(UserTask.element_id == "work")).one()
        assert cancelled.status == "cancelled"
    assert "timer_fired" in history_kinds(engine, started.id)


def test_message_catch_then_failing_handler_becomes_incident_and_resumes_on_retry(engine):
    calls = {"n": 0}

    def flaky(variables):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise ConnectionError("bank API down")
        return {"booked": True}

    engine.handlers.register("flaky", flaky)
    deploy_file(engine, "payment.bpmn")
    started = engine.start("payment", business_key="INV-7")
    assert engine.correlate("invoice.paid", business_key="INV-7", variables={"amount": 120}) == [started.id]
    with engine.session_factory() as session:
        job = session.scalars(select(Job).where(Job.instance_id == started.id)).one()
        assert job.status == "pending" and job.retries == 1  # R2: one try left, a minute later
    engine.clock.now = T0 + timedelta(minutes=2)
    assert engine.run_due_jobs() == 1
    with engine.session_factory() as session:
        incident = session.scalars(select(Incident)).one()
        assert incident.status == "open" and "bank API down" in incident.message
    engine.retry_incident(incident.id)
    with engine.session_factory() as session:
        inst = session.get(Instance, started.id)
        assert inst.status == "completed"
        assert inst.variables["booked"] is True and inst.variables["amount"] == 120


def test_two_threads_completing_one_task_exactly_one_wins(engine):
    deploy_file(engine, "five_step.bpmn")
    started = engine.start("five_step")
    [task] = open_tasks(engine, instance_id=started.id)
    engines = [fresh(engine), fresh(engine)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def complete(runtime: Engine, user: str) -> None:
        barrier.wait()
        try:
            runtime.complete(task.id, user, {"ok": True, "score": 5})
            outcomes.append("won")
        except (TaskAlreadyCompleted, ConcurrentUpdateError):
            outcomes.append("refused")

    threads = [
        threading.Thread(target=complete, args=(e, u))
        for e, u in zip(engines, ["anna", "boris"], strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", "won"]
    with engine.session_factory() as session:
        completions = session.scalar(
            select(func.count()).select_from(HistoryEvent).where(HistoryEvent.kind == "task_completed")
        )
        assert completions == 1


def test_running_instances_stay_on_their_version(engine):
    first = deploy_file(engine, "five_step.bpmn").definitions[0]
    old = engine.start("five_step")
    changed = (DATA / "five_step.bpmn").read_bytes().replace(b'name="Review"', b'name="Review v2"')
    second = deploy(
        engine.session_factory, {"five_step.bpmn": changed}, known_topics=engine.handlers.topics()
    ).definitions[0]
    assert (first.version, second.version) == (1, 2)
    new = engine.start("five_step")
    names = {t.instance_id: t.name for t in open_tasks(engine)}
    assert names[old.id] == "Review" and names[new.id] == "Review v2"
