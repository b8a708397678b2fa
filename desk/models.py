"""The service desk's tables: people, clients, requests with their SLA fields, tasks, the
notification outbox and the admin-editable rules (dictionary, calendars, SLA, routing).

The request's `created_at` is written once and never altered; every derived time
(arrival, pickup, processing, resolve-by) sits beside it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Float, ForeignKey, Index, Integer, String, Table, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from dbtypes import UtcDateTime


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


ROLES = ("operator", "dispatcher", "manager", "executor", "approver", "analyst", "admin")
STATUSES = ("new", "triage", "assigned", "in_progress", "waiting", "done", "closed", "rejected", "cancelled")


class User(Base):
    """A staff member; `groups` are the candidate groups they work tasks for."""

    __tablename__ = "desk_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(32))
    extension: Mapped[str | None] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    roles: Mapped[list[Any]] = mapped_column(default=list)
    groups: Mapped[list[Any]] = mapped_column(default=list)
    language: Mapped[str] = mapped_column(String(8), default="ru")
    # The zone this user reads times in (an IANA name); None: the desk's zone.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)
    on_duty: Mapped[bool] = mapped_column(default=True)
    # Bumped on logout, password change and deactivation: every session and cached
    # credential carrying an older number stops working at once.
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")


class Company(Base):
    """A client organisation."""

    __tablename__ = "company"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    inn: Mapped[str | None] = mapped_column(String(12))


deal_contact = Table(
    "deal_contact",
    Base.metadata,
    Column("deal_id", ForeignKey("deal.id", ondelete="CASCADE"), primary_key=True),
    Column("contact_id", ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Contact(Base):
    """A client person; `responsible` is the employee their calls and mail go to first."""

    __tablename__ = "contact"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str | None] = mapped_column(String(255), index=True)
    phones: Mapped[list[Any]] = mapped_column(default=list)
    phone_e164: Mapped[str | None] = mapped_column(String(20), index=True)
    responsible: Mapped[str | None] = mapped_column(String(64))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("company.id"))
    # What the client needs, in the words of the manager who made their card.
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    erased_at: Mapped[datetime | None]  # personal data erased on request (service.erasure)


class Deal(Base):
    """A deal with its responsible employee; changing it re-assigns its contacts (owner sync)."""

    __tablename__ = "deal"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    amount: Mapped[float] = mapped_column(Float, default=0.0)
    responsible: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open")
    updated_at: Mapped[datetime] = mapped_column(index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("request.id"), index=True)
    contacts: Mapped[list[Contact]] = relationship(secondary=deal_contact)


class Request(Base):
    """A service request ("обращение") and its SLA facts; status changes go through desk.crm."""

    __tablename__ = "request"
    __table_args__ = (
        Index("ix_request_status_created", "status", "created_at"),
        Index("ix_request_created", "created_at"),
        # The reports read done requests by range from this index alone (migration 0013 says why).
        Index(
            "ix_request_done_facts",
            "done_at",
            "processing_bucket",
            "processing_minutes",
            "sla_met",
            "pickup_minutes",
            "pickup_late",
            "category",
            "assignee",
            "channel",
            "priority",
            postgresql_include=["stage_totals"],
        ),
        # The reports' 20 worst late pickups: read in overrun order, stopping at 20 (migration 0015).
        Index(
            "ix_request_late_pickups",
            "pickup_overrun_minutes",
            "done_at",
            postgresql_where=text("pickup_late IS true"),
            sqlite_where=text("pickup_late IS 1"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(16), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"), index=True)
    requester_email: Mapped[str | None] = mapped_column(String(255))
    category: Mapped[str | None] = mapped_column(String(32), index=True)
    classify_score: Mapped[float | None] = mapped_column(Float)
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    status: Mapped[str] = mapped_column(String(16), default="new")
    assignee: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]
    arrived_at: Mapped[datetime | None]
    taken_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    resolve_by: Mapped[datetime | None]
    pickup_minutes: Mapped[float | None] = mapped_column(Float)
    pickup_late: Mapped[bool | None]
    pickup_overrun_minutes: Mapped[float | None] = mapped_column(Float)
    processing_minutes: Mapped[float | None] = mapped_column(Float)
    processing_bucket: Mapped[str | None] = mapped_column(String(32))
    sla_met: Mapped[bool | None]
    escalated: Mapped[bool] = mapped_column(default=False)
    status_changed_at: Mapped[datetime]
    stage_totals: Mapped[dict[str, Any]] = mapped_column(default=dict)
    instance_id: Mapped[str | None] = mapped_column(String(36), index=True)
    linked_to_id: Mapped[int | None] = mapped_column(ForeignKey("request.id"))
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    __mapper_args__ = {"version_id_col": version}


class StatusChange(Base):
    """One status change with the time spent in the status it left (working and wall minutes)."""

    __tablename__ = "request_status_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("request.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    by: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(500))  # why, when someone said (a cancellation)
    working_minutes: Mapped[float] = mapped_column(Float, default=0.0)
    wall_minutes: Mapped[float] = mapped_column(Float, default=0.0)


class Task(Base):
    """Work for a person, usually created by a process for a request."""

    __tablename__ = "desk_task"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    assignee: Mapped[str | None] = mapped_column(String(255), index=True)
    deadline: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="open")
    request_id: Mapped[int | None] = mapped_column(ForeignKey("request.id"), index=True)
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)


class Notification(Base):
    """Outbox row, written in the transaction of the change it reports; delivered after commit."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_pending", "status", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(255), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    template: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    subject: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("request.id"), index=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    # Delivery state (desk.outbox): due time, the sender's lease, the stable e-mail id, why it died.
    task_id: Mapped[int | None] = mapped_column(ForeignKey("desk_task.id"), index=True)
    fallback_of_id: Mapped[int | None] = mapped_column(ForeignKey("notification.id"), index=True)
    next_attempt_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    message_id: Mapped[str | None] = mapped_column(String(998))
    dead_reason: Mapped[str | None] = mapped_column(Text)


class DictionaryEntry(Base):
    """One keyword (or phrase) and its weight for a category of the classifier; admins edit these."""

    __tablename__ = "classifier_entry"
    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(32), index=True)
    category_position: Mapped[int] = mapped_column(Integer, default=0)
    keyword: Mapped[str] = mapped_column(String(255))
    weight: Mapped[float] = mapped_column(Float, default=1.0)


class CalendarRow(Base):
    """A business calendar as data (desk.calendar.Calendar.to_dict)."""

    __tablename__ = "business_calendar"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]]


class SlaPolicyRow(Base):
    """Resolve-within per category and priority ("*" = any), on a named calendar."""

    __tablename__ = "sla_policy"
    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(32), default="*")
    priority: Mapped[str] = mapped_column(String(8), default="*")
    resolve_within: Mapped[str] = mapped_column(String(32))
    calendar: Mapped[str] = mapped_column(String(64), default="workdays")


class RouteRule(Base):
    """Category -> dispatcher group, suggested executor and whether approval is needed (and by whom)."""

    __tablename__ = "route_rule"
    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(32), unique=True)
    dispatcher_group: Mapped[str] = mapped_column(String(64), default="dispatchers")
    executor: Mapped[str | None] = mapped_column(String(64))
    needs_approval: Mapped[bool] = mapped_column(default=False)
    approvers: Mapped[list[Any]] = mapped_column(default=list)


class OwnerSyncRun(Base):
    """Checkpoint of a mass owner-sync run, so a stopped run resumes where it stopped."""

    __tablename__ = "owner_sync_run"
    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    last_deal_id: Mapped[int] = mapped_column(Integer, default=0)
    deals_processed: Mapped[int] = mapped_column(Integer, default=0)
    contacts_changed: Mapped[int] = mapped_column(Integer, default=0)
    tallies: Mapped[dict[str, Any]] = mapped_column(default=dict)
    summary_sent: Mapped[bool] = mapped_column(default=False)


class ApiToken(Base):
    """A bearer token for API clients (external-task workers, PBX webhooks); only its hash is stored."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    username: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # What the token may do (service.permissions.SCOPES); a token without a scope gets 403.
    scopes: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
