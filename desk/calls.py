"""The stored side of telephony: the call log, the queue's rotation pointer, and missed-call intake.

desk.telephony decides whom to ring from plain data; this module loads that data,
keeps the pointer, and records what the PBX reports. Two rules shape it:

* Fairness under concurrent calls. The rotation pointer is one row per queue, read
  with `SELECT … FOR UPDATE` on PostgreSQL; SQLite serialises writers because the
  project opens every transaction with `BEGIN IMMEDIATE`. Either way two calls never
  read the same pointer, so the queue's first ring goes round member by member.
* Idempotent events. A PBX retries webhooks; `(call_id, event)` is unique, so the
  same event twice changes nothing and a missed call opens exactly one request. The
  request, its callback task and the notifications commit in one transaction.

Functions take the caller's session and "now" and never commit.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from desk import crm, notify, sla
from desk.absence import away_now, on_duty
from desk.calendar import get_calendar
from desk.errors import DeskError
from desk.models import Base, Request, Task, User
from desk.phones import DEFAULT_REGION, format_phone
from desk.telephony import CallContext, Employee, RouteDecision, RouteReason, missed_call_request, route_call

__all__ = [
    "EVENTS",
    "Call",
    "CallEvent",
    "CallEventInput",
    "CallPayloadError",
    "CallRotation",
    "EventOutcome",
    "RouteInput",
    "decision_of",
    "parse_event",
    "parse_route",
    "record_event",
    "route_incoming",
]

EVENTS = ("started", "answered", "ended", "missed")
# A later status never gives way to an earlier one, whatever order the webhooks arrive in.
_STATUS_RANK = {"routed": 0, "started": 1, "answered": 2, "ended": 3, "missed": 4}
_MAX = {
    "call_id": 128,
    "event": 16,
    "caller": 64,
    "called": 64,
    "extension": 16,
    "agent": 64,
    "recording_url": 2048,
}


class CallPayloadError(DeskError, ValueError):
    """The PBX sent a body this API cannot use; `field` names the part to fix."""

    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field, problem
        super().__init__(f"Field {field!r} {problem}. The JSON contract is in README, section Telephony API.")


class Call(Base):
    """One call as the PBX reported it, with whom we told it to ring and what became of it.

    `ring` is None until the call is routed; `rotation` is the queue position its
    routing used (None when the queue was not consulted).
    """

    __tablename__ = "call"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128), unique=True)
    caller: Mapped[str] = mapped_column(String(64), default="")
    caller_e164: Mapped[str | None] = mapped_column(String(20), index=True)
    called: Mapped[str] = mapped_column(String(64), default="")
    extension: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="routed")
    route_reason: Mapped[str | None] = mapped_column(String(16))
    queue: Mapped[str | None] = mapped_column(String(64))
    ring: Mapped[list[Any] | None]
    rotation: Mapped[int | None] = mapped_column(Integer)
    routed_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    answered_by: Mapped[str | None] = mapped_column(String(64))
    ended_at: Mapped[datetime | None]
    missed_at: Mapped[datetime | None]
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    recording_url: Mapped[str | None] = mapped_column(String(2048))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("request.id"), index=True)
    callback_task_id: Mapped[int | None] = mapped_column(ForeignKey("desk_task.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CallEvent(Base):
    """One webhook the PBX sent about a call; unique per call and event, so retries are no-ops."""

    __tablename__ = "call_event"
    __table_args__ = (UniqueConstraint("call_id", "event", name="uq_call_event_call_event"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128))
    event: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    received_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CallRotation(Base):
    """A queue's round-robin pointer: how many queue-routed calls it has taken so far."""

    __tablename__ = "call_rotation"
    queue: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


# ------------------------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class RouteInput:
    """A routing question from the PBX; `call_id` is ours to invent when it sends none."""

    call: CallContext
    call_id: str | None


@dataclass(frozen=True)
class CallEventInput:
    """One call event from the PBX, checked."""

    call_id: str
    event: str
    at: datetime | None
    caller: str | None
    called: str | None
    extension: str | None
    agent: str | None
    recording_url: str | None
    duration_seconds: int | None
    payload: Mapping[str, Any]


def parse_route(data: Any) -> RouteInput:
    """Check a `/route` body: `caller` and `called` are required, `extension` and `call_id` optional."""
    body = _object(data)
    call = CallContext(
        caller=_required(body, "caller"),
        called=_required(body, "called"),
        extension=_text(body, "extension") or None,
    )
    return RouteInput(call=call, call_id=_text(body, "call_id") or None)


def parse_event(data: Any) -> CallEventInput:
    """Check an `/event` body; unknown events and malformed times are refused, naming the field."""
    body = _object(data)
    call_id = _required(body, "call_id")
    if not call_id:
        raise CallPayloadError("call_id", "must not be empty")
    event = _required(body, "event")
    if event not in EVENTS:
        raise CallPayloadError("event", f"is {event!r}; use one of {', '.join(EVENTS)}")
    return CallEventInput(
        call_id=call_id,
        event=event,
        at=_moment(body.get("at")),
        caller=_text(body, "caller"),
        called=_text(body, "called"),
        extension=_text(body, "extension") or None,
        agent=_text(body, "agent") or None,
        recording_url=_url(body.get("recording_url")),
        duration_seconds=_duration(body.get("duration")),
        payload=body,
    )


def _object(data: Any) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise CallPayloadError("(body)", f"must be a JSON object, not {type(data).__name__}")
    return data


def _required(body: Mapping[str, Any], field: str) -> str:
    value = _text(body, field)
    if value is None:
        raise CallPayloadError(field, "is required")
    return value


def _text(body: Mapping[str, Any], field: str) -> str | None:
    """A string field; PBXs often send numbers as JSON numbers, so integers are read as digits."""
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise CallPayloadError(field, f"must be a string, not {type(value).__name__}")
    text = str(value).strip()
    if len(text) > _MAX[field]:
        raise CallPayloadError(field, f"is longer than {_MAX[field]} characters")
    return text


def _moment(value: Any) -> datetime | None:
    """ISO 8601 with an offset, or Unix seconds (what Asterisk's dialplan gives most easily)."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise CallPayloadError("at", "must be a finite number of Unix seconds")
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str):
        raise CallPayloadError(
            "at", f"must be an ISO 8601 string or Unix seconds, not {type(value).__name__}"
        )
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CallPayloadError("at", f"is {value[:40]!r}, not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise CallPayloadError("at", "has no time zone; write it like 2026-11-23T10:00:00+03:00")
    return moment


def _url(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > _MAX["recording_url"]:
        raise CallPayloadError("recording_url", "must be a URL string of at most 2048 characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CallPayloadError("recording_url", f"is {value[:60]!r}; give an http(s) URL")
    return value


def _duration(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 10**7:
        raise CallPayloadError("duration", "must be a number of seconds, 0 or more")
    return round(value)


# ------------------------------------------------------------------------------------ routing


def route_incoming(
    session: Session,
    call: CallContext,
    *,
    call_id: str | None,
    queue_group: str,
    now: datetime,
    region: str = DEFAULT_REGION,
) -> Call:
    """Route a call and log it; asking again for a call already routed gives the same answer.

    A PBX that retries a timed-out `/route` must not move the queue on twice, so the
    stored decision of a known call id is returned as it is.
    """
    row = _lock_or_create_call(session, call_id or uuid.uuid4().hex, call, now)
    if row.routed_at is None:
        _route(session, row, queue_group=queue_group, now=now, region=region)
    return row


def decision_of(row: Call) -> RouteDecision:
    """The routing decision stored with a call."""
    return RouteDecision(
        ring=tuple(row.ring or ()),
        reason=RouteReason(row.route_reason or RouteReason.NOBODY),
        caller_e164=row.caller_e164,
        queue=row.queue,
        next_rotation=None,
    )


def _route(session: Session, row: Call, *, queue_group: str, now: datetime, region: str) -> None:
    _insert_ignore(session, CallRotation, {"queue": queue_group, "position": 0, "updated_at": now}, "queue")
    rotation = session.scalars(
        select(CallRotation).where(CallRotation.queue == queue_group).with_for_update()
    ).one()
    decision = route_call(
        CallContext(row.caller, row.called, row.extension),
        employees=_employees(session, now),
        responsible_for=lambda e164: _responsible(session, e164),
        queue_group=queue_group,
        rotation=rotation.position,
        region=region,
    )
    if decision.next_rotation is not None:
        row.rotation = rotation.position
        rotation.position = decision.next_rotation
        rotation.updated_at = now
    row.ring = list(decision.ring)
    row.route_reason = str(decision.reason)
    row.queue = decision.queue
    row.caller_e164 = decision.caller_e164
    row.routed_at = row.updated_at = now


def _employees(session: Session, now: datetime) -> list[Employee]:
    """Everyone the PBX may ring; on duty means the flag and no absence now (desk.absence)."""
    away = away_now(session, now)
    users = session.scalars(select(User).where(User.active.is_(True)))
    return [
        Employee(
            u.username,
            u.extension,
            on_duty(bool(u.on_duty), u.username, away),
            frozenset(u.groups or ()),
            away[u.username].substitute if u.username in away else None,
        )
        for u in users
    ]


def _responsible(session: Session, e164: str) -> str | None:
    contact = crm.find_contact(session, phone_e164=e164)
    return contact.responsible if contact else None


def _lock_call(session: Session, call_id: str) -> Call | None:
    return session.scalars(select(Call).where(Call.call_id == call_id).with_for_update()).first()


def _lock_or_create_call(session: Session, call_id: str, call: CallContext, now: datetime) -> Call:
    """The call's row, locked; created first if new (two webhooks racing create it once)."""
    values = {
        "call_id": call_id,
        "caller": call.caller,
        "called": call.called,
        "extension": call.extension,
        "status": "routed",
        "created_at": now,
        "updated_at": now,
    }
    _insert_ignore(session, Call, values, "call_id")
    return session.scalars(select(Call).where(Call.call_id == call_id).with_for_update()).one()


def _insert_ignore(session: Session, model: type[Base], values: Mapping[str, Any], key: str) -> None:
    """INSERT … ON CONFLICT DO NOTHING: creating a shared row may race; the loser uses the winner's."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(model).values(**values).on_conflict_do_nothing(index_elements=[key]))


# ------------------------------------------------------------------------------------ events


@dataclass(frozen=True)
class EventOutcome:
    """What an event did: `duplicate` when it had been recorded before; the request a missed call opened."""

    call: Call
    duplicate: bool
    request: Request | None = None
    callback_task: Task | None = None


def record_event(
    session: Session,
    event: CallEventInput,
    *,
    queue_group: str,
    now: datetime,
    region: str = DEFAULT_REGION,
) -> EventOutcome:
    """Record one PBX event; a missed call becomes a request, a callback task and notifications.

    A call the desk has not routed (the PBX did its own routing) is logged from the event,
    which then needs `caller`; a missed one is routed on the spot so that its callback goes
    to the contact's responsible or the next person in the queue, as a routed call's would.
    """
    row = _lock_call(session, event.call_id)
    if row is None:
        if event.caller is None:
            raise CallPayloadError(
                "caller", "is required for a call this desk has not routed (no /route with this call_id)"
            )
        call = CallContext(event.caller, event.called or "", event.extension)
        row = _lock_or_create_call(session, event.call_id, call, now)
    seen = session.scalars(
        select(CallEvent.id).where(CallEvent.call_id == row.call_id, CallEvent.event == event.event)
    ).first()
    if seen is not None:
        return EventOutcome(
            row,
            duplicate=True,
            request=session.get(Request, row.request_id) if row.request_id else None,
            callback_task=session.get(Task, row.callback_task_id) if row.callback_task_id else None,
        )
    at = event.at or now
    session.add(
        CallEvent(call_id=row.call_id, event=event.event, at=at, received_at=now, payload=dict(event.payload))
    )
    _apply(row, event, at)
    row.updated_at = now
    if event.event != "missed":
        return EventOutcome(row, duplicate=False)
    if row.routed_at is None:
        _route(session, row, queue_group=queue_group, now=now, region=region)
    request, task = _open_missed_call(session, row, at=at, now=now, region=region)
    return EventOutcome(row, duplicate=False, request=request, callback_task=task)


def _apply(row: Call, event: CallEventInput, at: datetime) -> None:
    if event.event == "started":
        row.started_at = at
    elif event.event == "answered":
        row.answered_at, row.answered_by = at, event.agent or row.answered_by
    elif event.event == "ended":
        row.ended_at = at
    else:
        row.missed_at = at
    if event.duration_seconds is not None:
        row.duration_seconds = event.duration_seconds
    if event.recording_url:
        row.recording_url = event.recording_url
    if _STATUS_RANK[event.event] > _STATUS_RANK.get(row.status, 0):
        row.status = event.event


def _open_missed_call(
    session: Session, row: Call, *, at: datetime, now: datetime, region: str
) -> tuple[Request, Task | None]:
    """Request + callback task + in-app notifications for a missed call, in the caller's transaction."""
    calendars = crm.calendars(session)
    local = at.astimezone(ZoneInfo(get_calendar("support", calendars).tz))
    decision = decision_of(row)
    plan = missed_call_request(
        CallContext(row.caller, row.called, row.extension), decision, local, region=region
    )
    contact = crm.find_contact(session, phone_e164=decision.caller_e164) if decision.caller_e164 else None
    spec = plan["request"]
    request = crm.create_request(
        session,
        now=now,
        channel="phone",
        subject=spec["subject"],
        body=spec["body"],
        contact=contact,
        created_at=min(at, now),
    )
    request.external_id = f"call:{row.id}"
    row.request_id = request.id
    callback = plan["callback_task"]
    if callback is None:
        return request, None
    task = crm.create_task(
        session,
        now=now,
        title=callback["title"],
        assignee=callback["assignee"],
        request=request,
        description=spec["body"]
        + ("" if callback["assignee"] else f"\nГруппа: {callback['candidate_group']}"),
        deadline=sla.resolve_by(
            request.created_at, None, request.priority, crm.sla_policies(session), calendars
        ),
        idempotency_key=f"call:{row.id}:callback",
    )
    row.callback_task_id = task.id
    recipients = (
        [callback["assignee"]]
        if callback["assignee"]
        else [u.username for u in crm.users_in_group(session, callback["candidate_group"] or "")]
    )
    shown = format_phone(decision.caller_e164, region) if decision.caller_e164 else callback["phone"]
    payload = {**crm.request_payload(request), "caller": shown, "phone": callback["phone"]}
    ids = []
    for username in recipients:
        user = crm.find_user(session, username)
        note = notify.enqueue(
            session,
            now=now,
            recipient=username,
            channel="in_app",
            template="missed_call",
            payload=payload,
            idempotency_key=f"call:{row.id}:missed:{username}",
            language=user.language if user else "ru",
            request_id=request.id,
        )
        ids.append(note.id)
    notify.deliver_in_app(session, now=now, ids=ids)
    return request, task
