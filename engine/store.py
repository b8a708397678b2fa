"""SQLAlchemy models of the engine: definitions, instances, the user-task projection, jobs,
timers, message subscriptions, incidents and the append-only history.

Task lists and job queues are read from projection tables so that no query ever needs
to deserialize a workflow; the serialized state is only touched by the runtime.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    create_engine,
    desc,
    event,
    text,
)
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

from dbtypes import UtcDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON, bytes: LargeBinary}


class InstanceStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    LOCKED = "locked"
    DONE = "done"
    FAILED = "failed"  # retries exhausted: an incident is open
    CANCELLED = "cancelled"


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Deployment(Base):
    """A set of resources uploaded together (Camunda's deployment)."""

    __tablename__ = "deployment"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str | None] = mapped_column(String(255))
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str | None] = mapped_column(String(64))


class Resource(Base):
    """One file of a deployment (.bpmn, .form, …) kept byte for byte."""

    __tablename__ = "resource"
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployment.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes]
    sha256: Mapped[str] = mapped_column(String(64), index=True)


class ProcessDefinition(Base):
    """One version of one process key; instances stay on the version they started with."""

    __tablename__ = "process_definition"
    __table_args__ = (Index("ix_definition_key_version", "key", "version", unique=True),)
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployment.id", ondelete="CASCADE"), index=True)
    resource_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    deployed_at: Mapped[datetime]
    start_form: Mapped[dict[str, Any] | None]
    message_starts: Mapped[list[Any] | None]
    suspended: Mapped[bool] = mapped_column(default=False)
    # camunda:historyTimeToLive in days; None: the configured default applies (engine.retention).
    history_ttl: Mapped[int | None] = mapped_column(Integer)


class DecisionDefinition(Base):
    """One version of one DMN decision (its id is the key); a new file content is a new version."""

    __tablename__ = "decision_definition"
    __table_args__ = (Index("ix_decision_key_version", "key", "version", unique=True),)
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    version_tag: Mapped[str | None] = mapped_column(String(255))
    history_ttl: Mapped[str | None] = mapped_column(String(64))
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployment.id", ondelete="CASCADE"), index=True)
    resource_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    deployed_at: Mapped[datetime]


class DecisionInstance(Base):
    """One evaluation of a decision: its inputs, the rules that matched and the result (history)."""

    __tablename__ = "decision_instance"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    decision_definition_id: Mapped[str] = mapped_column(
        ForeignKey("decision_definition.id", ondelete="CASCADE"), index=True
    )
    decision_key: Mapped[str] = mapped_column(String(128), index=True)
    instance_id: Mapped[str | None] = mapped_column(String(36), index=True)
    process_definition_id: Mapped[str | None] = mapped_column(String(128))
    element_id: Mapped[str | None] = mapped_column(String(128))
    activity_instance_id: Mapped[str | None] = mapped_column(String(36))
    evaluated_at: Mapped[datetime]
    user: Mapped[str | None] = mapped_column(String(64))
    inputs: Mapped[list[Any]]
    matched_rules: Mapped[list[Any]]
    result: Mapped[list[Any]]
    collect_result_value: Mapped[dict[str, Any] | None]


def _where(condition: str) -> dict[str, Any]:
    """A partial index's condition on both databases (SQLite and PostgreSQL spell it the same)."""
    return {"postgresql_where": text(condition), "sqlite_where": text(condition)}


class Instance(Base):
    """One process instance; `state` is the serialized workflow, `version` guards concurrent steps."""

    __tablename__ = "instance"
    # The definition page lists a version's latest instances (migration 0013).
    # The definition page's few finished instances whose open tasks it leaves out (migration 0014).
    __table_args__ = (
        Index("ix_instance_definition_started", "definition_id", "started_at"),
        Index("ix_instance_not_running", "definition_id", "id", **_where("status <> 'running'")),
        # History cleanup (migration 0018): due instances in removal-time order, and finished
        # instances still to be given a removal time.
        Index("ix_instance_removal_time", "removal_time", **_where("removal_time IS NOT NULL")),
        Index("ix_instance_unstamped", "id", **_where("status <> 'running' AND removal_time IS NULL")),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    definition_id: Mapped[str] = mapped_column(ForeignKey("process_definition.id"), index=True)
    definition_key: Mapped[str] = mapped_column(String(128), index=True)
    business_key: Mapped[str | None] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    state: Mapped[bytes]
    variables: Mapped[dict[str, Any]]
    variable_types: Mapped[dict[str, Any] | None]  # name -> Camunda type (engine.typed_values)
    waiting: Mapped[dict[str, Any]]
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    started_by: Mapped[str | None] = mapped_column(String(64))
    removal_time: Mapped[datetime | None]  # when a finished instance's history may go (engine.retention)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    __mapper_args__ = {"version_id_col": version}


class UserTask(Base):
    """Projection of a user task for task lists: written when the workflow steps, never deserialized."""

    __tablename__ = "user_task"
    __table_args__ = (
        Index("ix_user_task_open_assignee", "status", "assignee", "created_at"),
        Index("ix_user_task_open_created", "status", "created_at"),
        # Sorted by due, the list's first page is read from the index in both directions
        # (migration 0010 says why `due` is descending).
        Index("ix_user_task_open_due", "status", desc("due"), "id"),
        # The definition page's element counts and heat map, from the index alone (migration 0013).
        Index(
            "ix_user_task_definition_element",
            "definition_id",
            "element_id",
            "status",
            "instance_id",
            "created_at",
            "completed_at",
        ),
        # Partial indexes over open tasks only (migration 0014): the "My groups" count is a merge
        # join of the candidate index with the open unassigned task ids, and the definition page
        # counts waiting instances per element in index order instead of hashing 100,000 pairs.
        Index("ix_user_task_open_unassigned", "id", **_where("status = 'open' AND assignee IS NULL")),
        Index(
            "ix_user_task_open_element",
            "definition_id",
            "element_id",
            "instance_id",
            **_where("status = 'open'"),
        ),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"), index=True)
    definition_id: Mapped[str] = mapped_column(String(128))
    definition_key: Mapped[str] = mapped_column(String(128), index=True)
    business_key: Mapped[str | None] = mapped_column(String(128))
    element_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(255))
    lane: Mapped[str | None] = mapped_column(String(255))
    assignee: Mapped[str | None] = mapped_column(String(64))
    owner: Mapped[str | None] = mapped_column(String(64))
    candidate_groups: Mapped[list[Any]]
    candidate_users: Mapped[list[Any]]
    due: Mapped[datetime | None]
    follow_up: Mapped[datetime | None]
    priority: Mapped[int] = mapped_column(Integer, default=50)
    form: Mapped[dict[str, Any] | None]
    form_key: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(64))
    candidates: Mapped[list[TaskCandidate]] = relationship(cascade="all, delete-orphan")


# Sums of epoch seconds and minutes: exact numerics on PostgreSQL (as `extract` returns them), doubles
# on SQLite (as `julianday` arithmetic gives them).
_SUM = Float().with_variant(Numeric(asdecimal=False), "postgresql")


class ElementStat(Base):
    """Additive counters of the user tasks per (version, element), for the definition page.

    Kept by database triggers on `user_task` (migration 0020), so every writer is covered: the
    engine's Core updates, ORM adds, migrations between versions, retention and cascading deletes.
    Rows are appended deltas, never updated, so concurrent writers never wait on one hot row;
    readers sum them per element, and `engine.element_stats.compact` folds a version's rows into
    one per element. `waiting_instances` counts instances with at least one open task there;
    tasks without `completed_at` count their time until now, so they are kept apart
    (`unended_tasks` and the sum of their `created_at` as epoch seconds) from the minutes of the
    ended ones.
    """

    __tablename__ = "element_stat"
    __table_args__ = (Index("ix_element_stat_definition_element", "definition_id", "element_id"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    definition_id: Mapped[str] = mapped_column(String(128))
    element_id: Mapped[str] = mapped_column(String(128))
    waiting_instances: Mapped[int] = mapped_column(Integer)
    tasks: Mapped[int] = mapped_column(Integer)
    unended_tasks: Mapped[int] = mapped_column(Integer)
    unended_created_sum: Mapped[float] = mapped_column(_SUM)
    ended_minutes: Mapped[float] = mapped_column(_SUM)


class TaskCandidate(Base):
    """One (task, group or user) pair, so "my groups' tasks" is an indexed join on 100,000 tasks."""

    __tablename__ = "task_candidate"
    __table_args__ = (Index("ix_task_candidate_lookup", "kind", "name", "task_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("user_task.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # group | user
    name: Mapped[str] = mapped_column(String(64))


class Job(Base):
    """A service-task execution: the source of truth for workers, queues only carry its id."""

    __tablename__ = "job"
    __table_args__ = (
        Index("ix_job_due", "status", "due_at"),
        Index("ix_job_topic", "status", "topic"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[str] = mapped_column(String(36), index=True)
    element_id: Mapped[str] = mapped_column(String(128))
    topic: Mapped[str | None] = mapped_column(String(128))
    external: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    retries: Mapped[int] = mapped_column(Integer, default=3)
    retry_cycle: Mapped[str | None] = mapped_column(String(64))
    due_at: Mapped[datetime]
    locked_by: Mapped[str | None] = mapped_column(String(128))
    lock_expires_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    error_details: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    __mapper_args__ = {"version_id_col": version}


class Timer(Base):
    """A waiting timer event with the moment it fires, so the scheduler never loads idle instances."""

    __tablename__ = "timer"
    __table_args__ = (Index("ix_timer_due", "status", "due_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[str] = mapped_column(String(36), index=True)
    element_id: Mapped[str] = mapped_column(String(128))
    due_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))  # pending | fired | cancelled


class StartTimer(Base):
    """A timer start event's job: deploying its definition schedules it, firing starts an instance.

    Camunda keeps one timer start job per start event of the latest version of a key; a new
    version's deploy cancels the previous version's (`status` cancelled). `remaining` counts the
    instances still to start (-1: unbounded, for R/… and cron cycles).
    """

    __tablename__ = "start_timer"
    __table_args__ = (Index("ix_start_timer_due", "status", "due_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[str] = mapped_column(
        ForeignKey("process_definition.id", ondelete="CASCADE"), index=True
    )
    definition_key: Mapped[str] = mapped_column(String(128), index=True)
    element_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # timeDate | timeDuration | timeCycle
    expression: Mapped[str] = mapped_column(String(255))
    due_at: Mapped[datetime | None]
    remaining: Mapped[int] = mapped_column(Integer)
    fired: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))  # pending | suspended | done | cancelled


class MessageSubscription(Base):
    """An instance waiting for a named message (intermediate catch, boundary or receive task)."""

    __tablename__ = "message_subscription"
    __table_args__ = (Index("ix_message_subscription_name", "message_name", "status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[str] = mapped_column(String(36), index=True)
    element_id: Mapped[str] = mapped_column(String(128))
    message_name: Mapped[str] = mapped_column(String(255))
    business_key: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))  # waiting | correlated | cancelled


class Incident(Base):
    """A job that ran out of retries; retrying it resumes the instance."""

    __tablename__ = "incident"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id", ondelete="SET NULL"))
    element_id: Mapped[str] = mapped_column(String(128))
    incident_type: Mapped[str] = mapped_column(String(32), default="failedJob")
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), index=True)  # open | resolved


class HistoryEvent(Base):
    """Append-only audit of what happened to an instance, who did it and with what data."""

    __tablename__ = "history_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(36), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    element_id: Mapped[str | None] = mapped_column(String(128))
    task_id: Mapped[str | None] = mapped_column(String(36))
    user: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any] | None]


def make_engine(url: str, **kwargs: Any) -> SqlEngine:
    """Create the SQLAlchemy engine; SQLite gets WAL and a busy timeout so threads and processes share it."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
    engine = create_engine(url, future=True, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin_immediate(conn):
            # Writers take the lock at BEGIN so two read-then-write transactions cannot deadlock.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_session_factory(engine: SqlEngine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def is_postgres(engine: SqlEngine) -> bool:
    return engine.dialect.name == "postgresql"
