"""Camunda 7's transaction boundaries: from a person's or message's act to the next wait state
is one transaction; a job of its own only where the diagram asks for one (asyncBefore /
asyncAfter) or after a failure. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.orm import Session

from desk.models import Notification
from engine.deploy import deploy
from engine.handlers import JobContext
from engine.runtime import Engine
from engine.store import HistoryEvent, Incident, Instance, Job, UserTask
from handlers._common import job_key, transaction
from tests.conftest import Clock

DATA = Path(__file__).parent / "data" / "bpmn"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def committed_instance(engine: Engine, instance_id: str) -> Instance | None:
    """The instance as another connection sees it: only what is committed (no lock is taken)."""
    url = engine.session_factory.kw["bind"].url.render_as_string(hide_password=False)
    other = create_engine(url)
    try:
        with Session(other) as session:
            return session.get(Instance, instance_id)
    finally:
        other.dispose()


@dataclass
class Counts:
    transactions: int = 0
    statements: int = 0


@contextmanager
def counting(engine: Engine) -> Iterator[Counts]:
    """Transactions begun and statements sent on the engine's database while the block runs."""
    bind = engine.session_factory.kw["bind"]
    counts = Counts()

    def begin(conn) -> None:
        counts.transactions += 1

    def statement(conn, cursor, statement, params, context, executemany) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE is the transaction itself
            counts.statements += 1

    event.listen(bind, "begin", begin)
    event.listen(bind, "before_cursor_execute", statement)
    try:
        yield counts
    finally:
        event.remove(bind, "begin", begin)
        event.remove(bind, "before_cursor_execute", statement)


def chain_diagram(process_id: str, *service_tasks: str) -> bytes:
    """start -> each service task (XML attributes given) -> user task "check" -> end."""
    names = [f"task_{i}" for i in range(len(service_tasks))] + ["check"]
    flows, previous = [], "start"
    for name in [*names, "end"]:
        flows.append((f"flow_{len(flows)}", previous, name))
        previous = name
    incoming = {target: flow for flow, _, target in flows}
    outgoing = {source: flow for flow, source, _ in flows}

    def io(name: str) -> str:
        return (
            f"<bpmn:incoming>{incoming[name]}</bpmn:incoming><bpmn:outgoing>{outgoing[name]}</bpmn:outgoing>"
        )

    body = [
        f'<bpmn:startEvent id="start"><bpmn:outgoing>{outgoing["start"]}</bpmn:outgoing></bpmn:startEvent>'
    ]
    for name, attributes in zip(names, service_tasks, strict=False):
        task = f'<bpmn:serviceTask id="{name}" camunda:type="external" {attributes}>'
        body.append(f"{task}{io(name)}</bpmn:serviceTask>")
    body.append(f'<bpmn:userTask id="check" camunda:candidateGroups="staff">{io("check")}</bpmn:userTask>')
    body.append(f'<bpmn:endEvent id="end"><bpmn:incoming>{incoming["end"]}</bpmn:incoming></bpmn:endEvent>')
    body += [f'<bpmn:sequenceFlow id="{f}" sourceRef="{s}" targetRef="{t}" />' for f, s, t in flows]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://bpmn.io/schema/bpmn">'
        f'<bpmn:process id="{process_id}" isExecutable="true">{"".join(body)}</bpmn:process>'
        "</bpmn:definitions>"
    ).encode()


def deploy_bytes(engine: Engine, name: str, xml: bytes) -> None:
    deploy(engine.session_factory, {name: xml}, known_topics=engine.handlers.topics())


@pytest.fixture
def engine(any_app) -> Engine:
    runtime: Engine = any_app.extensions["runtime"]
    runtime.clock = Clock(T0)
    handlers = any_app.extensions["handlers"]
    handlers.register("step_one", lambda v: {"counter": 21})
    handlers.register("step_two", lambda v: {"result": v["value"] * 2, "label_seen": v["label"]})
    return runtime


def open_task(engine: Engine, instance_id: str) -> UserTask:
    with engine.session_factory() as session:
        return session.scalars(
            select(UserTask).where(UserTask.instance_id == instance_id, UserTask.status == "open")
        ).one()


def outbox_subjects(engine: Engine) -> list[str]:
    with engine.session_factory() as session:
        return list(session.scalars(select(Notification.subject).order_by(Notification.id)))


def write_note(context: JobContext, subject: str) -> None:
    with transaction(context) as session:
        session.add(
            Notification(
                recipient="operator",
                channel="inapp",
                template="test",
                payload={},
                subject=subject,
                idempotency_key=job_key(context),
                created_at=context.now,
            )
        )


# ---------------------------------------------------------------------------- one transaction per act


def test_a_five_step_instance_takes_three_transactions_from_start_to_end(engine: Engine) -> None:
    deploy_bytes(engine, "five_step.bpmn", (DATA / "five_step.bpmn").read_bytes())
    engine.start("five_step")  # the first instance parses and caches the definition
    with counting(engine) as counts:
        started = engine.start("five_step", business_key="B-1")
        task = open_task(engine, started.id)
        engine.complete(task.id, "olga", {"ok": True, "score": 5})
    assert counts.transactions <= 3
    assert counts.statements <= 15
    with engine.session_factory() as session:
        inst = session.get(Instance, started.id)
        assert (inst.status, inst.variables["doubled"]) == ("completed", 42)
        jobs = session.scalars(select(Job).where(Job.instance_id == started.id).order_by(Job.id)).all()
        assert [(j.element_id, j.status, j.attempts) for j in jobs] == [
            ("step_one", "done", 1),
            ("step_two", "done", 1),
        ]
        kinds = session.scalars(
            select(HistoryEvent.kind).where(HistoryEvent.instance_id == started.id).order_by(HistoryEvent.id)
        ).all()
    assert kinds[0] == "instance_started" and kinds[-1] == "instance_ended"
    assert kinds.count("service_task_called") == 2


def test_a_handler_inside_the_step_cannot_see_the_instance_until_the_step_commits(engine: Engine) -> None:
    seen: list[bool] = []

    def look(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
        seen.append(committed_instance(engine, context.instance_id) is not None)
        return {}

    engine.handlers.register("look", look)
    deploy_bytes(engine, "inline.bpmn", chain_diagram("inline", 'camunda:topic="look"'))
    started = engine.start("inline")
    assert seen == [False]
    assert open_task(engine, started.id).element_id == "check"


# ---------------------------------------------------------------------------- asyncBefore / asyncAfter


def test_async_before_makes_a_job_boundary_the_handler_runs_after_the_start_commits(engine: Engine) -> None:
    seen: list[bool] = []

    def look(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
        seen.append(committed_instance(engine, context.instance_id) is not None)
        return {}

    engine.handlers.register("look", look)
    deploy_bytes(
        engine,
        "async_before.bpmn",
        chain_diagram("async_before", 'camunda:topic="look" camunda:asyncBefore="true"'),
    )
    engine.inline_jobs = False  # nobody runs the job yet: the start commits at the job
    started = engine.start("async_before")
    with engine.session_factory() as session:
        [job] = session.scalars(select(Job).where(Job.instance_id == started.id)).all()
        assert (job.element_id, job.status) == ("task_0", "pending")
        assert list(session.get(Instance, started.id).waiting.values()) == ["job"]
    assert seen == []
    engine.inline_jobs = True
    assert engine.run_due_jobs() == 1
    assert seen == [True]
    assert open_task(engine, started.id).element_id == "check"


def test_async_after_commits_after_the_handler_and_continues_in_a_job(engine: Engine) -> None:
    seen: list[Any] = []

    def first(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
        return {"first": "done"}

    def look(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
        inst = committed_instance(engine, context.instance_id)
        seen.append(inst.variables.get("first") if inst is not None else None)
        return {}

    engine.handlers.register("first", first)
    engine.handlers.register("look", look)
    xml = chain_diagram(
        "async_after", 'camunda:topic="first" camunda:asyncAfter="true"', 'camunda:topic="look"'
    )
    deploy_bytes(engine, "async_after.bpmn", xml)
    started = engine.start("async_after")
    # The first handler ran in the start's transaction; what comes after it, in a job's.
    assert seen == ["done"]
    with engine.session_factory() as session:
        jobs = session.scalars(select(Job).where(Job.instance_id == started.id).order_by(Job.id)).all()
    assert [(j.element_id, j.status) for j in jobs] == [
        ("task_0", "done"),
        ("task_0", "done"),
        ("task_1", "done"),
    ]
    assert open_task(engine, started.id).element_id == "check"


# ---------------------------------------------------------------------------- failures


def test_a_failing_handler_rolls_back_its_writes_then_retries_then_raises_an_incident(engine: Engine) -> None:
    calls: list[int] = []
    keys: set[str] = set()
    broken = [True]

    def fine(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
        write_note(context, "fine")
        return {"fine": True}

    def flaky(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
        calls.append(context.attempt)
        keys.add(job_key(context))
        write_note(context, f"flaky {context.attempt}")
        if broken[0]:
            raise RuntimeError("the service is down")
        return {"flaky": True}

    engine.handlers.register("fine", fine)
    engine.handlers.register("flaky", flaky)
    deploy_bytes(
        engine, "flaky.bpmn", chain_diagram("flaky", 'camunda:topic="fine"', 'camunda:topic="flaky"')
    )
    started = engine.start("flaky")

    # The step stops at the failing task: its writes are gone, the work before it stands, and
    # the task waits for its job's next try, as when every handler ran in a job of its own.
    assert calls == [1]
    assert outbox_subjects(engine) == ["fine"]
    with engine.session_factory() as session:
        inst = session.get(Instance, started.id)
        assert inst.variables["fine"] is True and "flaky" not in inst.variables
        job = session.scalars(
            select(Job).where(Job.instance_id == started.id, Job.element_id == "task_1")
        ).one()
        assert (job.status, job.attempts, job.retries) == ("pending", 1, 2)
        assert job.error == "RuntimeError: the service is down"
        assert utc(job.due_at) == T0 + timedelta(seconds=10)
        assert session.scalar(select(func.count()).where(UserTask.instance_id == started.id)) == 0

    assert engine.run_due_jobs() == 0  # not due yet
    for _ in range(2):
        engine.clock.now += timedelta(hours=1)
        assert engine.run_due_jobs() == 1
    assert calls == [1, 2, 3]
    assert outbox_subjects(engine) == ["fine"]
    with engine.session_factory() as session:
        job = session.scalars(
            select(Job).where(Job.instance_id == started.id, Job.element_id == "task_1")
        ).one()
        assert (job.status, job.attempts, job.retries) == ("failed", 3, 0)
        [incident] = session.scalars(select(Incident).where(Incident.instance_id == started.id)).all()
        assert incident.message == "RuntimeError: the service is down"

    broken[0] = False
    engine.retry_incident(incident.id, user="admin")
    assert calls == [1, 2, 3, 4]
    assert outbox_subjects(engine) == ["fine", "flaky 4"]
    assert open_task(engine, started.id).element_id == "check"
    assert keys == {f"job:{job.id}"}, "every attempt, the first included, has the job's own key"


def test_a_failure_after_a_persons_act_keeps_the_act_and_waits_at_the_failing_task(engine: Engine) -> None:
    def broken(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
        write_note(context, "never")
        raise RuntimeError("down")

    engine.handlers.register("broken", broken)
    deploy_bytes(engine, "five_step.bpmn", (DATA / "five_step.bpmn").read_bytes())
    xml = (DATA / "five_step.bpmn").read_bytes().replace(b'id="five_step"', b'id="after_review"')
    xml = xml.replace(b'<bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>', b"")
    xml = xml.replace(
        b'<bpmn:sequenceFlow id="f4" sourceRef="review" targetRef="end" />',
        b'<bpmn:serviceTask id="notify" camunda:type="external" camunda:topic="broken">'
        b"<bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing></bpmn:serviceTask>"
        b'<bpmn:endEvent id="end"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>'
        b'<bpmn:sequenceFlow id="f4" sourceRef="review" targetRef="notify" />'
        b'<bpmn:sequenceFlow id="f5" sourceRef="notify" targetRef="end" />',
    )
    deploy_bytes(engine, "after_review.bpmn", xml)
    started = engine.start("after_review")
    review = open_task(engine, started.id)
    engine.complete(review.id, "olga", {"ok": True, "score": 5})
    assert outbox_subjects(engine) == []
    with engine.session_factory() as session:
        assert session.get(UserTask, review.id).status == "completed"
        job = session.scalars(
            select(Job).where(Job.instance_id == started.id, Job.element_id == "notify")
        ).one()
        assert (job.status, job.attempts) == ("pending", 1)
        assert list(session.get(Instance, started.id).waiting.values()) == ["job"]


# ---------------------------------------------------------------------------- the step's own writes


def test_an_engine_whose_cached_workflow_is_behind_reads_the_state_another_process_saved(
    engine: Engine,
) -> None:
    """The step reads the instance row without its state when the cache holds a workflow; a
    version saved meanwhile by another process (its own cache) makes it read the state."""
    deploy_bytes(engine, "five_step.bpmn", (DATA / "five_step.bpmn").read_bytes())
    started = engine.start("five_step", business_key="B-2")  # this engine caches version 1
    other = Engine(engine.session_factory, engine.handlers, clock=engine.clock)
    other.set_variables(started.id, {"note": "seen by the other worker"}, user="olga")

    engine.complete(open_task(engine, started.id).id, "olga", {"ok": True, "score": 5})

    variables = engine.variables(started.id)
    assert (variables["note"], variables["doubled"], variables["score"]) == (
        "seen by the other worker",
        42,
        5,
    )
    with engine.session_factory() as session:
        assert session.get(Instance, started.id).status == "completed"
