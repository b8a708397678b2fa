"""Scale-out: service-task jobs, due timers and outbox deliveries run on RQ workers over Redis.

The database row stays the truth. An RQ message carries only a row id; the worker claims the
row (FOR UPDATE SKIP LOCKED on PostgreSQL, with a lease), runs the handler, and commits the
job's result together with the instance step. So a duplicate or redelivered message finds the
job done (or taken) and does nothing, a message lost with Redis is sent again by the scheduler
from the database, and a job whose worker died is taken again when its lease runs out.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import click
from flask import Flask, current_app, has_app_context
from redis import Redis
from redis.exceptions import LockError, RedisError
from rq import Queue, SimpleWorker, worker_registration
from rq.exceptions import NoSuchJobError
from rq.job import Job as RqJob
from rq.job import JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from engine.store import Job, ProcessDefinition
from engine.timer_start import fire_due_start_timers

log = logging.getLogger(__name__)

QUEUES = ("high", "default", "low")
SENT_KEY = "desk:sent:{kind}:{marker}"  # when a message for this row (version) was last sent
SENT_MARKER_TTL = 600  # seconds; a scheduler's resend_after must stay below this
LAST_JOB_KEY = "desk:workers:last_job"  # worker name -> ISO time its last job finished
SCHEDULER_LOCK = "desk:scheduler"
SCHEDULER_HOLDER = "desk:scheduler:holder"
DEFAULT_LEASE_SECONDS = 300
DEFAULT_RESEND_SECONDS = 60
CHAIN_LIMIT = 25  # jobs a worker runs after the one it was sent before the rest go to the queues
WORKER_TTL = 30  # seconds; an idle worker heartbeats every WORKER_TTL - 15 s
ALIVE_WITHIN = WORKER_TTL + 30  # a worker whose last heartbeat is older is taken for dead


def queue_for(priority: int) -> str:
    """camunda:taskPriority -> queue: above 50 is urgent, below 0 can wait."""
    return "high" if priority > 50 else "low" if priority < 0 else "default"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Sender:
    """Puts row ids on the RQ queues; never raises for Redis trouble, since the rows are the truth.

    Each message leaves a marker `desk:sent:<kind>:<row>[:<version>]` holding the time it was
    sent. The scheduler skips rows whose marker is younger than its `resend_after`, so a job
    still waiting in a queue is not sent again on every scan, while a message lost with Redis
    (the markers go with it) or swallowed by a killed worker is sent again. A job's marker
    names its row version: a lease-expired or retried job is a new version and goes at once.
    """

    def __init__(self, connection: Redis, sessions, lease: int, resend_after: float) -> None:
        self.connection = connection
        self.sessions = sessions
        self.lease = lease
        self.resend_after = resend_after
        self.queues = {name: Queue(name, connection=connection) for name in QUEUES}

    def jobs(self, job_ids: Iterable[int], *, resend_after: float | None = None) -> int:
        """Send in-process jobs (external ones wait for Camunda workers); returns how many went out."""
        ids = list(job_ids)
        if not ids:
            return 0
        with self.sessions() as session:
            rows = session.execute(
                select(Job.id, Job.priority, Job.version).where(Job.id.in_(ids), Job.external.is_(False))
            ).all()
        return sum(
            self.send(
                "job",
                job_id,
                f"{job_id}:{version}",
                queue_for(priority or 0),
                "web.queue.run_job",
                resend_after,
            )
            for job_id, priority, version in rows
        )

    def timers(self, timer_ids: Iterable[int], *, resend_after: float | None = None) -> int:
        return sum(
            self.send("timer", timer_id, str(timer_id), "high", "web.queue.run_timer", resend_after)
            for timer_id in timer_ids
        )

    def notifications(self, notification_ids: Iterable[int], *, only_unsent: bool = False) -> int:
        """Outbox rows to deliver (web.outbox calls this after commit and from its scheduler pass)."""
        resend_after = self.resend_after if only_unsent else None
        return sum(
            self.send("notification", i, str(i), "default", "web.queue.deliver_notification", resend_after)
            for i in notification_ids
        )

    def send(
        self, kind: str, row_id: int, marker: str, queue: str, func: str, resend_after: float | None
    ) -> bool:
        """One message for one row; with `resend_after` (the scheduler), only when none is on its way."""
        key = SENT_KEY.format(kind=kind, marker=marker)
        try:
            if resend_after is not None and self._on_its_way(key, resend_after):
                return False
            message_id = f"desk-{kind}-{row_id}-{os.urandom(4).hex()}"
            self.connection.set(key, f"{time.time()} {message_id}", ex=SENT_MARKER_TTL)
            self.queues[queue].enqueue(
                func,
                row_id,
                job_id=message_id,
                description=f"desk {kind} {row_id}",
                job_timeout=self.lease,
                result_ttl=60,
                failure_ttl=86400,
            )
            return True
        except RedisError as err:
            log.warning("%s %s not sent to Redis (%s); the scheduler sends it again", kind, row_id, err)
            return False

    def _on_its_way(self, key: str, resend_after: float) -> bool:
        """A message sent less than `resend_after` ago, or still waiting in its queue, will arrive.

        One that a worker took (and died with, since the row is still due) or that Redis lost
        will not: that row is sent again. Waiting messages are never duplicated, so a long
        queue does not grow by a copy of itself on every scan.
        """
        value = self.connection.get(key)
        if value is None:
            return False
        sent_at, _, message_id = value.decode().partition(" ")
        if time.time() - float(sent_at) < resend_after:
            return True
        try:
            message = RqJob.fetch(message_id, connection=self.connection)
        except NoSuchJobError:
            return False
        status = message.get_status(refresh=False)
        if status == JobStatus.QUEUED:  # and still in its queue: a worker may have popped it and died
            waiting = (
                Queue(message.origin, connection=self.connection).get_job_position(message_id) is not None
            )
        else:
            waiting = status in (JobStatus.DEFERRED, JobStatus.SCHEDULED)
        if waiting:  # look again only after another `resend_after`, not on every scan
            self.connection.set(key, f"{time.time()} {message_id}", ex=SENT_MARKER_TTL)
        return waiting


def init_app(app: Flask) -> None:
    """With REDIS_URL, jobs created by a step are sent to RQ after commit instead of run inline."""
    url = app.config.get("REDIS_URL")
    if not url:
        return
    connection = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
    sender = Sender(
        connection,
        app.extensions["sessions"],
        int(app.config.get("JOB_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)),
        float(app.config.get("RQ_RESEND_AFTER", DEFAULT_RESEND_SECONDS)),
    )
    chain = Chain(sender)
    app.extensions["redis"] = connection
    app.extensions["rq_sender"] = sender
    app.extensions["rq_chain"] = chain
    app.extensions["runtime"].dispatch = chain


class Chain:
    """The runtime's dispatch in scale-out mode: new jobs go to Redis, except inside a worker's job.

    There, the jobs the step created (the next service tasks of the same instance) are run next
    by the same worker, as the embedded mode does: the instance's workflow is still in this
    process's cache and no Redis round trip is paid. Each chained job is still claimed, run and
    committed on its own; what is left after CHAIN_LIMIT jobs, or when the worker dies, reaches
    the queues (after commit, or through the scheduler, which finds such rows unsent).
    """

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self._local = threading.local()

    def __call__(self, job_ids: list[int]) -> None:
        collected = getattr(self._local, "jobs", None)
        if collected is None:
            self.sender.jobs(job_ids)
        else:
            collected.extend(job_ids)

    @contextmanager
    def collecting(self) -> Iterator[list[int]]:
        self._local.jobs = collected = []
        try:
            yield collected
        finally:
            self._local.jobs = None
            if collected:
                self.sender.jobs(collected)


# ---------------------------------------------------------------------------- worker side


@cache
def _worker_app() -> Flask:
    """One app per process for a plain `rq worker`, built from the same environment as the web."""
    from web import create_app

    return create_app({"INLINE_JOBS": False})


def _app() -> Flask:
    return current_app._get_current_object() if has_app_context() else _worker_app()


def run_job(job_id: int) -> str:
    """RQ entry point: claim the job row with a lease, run its handler, commit the result with the
    step; then run the jobs that step created (see Chain). Returns the first job's outcome."""
    app = _app()
    with app.app_context():
        chain: Chain | None = app.extensions.get("rq_chain")
        if chain is None:
            return _run_one(app, job_id)
        with chain.collecting() as follow:
            outcome = _run_one(app, job_id)
            for _ in range(CHAIN_LIMIT):
                local = _in_process(app, follow)
                if not local:
                    break
                follow.remove(local[0])
                _run_one(app, local[0])
    return outcome


def _run_one(app: Flask, job_id: int) -> str:
    runtime = app.extensions["runtime"]
    worker = runtime.worker_id
    lease = timedelta(seconds=int(app.config.get("JOB_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)))
    if not runtime.claim_job(job_id, worker, lease):
        log.info("job %s: skipped (done, taken by another worker, or not due)", job_id)
        return "skipped"
    outcome = runtime.execute_job(job_id, claimed=True, worker_id=worker)
    log.info("job %s: %s", job_id, outcome)
    return outcome


def _in_process(app: Flask, job_ids: list[int]) -> list[int]:
    """Of `job_ids`, those an in-process handler serves (external ones wait for Camunda workers)."""
    if not job_ids:
        return []
    with app.extensions["sessions"]() as session:
        return list(
            session.scalars(
                select(Job.id).where(Job.id.in_(job_ids), Job.external.is_(False)).order_by(Job.id)
            )
        )


def run_timer(timer_id: int) -> str:
    """RQ entry point: fire one due timer; a duplicate message finds it fired and does nothing."""
    app = _app()
    with app.app_context():
        fired = app.extensions["runtime"].fire_timer(timer_id)
    log.info("timer %s: %s", timer_id, "fired" if fired else "skipped")
    return "fired" if fired else "skipped"


def deliver_notification(notification_id: int) -> str:
    """RQ entry point: claim, send and record one outbox row; a duplicate message finds it taken or sent."""
    app = _app()
    with app.app_context():
        outcome = app.extensions["outbox"].deliver(notification_id)
    log.info("notification %s: %s", notification_id, outcome)
    return outcome


class DeskWorker(SimpleWorker):
    """An RQ worker that runs jobs in its own process under the app's context.

    No fork per job, so the app, its parsed definitions and cached workflows live as long as
    the worker. It records when it last finished a job (for health checks), registers again
    after Redis lost its state, and keeps going through a Redis outage instead of exiting.
    """

    def __init__(self, *args: Any, app: Flask | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("worker_ttl", WORKER_TTL)
        super().__init__(*args, **kwargs)
        self.app = app or _worker_app()

    def execute_job(self, job, queue) -> None:
        with self.app.app_context():
            super().execute_job(job, queue)
        try:
            self.connection.hset(LAST_JOB_KEY, self.name, utcnow().isoformat())
        except RedisError as err:
            log.warning("worker %s could not record its last job: %s", self.name, err)

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
        super().heartbeat(timeout, pipeline)
        if pipeline is None and not self.connection.hexists(self.key, "birth"):
            log.info("worker %s registers again (Redis lost its state)", self.name)
            self.connection.hset(self.key, mapping=self.serialize())
            self.connection.expire(self.key, self.worker_ttl + 60)
            worker_registration.register(self)

    def request_stop(self, signum, frame) -> None:
        self._stop_requested = True  # rq sets it only when busy; an idle stop must end `work` too
        super().request_stop(signum, frame)

    def work(self, burst: bool = False, **kwargs: Any) -> bool:
        worked, pause = False, 1.0
        while True:
            try:
                worked = super().work(burst=burst, **kwargs) or worked
            except RedisError as err:
                log.warning("worker %s lost Redis: %s", self.name, err)
            if burst or self._stop_requested or kwargs.get("max_jobs") or kwargs.get("max_idle_time"):
                return worked
            log.warning("worker %s restarts its loop in %.0f s", self.name, pause)
            time.sleep(pause)
            pause = min(pause * 2, 30.0)


def warm_up(app: Flask) -> None:
    """Pay one-off costs before the first job, not inside it: parse the newest version of every
    deployed process, and load the morphological dictionaries the classifier reads (seconds)."""
    from desk.text import normalize_words

    normalize_words("прогрев")
    runtime = app.extensions["runtime"]
    with app.extensions["sessions"]() as session:
        keys = session.scalars(select(ProcessDefinition.key).distinct()).all()
        for key in keys:
            runtime.definition(session, runtime.latest_definition_id(session, key))


@click.command("rq-worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option("--lease", default=DEFAULT_LEASE_SECONDS, help="Seconds a claimed job stays this worker's.")
@click.option("--name", help="Worker name in Redis (default: a random id).")
def worker_command(queues: tuple[str, ...], burst: bool, lease: int, name: str | None) -> None:
    """Run an RQ worker on the high, default and low queues (scale-out mode; needs REDIS_URL)."""
    app = current_app._get_current_object()
    connection = app.extensions.get("redis")
    if connection is None:
        raise click.ClickException("REDIS_URL is not set; in the embedded mode use `flask --app web worker`.")
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown:
        raise click.BadParameter(f"unknown queue(s) {', '.join(unknown)}; use {', '.join(QUEUES)}")
    app.config["JOB_LEASE_SECONDS"] = lease
    app.extensions["runtime"].inline_jobs = False
    worker = DeskWorker(
        list(queues or QUEUES), name=name, connection=Redis.from_url(app.config["REDIS_URL"]), app=app
    )
    logging.getLogger("spiff").setLevel(logging.WARNING)  # a line per task state change otherwise
    warm_up(app)
    worker.work(burst=burst)


# ---------------------------------------------------------------------------- scheduler


def enqueue_due(app: Flask, limit: int = 500) -> dict[str, int]:
    """Send what is due and has no recent message: pending jobs (new, retries), lease-expired jobs,
    due timers and outbox deliveries. Returns how many of each kind were found or sent."""
    runtime = app.extensions["runtime"]
    outbox = app.extensions.get("outbox")
    sender: Sender | None = app.extensions.get("rq_sender")
    if sender is None:
        return {"jobs": runtime.run_due_jobs(limit), "timers": runtime.fire_due_timers(limit=limit)}
    after = sender.resend_after
    return {
        "jobs": sender.jobs(runtime.due_job_ids(limit), resend_after=after),
        "timers": sender.timers(runtime.due_timer_ids(limit=limit), resend_after=after),
        "timer_starts": fire_due_start_timers(runtime, limit=limit),
        "notifications": outbox.schedule(limit) if outbox is not None else 0,
    }


@dataclass
class Scheduler:
    """Only the holder of a Redis lock scans; others stand by and take over when its lock expires."""

    app: Flask
    name: str
    lock_ttl: float = 10.0

    def __post_init__(self) -> None:
        self.connection: Redis = self.app.extensions["redis"]
        self.lock = self.connection.lock(SCHEDULER_LOCK, timeout=self.lock_ttl, thread_local=False)
        self.active: bool | None = None  # None until the first scan, so that one is logged

    def hold(self) -> bool:
        """Keep (or take) the lock; False when another scheduler has it."""
        try:
            held = self.lock.extend(self.lock_ttl, replace_ttl=True) if self.lock.owned() else False
        except LockError:
            held = False
        held = held or self.lock.acquire(blocking=False)
        if held:
            self.connection.set(SCHEDULER_HOLDER, self.name, px=int(self.lock_ttl * 1000))
        if held != self.active:
            log.info("scheduler %s is %s", self.name, "active" if held else "standing by")
            self.active = held
        return held

    def tick(self) -> dict[str, int] | None:
        """One scan if this scheduler holds the lock; None when another one does."""
        if not self.hold():
            return None
        from web.retention import maybe_enqueue

        counts = enqueue_due(self.app)
        counts["history_cleanup"] = int(maybe_enqueue(self.app))  # in its window, one at a time
        return counts

    def release(self) -> None:
        try:
            if self.lock.owned():
                self.lock.release()
        except (LockError, RedisError):
            pass

    def run(self, interval: float, once: bool = False, stopping: Callable[[], bool] = lambda: False) -> None:
        """Scan every `interval` seconds until stopped; Redis or database outages are waited out."""
        while not stopping():
            try:
                self.tick()
            except (RedisError, SQLAlchemyError) as err:
                log.warning("scheduler %s: %s; trying again", self.name, err)
                self.active = False
            if once:
                break
            time.sleep(interval)
        self.release()


def run_scheduler(
    app: Flask, interval: float, once: bool, lock_ttl: float | None = None, resend_after: float | None = None
) -> None:
    """The `flask --app web scheduler` loop; SIGTERM and Ctrl+C stop it and free the lock."""
    if app.extensions.get("redis") is None:
        raise click.ClickException("REDIS_URL is not set; in the embedded mode use `flask --app web worker`.")
    if resend_after is not None:
        if not 0 < resend_after < SENT_MARKER_TTL:
            raise click.BadParameter(
                f"must be between 0 and {SENT_MARKER_TTL} seconds", param_hint="--resend-after"
            )
        app.config["RQ_RESEND_AFTER"] = resend_after
        app.extensions["rq_sender"].resend_after = resend_after
    stop = {"now": False}

    def request_stop(*_args: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    scheduler = Scheduler(app, app.config["WORKER_ID"], lock_ttl or max(interval * 10, 10.0))
    click.echo(f"Scheduler {scheduler.name} started (scan every {interval}s, lock {scheduler.lock_ttl}s)")
    scheduler.run(interval, once, lambda: stop["now"])


# ---------------------------------------------------------------------------- status


def queue_status(connection: Redis) -> dict[str, dict[str, int]]:
    """Per queue: messages waiting, running now, failed (RQ's own registries)."""
    out = {}
    for name in QUEUES:
        queue = Queue(name, connection=connection)
        out[name] = {
            "queued": queue.count,
            "running": StartedJobRegistry(queue=queue).count,
            "failed": FailedJobRegistry(queue=queue).count,
        }
    return out


def worker_status(connection: Redis, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every registered RQ worker with its heartbeat, our last-job time, and whether it is alive.

    Alive = a heartbeat within its TTL: a worker killed without a goodbye stays registered
    until its key expires, but its heartbeat stops at once.
    """
    now = now or utcnow()
    last_jobs = {k.decode(): v.decode() for k, v in connection.hgetall(LAST_JOB_KEY).items()}
    out = []
    for worker in SimpleWorker.all(connection=connection):
        beat = worker.last_heartbeat
        if beat is not None and beat.tzinfo is None:
            beat = beat.replace(tzinfo=UTC)
        age = (now - beat).total_seconds() if beat else None
        out.append(
            {
                "name": worker.name,
                "hostname": worker.hostname,
                "pid": worker.pid,
                "state": worker.get_state(),
                "queues": worker.queue_names(),
                "last_heartbeat": beat.isoformat() if beat else None,
                "heartbeat_age_s": round(age, 1) if age is not None else None,
                "alive": age is not None and age <= ALIVE_WITHIN,
                "last_job_at": last_jobs.get(worker.name),
                "successful_jobs": worker.successful_job_count,
                "failed_jobs": worker.failed_job_count,
            }
        )
    return sorted(out, key=lambda w: w["name"])


def scheduler_holder(connection: Redis) -> str | None:
    value = connection.get(SCHEDULER_HOLDER)
    return value.decode() if value else None
