"""The rows one step writes, as a few Core statements instead of the ORM's unit of work.

A step (engine.runtime) reads one instance row, runs the workflow to its next wait states and
writes the instance back with the projections that changed. Through the ORM that cost about
four times what the same INSERTs cost as Core statements (bench/engine.py profiles it): the
unit of work sorts, diffs and refreshes objects nobody reads again. So the hot rows -- the
instance, new user tasks with their candidates, the jobs a step creates and its history -- are
plain values written here in one statement per table, in foreign-key order. Rare rows (timers,
subscriptions, incidents, a job a handler must see by id) still go through the session; the
step flushes them after the instance exists (`before_flush` below), so their foreign keys hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from engine.store import DecisionInstance, HistoryEvent, Instance, Job, TaskCandidate, UserTask

INSTANCE = Instance.__table__
USER_TASK = UserTask.__table__
TASK_CANDIDATE = TaskCandidate.__table__
JOB = Job.__table__
HISTORY = HistoryEvent.__table__

# What a step may change on its instance row; the rest is fixed when the instance starts.
_MUTABLE = (
    "definition_id",
    "definition_key",
    "status",
    "state",
    "variables",
    "variable_types",
    "waiting",
    "ended_at",
)
# Read when the workflow comes from the engine's cache: the serialized state and the variables
# (rewritten by every save) are left in the database.
_LEAN_COLUMNS = [c for c in INSTANCE.c if c.name not in ("state", "variables")]
_JOB_COLUMNS = [c.name for c in JOB.c if c.name != "id"]
_JOB_DEFAULTS = {c.name: c.default.arg for c in JOB.c if c.default is not None and c.default.is_scalar}
_INSERT_JOBS = insert(JOB).returning(JOB.c.id, sort_by_parameter_order=True)
# Built once: a statement object memoizes its cache key, so executing it again skips both the
# construction and the key (bench/engine.py showed them at a third of SQLAlchemy's time).
_INSERT_INSTANCE = insert(INSTANCE)
_INSERT_USER_TASKS = insert(USER_TASK)
_INSERT_CANDIDATES = insert(TASK_CANDIDATE)
_INSERT_HISTORY = insert(HISTORY)
_INSERT_DECISIONS = insert(DecisionInstance.__table__)
_UPDATE_INSTANCE = (
    update(INSTANCE)
    .where(INSTANCE.c.id == bindparam("b_id"), INSTANCE.c.version == bindparam("b_version"))
    .values({**{name: bindparam(f"b_{name}") for name in _MUTABLE}, "version": bindparam("b_next_version")})
)
_SELECT_STATE = select(INSTANCE.c.state).where(INSTANCE.c.id == bindparam("b_id"))


def _select_instance(columns: list, for_update: bool):
    stmt = select(*columns).where(INSTANCE.c.id == bindparam("b_id"))
    return stmt.with_for_update() if for_update else stmt


# (lean, for update) -> the statement load_instance runs
_SELECT_INSTANCE = {
    (lean, lock): _select_instance(_LEAN_COLUMNS if lean else list(INSTANCE.c), lock)
    for lean in (True, False)
    for lock in (True, False)
}
_STEP_KEY = "engine.step_rows"


@dataclass(slots=True)
class StepEvent:
    """A history row a step records; a plain value, as the save inserts it with the others."""

    instance_id: str
    at: datetime
    kind: str
    element_id: str | None
    task_id: str | None
    user: str | None
    data: dict[str, Any] | None


@dataclass
class StepRows:
    """What the step will insert at its save, beside the instance row itself."""

    instance: Instance
    instance_in_database: bool
    user_tasks: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    # Job objects never added to the session; their ids are set when the save inserts them.
    jobs: list[Job] = field(default_factory=list)
    # Jobs inserted before the save (a handler's idempotency key) with the values written then;
    # the save updates the columns a failure changed since.
    written_jobs: list[tuple[Job, dict[str, Any]]] = field(default_factory=list)
    # Business rule tasks' evaluations (engine.decisions.record_values).
    decision_instances: list[dict[str, Any]] = field(default_factory=list)

    def add_user_task(self, row: dict[str, Any], groups: Sequence[str], users: Sequence[str]) -> None:
        self.user_tasks.append(row)
        self.candidates += [{"task_id": row["id"], "kind": "group", "name": g} for g in groups]
        self.candidates += [{"task_id": row["id"], "kind": "user", "name": u} for u in users]


def load_instance(
    session: Session, instance_id: str, *, cached_version: int | None, for_update: bool
) -> Instance | None:
    """The instance row as a detached `Instance`; without state and variables when the cache
    holds a workflow for it (`load_state` reads the state when that is not the row's version)."""
    stmt = _SELECT_INSTANCE[cached_version is not None, for_update]
    row = session.connection().execute(stmt, {"b_id": instance_id}).first()
    if row is None:
        return None
    return Instance(**row._asdict())


def load_state(session: Session, instance_id: str) -> bytes:
    return session.connection().execute(_SELECT_STATE, {"b_id": instance_id}).scalar_one()


def attach(session: Session, rows: StepRows) -> None:
    """Make the step's rows the ones `before_flush` writes first when anything else flushes."""
    session.info[_STEP_KEY] = rows


def detach(session: Session) -> None:
    session.info.pop(_STEP_KEY, None)


def write_new_instance(session: Session, rows: StepRows) -> None:
    """Insert a new instance as it is now, so rows that name it may be written before the save."""
    if rows.instance_in_database:
        return
    inst = rows.instance
    session.connection().execute(_INSERT_INSTANCE, [{c.name: getattr(inst, c.name) for c in INSTANCE.c}])
    rows.instance_in_database = True


def save(session: Session, rows: StepRows, history: list[StepEvent | HistoryEvent], job_events: list) -> None:
    """The step's writes in foreign-key order: instance, the session's own objects, tasks,
    candidates, jobs (their ids back onto the objects and the history naming them), history."""
    conn = session.connection()
    inst = rows.instance
    if not rows.instance_in_database:
        write_new_instance(session, rows)
    else:
        values = {f"b_{name}": getattr(inst, name) for name in _MUTABLE}
        values.update(b_id=inst.id, b_version=inst.version, b_next_version=inst.version + 1)
        result = conn.execute(_UPDATE_INSTANCE, values)
        if result.rowcount != 1:
            raise StaleDataError(f"instance {inst.id} changed since version {inst.version} was read")
        inst.version += 1
    if session.new or session.dirty or session.deleted:
        session.flush()
    _update_written_jobs(conn, rows)
    if rows.user_tasks:
        conn.execute(_INSERT_USER_TASKS, rows.user_tasks)
    if rows.candidates:
        conn.execute(_INSERT_CANDIDATES, rows.candidates)
    pending = [job for job in rows.jobs if job.id is None]
    if pending:
        ids = conn.execute(_INSERT_JOBS, [_job_values(job) for job in pending]).scalars().all()
        for job, job_id in zip(pending, ids, strict=True):
            job.id = job_id
    for event_, job in job_events:
        event_.data = {**event_.data, "job_id": job.id}
    if rows.decision_instances:
        conn.execute(_INSERT_DECISIONS, rows.decision_instances)
    if history:
        conn.execute(_INSERT_HISTORY, [_history_values(e) for e in history])


def persist_job(session: Session, rows: StepRows, job: Job) -> None:
    """Insert a job a handler (or an incident) must name by id now, after its instance."""
    write_new_instance(session, rows)
    if job in rows.jobs:
        rows.jobs.remove(job)
    values = _job_values(job)
    job.id = session.connection().execute(_INSERT_JOBS, [values]).scalar_one()
    job.version = 1
    rows.written_jobs.append((job, values))


def rewrite_job(session: Session, rows: StepRows, job: Job) -> None:
    """A SAVEPOINT that `persist_job` wrote `job` in was rolled back (its handler failed): write
    the row again under the same id, so the next attempt's idempotency key is the one this
    attempt used (a handler may have called an outside service with it before failing)."""
    written = next(values for j, values in rows.written_jobs if j is job)
    session.connection().execute(insert(JOB), [{**written, "id": job.id}])


def _update_written_jobs(conn: Any, rows: StepRows) -> None:
    for job, written in rows.written_jobs:
        now = _job_values(job)
        changed = {name: value for name, value in now.items() if name != "version" and value != written[name]}
        if changed:
            conn.execute(update(JOB).where(JOB.c.id == job.id).values(**changed, version=JOB.c.version + 1))


def _job_values(job: Job) -> dict[str, Any]:
    """Every column, so one executemany takes them all; an unset one gets its column default."""
    values = {}
    for name in _JOB_COLUMNS:
        value = getattr(job, name)
        if value is None and name in _JOB_DEFAULTS:
            value = _JOB_DEFAULTS[name]
        values[name] = value
    values["version"] = 1
    return values


def _history_values(e: StepEvent | HistoryEvent) -> dict[str, Any]:
    return {
        "instance_id": e.instance_id,
        "at": e.at,
        "kind": e.kind,
        "element_id": e.element_id,
        "task_id": e.task_id,
        "user": e.user,
        "data": e.data,
    }


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    rows = session.info.get(_STEP_KEY)
    if rows is not None and not rows.instance_in_database and session.new:
        write_new_instance(session, rows)


def watch_flushes(session_factory: sessionmaker) -> None:
    """Any flush inside a step of a new instance writes that instance first (a timer row, an
    incident, a handler's own rows name it)."""
    if not event.contains(session_factory, "before_flush", _before_flush):
        event.listen(session_factory, "before_flush", _before_flush)


__all__ = [
    "StepEvent",
    "StepRows",
    "attach",
    "detach",
    "load_instance",
    "load_state",
    "persist_job",
    "save",
    "watch_flushes",
    "write_new_instance",
]
