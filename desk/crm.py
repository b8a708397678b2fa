"""Requests, contacts, deals and tasks: the operations handlers and the web call.

Each function takes the caller's session and "now"; it never commits, so a handler's
change and the notifications it causes land in one transaction (the outbox rule).
Status changes always go through `change_status`, which keeps the stage totals and the
pickup/processing facts right; the request's creation time is never touched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Text, bindparam, cast, func, select, text
from sqlalchemy.orm import Session, object_session

from desk import sla
from desk.calendar import Calendar, get_calendar, next_working_moment
from desk.errors import DeskError
from desk.models import (
    STATUSES,
    CalendarRow,
    Company,
    Contact,
    Deal,
    Request,
    RouteRule,
    SlaPolicyRow,
    StatusChange,
    Task,
    User,
)
from desk.session_reads import core_rows, flush_for, per_process

CLOSED_STATUSES = ("done", "closed", "rejected", "cancelled")


class RequestNotFoundError(DeskError, LookupError):
    """No request has that id or number."""

    def __init__(self, ref: Any) -> None:
        self.ref = ref
        super().__init__(f"No request {ref!r}; search the request list by number.")


class InvalidStatusError(DeskError, ValueError):
    """A status outside the request life cycle."""

    def __init__(self, status: str) -> None:
        self.status = status
        super().__init__(f"Unknown request status {status!r}; use one of {', '.join(STATUSES)}.")


def calendars(session: Session) -> dict[str, Calendar]:
    """The calendars admins maintain, falling back to the two seeded defaults.

    Kept while the table's read token stays (desk.session_reads.per_process: every request asks
    several times), so an admin's edit counts from the next transaction in any process; the
    parsing is cached too, keyed by the stored text itself.
    """
    return per_process(session, "crm.calendars", (CalendarRow,), lambda: _read_calendars(session))


_CALENDARS = select(CalendarRow.name, cast(CalendarRow.data, Text))


def _read_calendars(session: Session) -> dict[str, Calendar]:
    from desk.calendar import DEFAULT_CALENDARS

    rows = core_rows(session, _CALENDARS)
    return {**DEFAULT_CALENDARS, **{name: _stored_calendar(data) for name, data in rows}}


@lru_cache(maxsize=64)
def _stored_calendar(data: str) -> Calendar:
    return Calendar.from_dict(json.loads(data))


def sla_policies(session: Session) -> tuple[sla.SlaPolicy, ...]:
    """The built-in policies, then the admins' in their order; kept while the table's read token stays."""
    return per_process(session, "crm.sla_policies", (SlaPolicyRow,), lambda: _read_sla_policies(session))


_SLA_POLICIES = select(
    SlaPolicyRow.category, SlaPolicyRow.priority, SlaPolicyRow.resolve_within, SlaPolicyRow.calendar
).order_by(SlaPolicyRow.id)


def _read_sla_policies(session: Session) -> tuple[sla.SlaPolicy, ...]:
    return sla.DEFAULT_POLICIES + tuple(sla.SlaPolicy(*row) for row in core_rows(session, _SLA_POLICIES))


def get_request(session: Session, request_id: int | str) -> Request:
    held = _held(session)
    if isinstance(request_id, str) and request_id.upper().startswith("REQ-"):
        found = session.scalars(select(Request).where(Request.number == request_id.upper())).first()
    elif isinstance(request_id, int) or (request_id.isascii() and request_id.isdigit()):
        found = session.get(Request, int(request_id)) if int(request_id) < 2**63 else None
    else:
        found = None  # neither a number nor REQ-…: names no request
    if found is None:
        raise RequestNotFoundError(request_id)
    if held is None:
        held = {}
        session.info[_HELD] = (session.get_transaction(), held)
    held.pop(found.id, None)
    held[found.id] = found
    if len(held) > _HELD_MAX:
        del held[next(iter(held))]
    return found


_HELD = "desk.crm.held_requests"
_HELD_MAX = 32


def _held(session: Session) -> dict[int, Request] | None:
    """The requests this transaction read, kept referenced until it ends; None in a new one.

    The session's identity map holds objects weakly: a request the handler no longer refers to
    (and has no pending change) is collected, so the next handler of the same step read it
    from the database again. Held here, `session.get` finds it. Only within the transaction
    that read it: sessions do not expire on commit, so a request held across transactions would
    hide other sessions' commits from the next one. Bounded, for transactions reading many.
    """
    owner, held = session.info.get(_HELD, (None, None))
    if held is not None and (owner is None or owner is not session.get_transaction()):
        del session.info[_HELD]
        return None
    return held


def request_number(request_id: int) -> str:
    return f"REQ-{request_id:06d}"


def create_request(
    session: Session,
    *,
    now: datetime,
    channel: str,
    subject: str,
    body: str = "",
    contact: Contact | None = None,
    requester_email: str | None = None,
    priority: str = "normal",
    created_at: datetime | None = None,
    linked_to: Request | None = None,
) -> Request:
    """Register a request; its number is derived from its id, so numbers never repeat."""
    created = created_at or now
    support = get_calendar("support", calendars(session))
    request = Request(
        channel=channel,
        subject=subject[:500],
        body=body,
        contact_id=contact.id if contact else None,
        requester_email=requester_email or (contact.email if contact else None),
        priority=priority if priority in ("high", "normal", "low") else "normal",
        status="new",
        created_at=created,
        arrived_at=next_working_moment(created, support),
        status_changed_at=created,
        stage_totals={},
        linked_to_id=linked_to.id if linked_to else None,
    )
    session.add(request)
    session.flush()
    request.number = request_number(request.id)
    return request


def change_status(
    session: Session,
    request: Request,
    status: str,
    *,
    now: datetime,
    by: str | None = None,
    reason: str | None = None,
) -> None:
    """Move a request to `status`, adding the time spent in the old one to its stage totals."""
    if status not in STATUSES:
        raise InvalidStatusError(status)
    if status == request.status:
        return
    support = get_calendar("support", calendars(session))
    entered = request.status_changed_at or request.created_at
    totals = sla.record_status_change(request.stage_totals or {}, request.status, entered, now, support)
    spent = totals[request.status]
    before = sla.StageTotals(request.stage_totals or {}).get(request.status, sla.StageTime(0.0, 0.0))
    session.add(
        StatusChange(
            request_id=request.id,
            from_status=request.status,
            to_status=status,
            at=now,
            by=by,
            reason=reason[:500] if reason else None,
            working_minutes=spent.working_minutes - before.working_minutes,
            wall_minutes=spent.wall_minutes - before.wall_minutes,
        )
    )
    request.stage_totals = totals.to_dict()
    request.status = status
    request.status_changed_at = now


def set_category(session: Session, request: Request, category: str | None, score: float | None) -> None:
    request.category = category
    request.classify_score = score


def set_resolve_by(session: Session, request: Request, override: tuple[str, str] | None = None) -> datetime:
    """Compute resolve-by from the creation time (never from the moment the category arrived).

    `override` is (resolve_within, calendar) from a decision table, which then beats the policies.
    """
    policies = sla_policies(session)
    if override is not None:
        policies = (sla.SlaPolicy(sla.ANY, sla.ANY, override[0], override[1]),)
    due = sla.resolve_by(request.created_at, request.category, request.priority, policies, calendars(session))
    request.resolve_by = due
    return due


def take_into_work(session: Session, request: Request, *, now: datetime, assignee: str | None) -> sla.Pickup:
    """Record the pickup: the first assignment, measured on the support calendar from arrival."""
    if assignee:
        request.assignee = assignee
    if request.taken_at is None:
        request.taken_at = now
        measured = sla.pickup(request.created_at, now, calendars(session))
        request.pickup_minutes = round(measured.minutes, 2)
        request.pickup_late = measured.late
        request.pickup_overrun_minutes = round(measured.overrun_minutes, 2)
    change_status(session, request, "assigned", now=now, by=assignee)
    return sla.Pickup(
        request.pickup_minutes or 0.0, bool(request.pickup_late), request.pickup_overrun_minutes or 0.0
    )


def close_request(session: Session, request: Request, outcome: str, *, now: datetime) -> None:
    """Finish a request: done (processing time + bucket + SLA met) or rejected."""
    status = "rejected" if outcome == "rejected" else "done"
    request.done_at = now
    taken = request.taken_at or request.arrived_at or request.created_at
    minutes = sla.processing_minutes(taken, now, calendars(session))
    request.processing_minutes = round(minutes, 2)
    request.processing_bucket = sla.bucket(minutes)
    if request.resolve_by is not None:
        request.sla_met = now <= request.resolve_by
    change_status(session, request, status, now=now)


def route(session: Session, category: str | None) -> RouteRule:
    """The routing rule for a category (admin-edited); unknown categories go to the dispatchers."""
    wanted = category or "*"
    rules = per_process(session, ("crm.route", wanted), (RouteRule,), lambda: _read_rules(session, wanted))
    rule = next((r for r in rules if r.category == wanted), None) or next(
        (r for r in rules if r.category == "*"), None
    )
    return rule or RouteRule(
        category="*", dispatcher_group="dispatchers", executor=None, needs_approval=False, approvers=[]
    )


_RULES = (
    select(
        RouteRule.id,
        RouteRule.category,
        RouteRule.dispatcher_group,
        RouteRule.executor,
        RouteRule.needs_approval,
        RouteRule.approvers,
    )
    .where(RouteRule.category.in_(bindparam("categories", expanding=True)))
    .order_by(RouteRule.id)
)


def _read_rules(session: Session, category: str) -> tuple[RouteRule, ...]:
    """The category's rule and the catch-all one, in one statement (as unattached rows: read only)."""
    rows = core_rows(session, _RULES, {"categories": sorted({category, "*"})})
    return tuple(RouteRule(**row._mapping) for row in rows)


_TASK_BY_KEY = select(Task.id).where(Task.idempotency_key == bindparam("key"))


def create_task(
    session: Session,
    *,
    now: datetime,
    title: str,
    assignee: str | None,
    request: Request | None = None,
    description: str = "",
    deadline: datetime | None = None,
    idempotency_key: str | None = None,
) -> Task:
    """Create a task once per idempotency key, so a re-run job does not duplicate it."""
    if idempotency_key:
        flush_for(session, Task)
        existing = core_rows(session, _TASK_BY_KEY, {"key": idempotency_key})
        if existing:
            return session.get(Task, existing[0].id)
    task = Task(
        title=title[:255],
        description=description,
        assignee=assignee,
        deadline=deadline,
        status="open",
        request_id=request.id if request else None,
        created_at=now,
        idempotency_key=idempotency_key,
    )
    session.add(task)
    session.flush()
    return task


def users_in_group(session: Session, group: str) -> list[User]:
    return [
        u for u in session.scalars(select(User).where(User.active.is_(True))) if group in (u.groups or [])
    ]


def find_user(session: Session, username: str | None) -> User | None:
    if not username:
        return None
    return session.scalars(select(User).where(User.username == username)).first()


def sync_deal_contacts(session: Session, deal: Deal, *, now: datetime) -> dict[int, tuple[str | None, str]]:
    """Give each contact of the deal the responsible of its most recently updated deal.

    Returns contact id -> (old, new) for the contacts that changed; running it again
    changes nothing (idempotent), whichever order deals are processed in.
    """
    changed: dict[int, tuple[str | None, str]] = {}
    for contact in deal.contacts:
        target = most_recent_responsible(session, contact)
        if target and contact.responsible != target:
            changed[contact.id] = (contact.responsible, target)
            contact.responsible = target
            contact.updated_at = now
    return changed


def most_recent_responsible(session: Session, contact: Contact) -> str | None:
    from desk.models import deal_contact

    return session.scalars(
        select(Deal.responsible)
        .join(deal_contact, deal_contact.c.deal_id == Deal.id)
        .where(deal_contact.c.contact_id == contact.id, Deal.responsible.is_not(None))
        .order_by(Deal.updated_at.desc(), Deal.id.desc())
        .limit(1)
    ).first()


def find_contact(
    session: Session, *, email: str | None = None, phone_e164: str | None = None
) -> Contact | None:
    if email:
        found = session.scalars(_CONTACT_BY_EMAIL, {"email": email.lower()}).first()
        if found is not None:
            return found
    if phone_e164:
        return session.scalars(_CONTACT_BY_PHONE, {"phone": phone_e164}).first()
    return None


# Built once: building the statement cost more than running it, on every matched request.
_CONTACT_BY_EMAIL = select(Contact).where(Contact.email == bindparam("email"))
_CONTACT_BY_PHONE = select(Contact).where(Contact.phone_e164 == bindparam("phone"))


def get_or_create_contact(
    session: Session,
    *,
    now: datetime,
    email: str | None = None,
    name: str = "",
    phone_e164: str | None = None,
) -> Contact:
    """Match by e-mail or phone; never duplicate a contact."""
    contact = find_contact(session, email=email, phone_e164=phone_e164)
    if contact is None:
        contact = Contact(
            name=name or (email or phone_e164 or ""),
            email=email.lower() if email else None,
            phones=[phone_e164] if phone_e164 else [],
            phone_e164=phone_e164,
            created_at=now,
            updated_at=now,
        )
        session.add(contact)
        session.flush()
    return contact


# Serialises contact matching on PostgreSQL, so two requests at once with one new e-mail make one contact.
_CONTACT_LOCK = 7_402_931_115


def match_contact(
    session: Session, *, now: datetime, name: str, email: str | None, phone_e164: str | None
) -> Contact:
    """The contact with this e-mail (or else this E.164 phone), created if none; blanks on it are filled in.

    The one matching every door uses (public form, the manager's client card), so a client
    who writes from one address and calls from one number stays one contact.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CONTACT_LOCK})
    contact = get_or_create_contact(session, now=now, email=email, name=name, phone_e164=phone_e164)
    changed = False
    if email and not contact.email:
        contact.email, changed = email.lower(), True
    if phone_e164 and not contact.phone_e164:
        contact.phone_e164, changed = phone_e164, True
    if phone_e164 and phone_e164 not in (contact.phones or []):
        contact.phones, changed = [*(contact.phones or []), phone_e164], True
    if not contact.name and name:
        contact.name, changed = name, True
    if changed:
        contact.updated_at = now
    return contact


def match_company(session: Session, *, name: str, inn: str | None = None) -> Company | None:
    """The company with this INN (or else this name, case aside), created if none; None without either.

    A manager typing a client's company twice must not make two companies.
    """
    name, inn = (name or "").strip(), (inn or "").strip() or None
    found = None
    if inn:
        found = session.scalars(select(Company).where(Company.inn == inn)).first()
    if found is None and name:
        # Case aside in Python: SQLite's lower() and a C-collated PostgreSQL fold only ASCII.
        wanted = name.casefold()
        same_length = session.scalars(select(Company).where(func.length(Company.name) == len(name)))
        found = next((c for c in same_length if c.name.casefold() == wanted), None)
    if found is None and (name or inn):
        found = Company(name=name or inn, inn=inn)
        session.add(found)
        session.flush()
    elif found is not None and inn and not found.inn:
        found.inn = inn
    return found


def request_payload(request: Request, names: Mapping[str, str] | None = None) -> Mapping[str, Any]:
    """What templates and notifications say about a request (people by name: `assignee_name`).

    `names` (username -> full name) is the staff the caller read already, the assignee among
    them if they are staff: then no statement is needed for the name.
    """
    assignee_name = request.assignee
    if names is not None:
        assignee_name = names.get(request.assignee or "") or request.assignee
    elif (session := object_session(request)) is not None and request.assignee:
        found = session.scalars(select(User.full_name).where(User.username == request.assignee)).first()
        assignee_name = found or request.assignee
    return {
        "assignee_name": assignee_name,
        "request_id": request.id,
        "number": request.number,
        "subject": request.subject,
        "status": request.status,
        "category": request.category,
        "priority": request.priority,
        "assignee": request.assignee,
        "resolve_by": request.resolve_by.isoformat() if request.resolve_by else None,
    }
