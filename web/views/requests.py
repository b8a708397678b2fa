"""Request list and card: messages, status history with time in stage, SLA clock, tasks, notifications,
and the process diagram showing where the request stands.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from desk import crm, notify, sla
from desk.billing import Invoice
from desk.calendar import get_calendar
from desk.messages import MailMessage
from desk.models import STATUSES, Deal, Notification, Request, RouteRule, StatusChange, Task, User
from desk.public_form import RequestAttachment
from engine.diagram import DiagramError, render_svg
from engine.errors import EngineError
from engine.store import Instance, ProcessDefinition, Resource, UserTask
from web.i18n import translate, working_time_text
from web.security import permission_required

bp = Blueprint("requests", __name__, url_prefix="/requests")
PAGE = 25
NUMBER = re.compile(r"^(?:REQ-)?0*(\d{1,9})$", re.IGNORECASE)
SORTS = {"created": Request.id, "resolve_by": Request.resolve_by, "status": Request.status}


def _sessions():
    return current_app.extensions["sessions"]


@bp.get("/")
@permission_required("read", "request")
def index() -> ResponseReturnValue:
    try:
        page = max(int(request.args.get("page", 1) or 1), 1)
    except ValueError:
        abort(400, translate("page must be a whole number."))
    now = current_app.extensions["runtime"].now()
    conditions = _conditions(now)
    column = SORTS.get(request.args.get("sort", "created"), Request.id)
    order = column.asc() if request.args.get("dir") == "asc" else column.desc()
    with _sessions()() as session:
        rows = session.scalars(
            select(Request)
            .where(*conditions)
            .order_by(order, Request.id.desc())
            .offset((page - 1) * PAGE)
            .limit(PAGE)
        ).all()
        total = session.scalar(select(func.count()).select_from(Request).where(*conditions)) or 0
        categories = sorted(
            {c for c in session.scalars(select(RouteRule.category)) if c != "*"}
            | {
                c
                for c in session.scalars(
                    select(Request.category).where(Request.category.is_not(None)).distinct()
                )
            }
        )
        assignees = session.scalars(
            select(User.username).where(User.active.is_(True)).order_by(User.username)
        ).all()
    return render_template(
        "requests.html",
        requests=rows,
        total=total,
        page=page,
        pages=max(-(-total // PAGE), 1),
        statuses=STATUSES,
        categories=categories,
        assignees=assignees,
        now=now,
    )


def _conditions(now) -> list[Any]:
    """Filters from the query string: number or text, status, category, assignee, overdue."""
    conditions: list[Any] = []
    if text := (request.args.get("q") or "").strip():
        number = NUMBER.match(text)
        if number:
            conditions.append(Request.number == crm.request_number(int(number.group(1))))
        else:
            like = f"%{text}%"
            conditions.append(or_(Request.subject.ilike(like), Request.body.ilike(like)))
    for column in ("status", "category", "assignee", "channel"):
        if value := request.args.get(column):
            conditions.append(getattr(Request, column) == value)
    if request.args.get("overdue"):
        conditions.append(Request.resolve_by < now)
        conditions.append(Request.status.not_in(crm.CLOSED_STATUSES))
    return conditions


@bp.get("/<number>")
@permission_required("read", "request")
def show(number: str) -> ResponseReturnValue:
    runtime = current_app.extensions["runtime"]
    now = runtime.now()
    with _sessions()() as session:
        try:
            req = crm.get_request(session, number)
        except (crm.RequestNotFoundError, ValueError):
            abort(404, translate("No request %s; search the request list.") % number)
        changes = session.scalars(
            select(StatusChange).where(StatusChange.request_id == req.id).order_by(StatusChange.id)
        ).all()
        desk_tasks = session.scalars(select(Task).where(Task.request_id == req.id).order_by(Task.id)).all()
        notes = session.scalars(
            select(Notification).where(Notification.request_id == req.id).order_by(Notification.id)
        ).all()
        messages = session.scalars(
            select(MailMessage)
            .where(MailMessage.request_id == req.id)
            .order_by(MailMessage.at, MailMessage.id)
        ).all()
        thread = conversation(messages, notes, req.requester_email)
        open_tasks = (
            session.scalars(
                select(UserTask)
                .where(UserTask.instance_id == req.instance_id, UserTask.status == "open")
                .order_by(UserTask.created_at)
            ).all()
            if req.instance_id
            else []
        )
        sla_clock = _sla_clock(session, req, now)
        # The history cleanup (or an erasure) may have removed the process under a finished request.
        process_expired = bool(req.instance_id) and session.get(Instance, req.instance_id) is None
        deals = session.scalars(select(Deal).where(Deal.request_id == req.id)).all()
        invoices = session.scalars(
            select(Invoice).where(Invoice.request_id == req.id).order_by(Invoice.seq)
        ).all()
        attachments = session.execute(
            select(RequestAttachment.id, RequestAttachment.filename, RequestAttachment.size)
            .where(RequestAttachment.request_id == req.id)
            .order_by(RequestAttachment.id)
        ).all()
    diagram = _diagram(runtime, req.instance_id) if req.instance_id and not process_expired else None
    return render_template(
        "request.html",
        req=req,
        changes=changes,
        tasks=desk_tasks,
        notes=notes,
        messages=messages,
        thread=thread,
        open_tasks=open_tasks,
        sla=sla_clock,
        stage_totals=sla.StageTotals(req.stage_totals or {}),
        current_stage_minutes=(now - req.status_changed_at).total_seconds() / 60
        if req.status_changed_at
        else None,
        diagram=diagram,
        process_expired=process_expired,
        attachments=attachments,
        deals=deals,
        invoices=invoices,
        reply_token=uuid.uuid4().hex,
    )


@dataclass(frozen=True)
class ThreadEntry:
    """One message of a request's conversation ("Переписка"), incoming or ours, with its delivery state."""

    at: datetime
    direction: str  # "in" | "out"
    sender: str  # a person's login (ours) or a display name (theirs)
    address: str
    subject: str
    body: str
    quoted: str = ""
    delivery: str | None = None  # the outbox status of our message: pending, sending, sent, failed, …
    note: str = ""  # a mail ingest action worth showing (duplicate, reopened, …)


def conversation(
    messages: Sequence[MailMessage], notes: Sequence[Notification], requester: str | None
) -> list[ThreadEntry]:
    """The full thread: the mail we received and sent, plus our e-mails to the requester still in the outbox.

    A reply written on the card is an outbox row first and a mail_message row only once the
    sender has handed it to the mail server; the thread shows it from the first moment, with
    the outbox's state, and does not show it twice afterwards.
    """
    by_id = {n.id: n for n in notes}
    recorded = {m.notification_id for m in messages if m.notification_id}
    entries = [
        ThreadEntry(
            at=m.at,
            direction=m.direction,
            sender=(by_id[m.notification_id].payload or {}).get("author", "")
            if m.notification_id in by_id
            else (m.from_name or ""),
            address=m.from_address if m.direction == "in" else (m.to_addresses or ""),
            subject=m.subject,
            body=m.body_text,
            quoted=m.quoted_text or "",
            delivery=by_id[m.notification_id].status if m.notification_id in by_id else None,
            note="" if m.action in ("new", "appended", "sent") else m.action,
        )
        for m in messages
    ]
    entries += [
        ThreadEntry(
            at=n.created_at,
            direction="out",
            sender=(n.payload or {}).get("author", ""),
            address=n.recipient,
            subject=n.subject,
            body=n.body,
            delivery=n.status,
        )
        for n in notes
        if n.channel == "email" and n.recipient == requester and n.id not in recorded
    ]
    return sorted(entries, key=lambda e: e.at if e.at.tzinfo else e.at.replace(tzinfo=UTC))


REPLY_TOKEN = re.compile(r"^[0-9a-f]{32}$")
MAX_REPLY = 20000


@bp.post("/<number>/reply")
@permission_required("reply", "request")
def reply(number: str) -> ResponseReturnValue:
    """E-mail the requester from the card, threaded into the request; it goes out through the outbox.

    The form's one-time token is the idempotency key, so a double click or a resubmitted
    form sends one e-mail.
    """
    text = (request.form.get("text") or "").strip()
    token = request.form.get("reply_token") or ""
    if not REPLY_TOKEN.match(token):
        abort(
            400,
            translate("The reply form has no valid reply_token; reload the request card and write again."),
        )
    if not text or len(text) > MAX_REPLY:
        abort(400, translate("The reply must have between 1 and %d characters of text.") % MAX_REPLY)
    now = current_app.extensions["runtime"].now()
    with _sessions()() as session, session.begin():
        try:
            req = crm.get_request(session, number)
        except (crm.RequestNotFoundError, ValueError):
            abort(404, translate("No request %s; search the request list.") % number)
        if not req.requester_email:
            abort(409, translate("%s has no requester e-mail address to reply to.") % req.number)
        notify.enqueue(
            session,
            now=now,
            recipient=req.requester_email,
            channel="email",
            template="staff_reply",
            payload={"subject": f"Re: {req.subject}", "text": text, "author": current_user.username},
            idempotency_key=f"reply:{req.id}:{token}",
            request_id=req.id,
        )
        number = req.number
    flash(translate("Reply queued for sending."), "ok")
    return redirect(url_for("requests.show", number=number) + "#messages")


@bp.get("/<number>/attachments/<int:attachment_id>")
@permission_required("read", "request")
def attachment(number: str, attachment_id: int) -> ResponseReturnValue:
    """A file from the public form, always as a download (never rendered inline: it is untrusted)."""
    with _sessions()() as session:
        row = session.get(RequestAttachment, attachment_id)
        owner = session.get(Request, row.request_id) if row else None
        if row is None or owner is None or owner.number != number.upper():
            abort(
                404,
                translate("No attachment %(attachment)s on request %(request)s.")
                % {"attachment": attachment_id, "request": number},
            )
    response = send_file(
        BytesIO(row.content), mimetype=row.content_type, as_attachment=True, download_name=row.filename
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _sla_clock(session: Session, req: Request, now) -> dict[str, Any]:
    """Resolve-by with the working time left on the policy's calendar, and the pickup KPI."""
    clock: dict[str, Any] = {"minutes_left": None, "left_text": "", "calendar": None, "policy": None}
    if req.resolve_by is None:
        return clock
    try:
        policy = sla.find_policy(req.category, req.priority, crm.sla_policies(session))
        calendar = get_calendar(policy.calendar, crm.calendars(session))
    except (sla.NoSlaPolicyError, KeyError):
        return clock
    end = req.done_at or req.closed_at or now
    left = sla.working_minutes_left(end, req.resolve_by, calendar)
    clock.update(
        minutes_left=left,
        left_text=working_time_text(left),
        calendar=calendar.name,
        policy=policy.resolve_within,
        running=req.status not in crm.CLOSED_STATUSES,
    )
    return clock


def _diagram(runtime, instance_id: str) -> str | None:
    """The diagram with finished, active and failed elements painted; None when it cannot be drawn.

    Runs after the card's session is closed: SQLite takes its write lock at BEGIN, so two
    sessions open at once in one request would wait on each other.
    """
    with _sessions()() as session:
        found = session.execute(
            select(ProcessDefinition.key, Resource.content)
            .join(Instance, Instance.definition_id == ProcessDefinition.id)
            .join(
                Resource,
                (Resource.deployment_id == ProcessDefinition.deployment_id)
                & (Resource.name == ProcessDefinition.resource_name),
            )
            .where(Instance.id == instance_id)
        ).first()
    if found is None or not found.content:
        return None
    try:
        return render_svg(found.content, process_id=found.key, states=runtime.active_elements(instance_id))
    except (DiagramError, EngineError):
        return None
