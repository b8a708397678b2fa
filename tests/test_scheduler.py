"""The scale-out scheduler and RQ worker: due jobs, retries, leases and timers go through Redis,
the database row decides, and of two schedulers only one works at a time."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import func, select

from engine.deploy import deploy
from engine.store import HistoryEvent, Instance, Job, Timer, UserTask
from tests.conftest import Clock, make_app
from tests.service_processes import flask_process, running_redis, service_env, wait_for
from web.queue import QUEUES, DeskWorker, Scheduler, enqueue_due, run_job, run_timer

pytestmark = [pytest.mark.redis]
DATA = Path(__file__).parent / "data" / "bpmn"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def redis_server(tmp_path):
    """A Redis server of this test's own (the shared one is flushed by other suites)."""
    with running_redis(tmp_path) as server:
        yield server


@pytest.fixture
def scaled(database_url, redis_server):
    """The app in scale-out mode (jobs go to Redis, never inline), on SQLite and on PostgreSQL."""
    app = make_app(database_url, REDIS_URL=redis_server.url, INLINE_JOBS=False, RQ_RESEND_AFTER=30)
    runtime = app.extensions["runtime"]
    runtime.clock = Clock(T0)
    handlers = app.extensions["handlers"]
    handlers.register("step_one", lambda v: {"counter": 21})
    handlers.register("step_two", lambda v: {"result": v["value"] * 2, "label_seen": v["label"]})
    for name in ("five_step.bpmn", "escalation.bpmn"):
        deploy(runtime.session_factory, {name: (DATA / name).read_bytes()}, known_topics=handlers.topics())
    yield app
    app.extensions["db_engine"].dispose()


def drain(app) -> bool:
    """Run every queued message with a real RQ worker in this process (burst mode)."""
    redis = Redis.from_url(app.config["REDIS_URL"])
    return DeskWorker(list(QUEUES), connection=redis, app=app).work(burst=True)


def queued(app) -> int:
    redis = Redis.from_url(app.config["REDIS_URL"])
    return sum(Queue(name, connection=redis).count for name in QUEUES)


def jobs_of(app, instance_id: str) -> list[Job]:
    with app.extensions["sessions"]() as session:
        return list(session.scalars(select(Job).where(Job.instance_id == instance_id).order_by(Job.id)))


def completions(app, job_id: int) -> int:
    with app.extensions["sessions"]() as session:
        events = session.scalars(select(HistoryEvent).where(HistoryEvent.kind == "service_task_called")).all()
    return sum(1 for e in events if (e.data or {}).get("job_id") == job_id)


def test_a_step_sends_its_jobs_to_rq_and_a_worker_runs_them_to_the_user_task(scaled):
    runtime = scaled.extensions["runtime"]
    started = runtime.start("five_step", variables={"value": 4, "label": "x"})
    assert [j.status for j in jobs_of(scaled, started.id)] == ["pending"], "nothing runs before a worker"
    assert queued(scaled) == 1
    assert drain(scaled)
    jobs = jobs_of(scaled, started.id)
    assert [j.status for j in jobs] == ["done", "done"]
    assert all(completions(scaled, j.id) == 1 for j in jobs)
    assert runtime.variables(started.id)["doubled"] == 42
    with scaled.extensions["sessions"]() as session:
        assert session.scalar(
            select(func.count()).select_from(UserTask).where(UserTask.instance_id == started.id)
        )


def test_a_duplicate_message_finds_the_job_done_and_does_nothing(scaled):
    runtime = scaled.extensions["runtime"]
    started = runtime.start("five_step", variables={"value": 1, "label": "y"})
    drain(scaled)
    first = jobs_of(scaled, started.id)[0]
    with scaled.app_context():
        assert run_job(first.id) == "skipped"
    again = jobs_of(scaled, started.id)[0]
    assert again.attempts == first.attempts == 1 and completions(scaled, first.id) == 1


def test_a_job_whose_worker_died_runs_again_after_its_lease(scaled):
    runtime = scaled.extensions["runtime"]
    started = runtime.start("five_step", variables={"value": 2, "label": "z"})
    Redis.from_url(scaled.config["REDIS_URL"]).flushdb()  # the message is lost with the dead worker
    job = jobs_of(scaled, started.id)[0]
    assert runtime.claim_job(job.id, "dead-worker", timedelta(minutes=5))
    assert enqueue_due(scaled)["jobs"] == 0, "a leased job is left alone"
    runtime.clock.now = T0 + timedelta(minutes=6)
    assert enqueue_due(scaled)["jobs"] == 1, "after the lease the scheduler sends it again"
    assert enqueue_due(scaled)["jobs"] == 0, "and not again on the next scan"
    drain(scaled)
    assert [j.status for j in jobs_of(scaled, started.id)] == ["done", "done"]
    assert completions(scaled, job.id) == 1


def test_messages_lost_with_redis_are_sent_again_from_the_database(scaled):
    runtime = scaled.extensions["runtime"]
    ids = [runtime.start("five_step", variables={"value": n, "label": "l"}).id for n in range(3)]
    assert enqueue_due(scaled)["jobs"] == 0, "just sent after commit: no duplicate"
    Redis.from_url(scaled.config["REDIS_URL"]).flushdb()
    assert queued(scaled) == 0
    assert enqueue_due(scaled)["jobs"] == 3
    drain(scaled)
    assert all(j.status == "done" for i in ids for j in jobs_of(scaled, i))


def test_a_failed_job_is_retried_by_the_scheduler_when_its_backoff_is_over(scaled):
    runtime = scaled.extensions["runtime"]
    calls = []

    def flaky(variables):
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("CRM is down")
        return {"counter": 1}

    scaled.extensions["handlers"].register("step_one", flaky)
    started = runtime.start("five_step", variables={"value": 3, "label": "r"})
    drain(scaled)
    job = jobs_of(scaled, started.id)[0]
    assert job.status == "pending" and job.attempts == 1 and "CRM is down" in job.error
    assert enqueue_due(scaled)["jobs"] == 0, "not before the backoff"
    runtime.clock.now = job.due_at + timedelta(seconds=1)
    assert enqueue_due(scaled)["jobs"] == 1
    drain(scaled)
    assert [j.status for j in jobs_of(scaled, started.id)] == ["done", "done"]


def test_due_timers_fire_on_a_worker_once(scaled):
    runtime = scaled.extensions["runtime"]
    started = runtime.start("escalation")
    assert enqueue_due(scaled)["timers"] == 0
    runtime.clock.now = T0 + timedelta(hours=1, minutes=1)
    assert enqueue_due(scaled)["timers"] == 1
    assert enqueue_due(scaled)["timers"] == 0, "a timer with a message on its way is not sent twice"
    drain(scaled)
    with scaled.extensions["sessions"]() as session:
        timer = session.scalars(select(Timer).where(Timer.instance_id == started.id)).one()
        assert timer.status == "fired"
        open_tasks = session.scalars(
            select(UserTask.element_id).where(UserTask.instance_id == started.id, UserTask.status == "open")
        ).all()
        assert sorted(open_tasks) == ["manager_look"]
    with scaled.app_context():
        assert run_timer(timer.id) == "skipped", "a duplicate message finds the timer fired"
    with scaled.extensions["sessions"]() as session:
        fired = session.scalar(
            select(func.count())
            .select_from(HistoryEvent)
            .where(HistoryEvent.instance_id == started.id, HistoryEvent.kind == "timer_fired")
        )
        assert fired == 1
        assert session.get(Instance, started.id).status == "running"


def test_of_two_schedulers_only_the_lock_holder_scans_and_the_other_takes_over(scaled):
    first = Scheduler(scaled, "first", lock_ttl=1.0)
    second = Scheduler(scaled, "second", lock_ttl=1.0)
    assert first.tick() is not None
    assert second.tick() is None, "the second one stands by"
    assert first.tick() is not None, "the holder keeps its lock"
    # `first` dies without a word: its lock runs out and `second` takes over.
    wait_for(lambda: second.tick() is not None, 10, "the standby scheduler to take over")
    assert first.tick() is None
    second.release()
    assert first.tick() is not None, "a released lock is taken at once"


@pytest.mark.postgres
@pytest.mark.slow
def test_two_scheduler_processes_one_killed_the_other_carries_on(postgres_url, redis_server, tmp_path):
    app = make_app(postgres_url, REDIS_URL=redis_server.url, INLINE_JOBS=False)
    handlers = app.extensions["handlers"]
    deploy(
        app.extensions["runtime"].session_factory,
        {"escalation.bpmn": (DATA / "escalation.bpmn").read_bytes()},
        known_topics=handlers.topics(),
    )
    env = service_env(postgres_url, redis_server.url)
    redis = Redis.from_url(redis_server.url)
    procs = [
        flask_process(f"scheduler{n}", ["scheduler", "--interval", "0.2", "--lock-ttl", "2"], env, tmp_path)
        for n in range(2)
    ]
    for proc in procs:
        proc.start()
    try:
        holder = wait_for(lambda: redis.get("desk:scheduler:holder"), 60, "an active scheduler").decode()
        pids = {str(p.popen.pid): p for p in procs}
        active = next(p for pid, p in pids.items() if holder.endswith(f":{pid}"))
        standby = next(p for p in procs if p is not active)
        # A slow start (a loaded machine) must not let the kill land before the other one looked.
        wait_for(lambda: "standing by" in standby.log.read_text(), 60, "the other scheduler to stand by")
        active.kill(signal.SIGKILL)
        wait_for(
            lambda: (redis.get("desk:scheduler:holder") or b"").decode().endswith(f":{standby.popen.pid}"),
            30,
            "the standby scheduler to take over",
        )
        started = app.extensions["runtime"].start("escalation")
        with app.extensions["sessions"]() as session:
            timer = session.scalars(select(Timer).where(Timer.instance_id == started.id)).one()
            timer.due_at = datetime.now(UTC) - timedelta(seconds=1)
            session.commit()
        wait_for(lambda: Queue("high", connection=redis).count, 30, "the survivor to send the due timer")
        assert Queue("high", connection=redis).count == 1, "one message, though two schedulers ran"
        log = standby.log.read_text()
        assert "standing by" in log and "is active" in log
    finally:
        for proc in procs:
            proc.kill(signal.SIGTERM)
        app.extensions["db_engine"].dispose()


def test_a_job_goes_to_the_queue_of_its_priority(scaled):
    runtime = scaled.extensions["runtime"]
    started = runtime.start("five_step", variables={"value": 5, "label": "p"})
    redis = Redis.from_url(scaled.config["REDIS_URL"])
    assert Queue("default", connection=redis).count == 1
    redis.flushdb()
    with scaled.extensions["sessions"]() as session, session.begin():
        session.get(Job, jobs_of(scaled, started.id)[0].id).priority = 80  # camunda:taskPriority="80"
    assert enqueue_due(scaled)["jobs"] == 1
    assert Queue("high", connection=redis).count == 1 and Queue("default", connection=redis).count == 0


def test_a_step_commits_while_redis_is_down_and_its_job_is_sent_later(scaled, redis_server):
    runtime = scaled.extensions["runtime"]
    redis_server.stop()
    started = runtime.start(
        "five_step", variables={"value": 6, "label": "d"}
    )  # no error: the row is the truth
    assert [j.status for j in jobs_of(scaled, started.id)] == ["pending"]
    redis_server.start()
    assert enqueue_due(scaled)["jobs"] == 1
    drain(scaled)
    assert [j.status for j in jobs_of(scaled, started.id)] == ["done", "done"]
