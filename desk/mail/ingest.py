"""Inbound e-mail into requests (DESIGN §5): parse, thread, store, notify -- one message at a time.

Every source (IMAP polling, `.eml`/mbox files, `POST /api/email`) hands raw RFC 822 bytes
to `MailIngester.ingest`, which returns an `IngestResult`; the source marks the message
processed only when the result is `settled` (its outcome is committed), so a crash or a
database outage means the message is offered again, and offering it again is harmless:
the Message-ID is unique in `mail_message`, and a second delivery is a `duplicate`.

The decision itself is `desk.mail.threading.decide` over `DbThreadIndex`
(desk.mail.thread_index), a read view of `mail_message` and `request`; a request card's
e-mails are desk.mail.timeline. Appending, reopening and filing an auto-reply are one
transaction with the notifications they cause. A new request is opened by the caller's
`open_request` (web.intake), which commits on its own and starts the process, so a new
message is first claimed (`action="pending"`, raw bytes kept) and finished after the
request exists; a crash in between leaves a pending row that the next delivery or
`resume_stale` completes, adopting the request if it was already created.

A malformed message is stored as `rejected` with its raw bytes for inspection and never
raises: one broken message must not stop a poll or lose the rest of a batch.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from desk import crm, notify
from desk.errors import DeskError
from desk.mail.headers import normalize_message_id
from desk.mail.parse import (
    DEFAULT_MAX_ATTACHMENT_BYTES,
    InboundMessage,
    MalformedMessageError,
    parse_message,
)
from desk.mail.thread_index import PENDING, DbThreadIndex
from desk.mail.threading import DEFAULT_REOPEN_WINDOW, ThreadDecision, decide, thread_ids
from desk.mail.timeline import TimelineAttachment, TimelineEntry, timeline
from desk.messages import MailAttachment, MailMessage
from desk.models import Request, Task
from desk.preferences import reach

__all__ = [
    "ACTIONS",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DbThreadIndex",
    "IngestAction",
    "IngestResult",
    "IngestSettings",
    "MailIngester",
    "SOURCES",
    "TimelineAttachment",
    "TimelineEntry",
    "UnknownSourceError",
    "timeline",
]

log = logging.getLogger(__name__)

IngestAction = Literal["new", "appended", "duplicate", "auto_reply", "reopened", "new_linked", "rejected"]
ACTIONS: tuple[str, ...] = (
    "new",
    "appended",
    "duplicate",
    "auto_reply",
    "reopened",
    "new_linked",
    "rejected",
)
SOURCES = ("imap", "file", "api")
DEFAULT_MAX_MESSAGE_BYTES = 25 * 1024 * 1024
DEFAULT_CLAIM_LEASE = timedelta(minutes=5)
EXCERPT_CHARS = 300


class UnknownSourceError(DeskError, ValueError):
    """`ingest` was told a source that is not one of SOURCES."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__(f"Unknown mail source {source!r}; use one of {', '.join(SOURCES)}.")


class RequestOpenError(DeskError):
    """The request for a new message could not be opened; the message stays claimed (pending) for a retry."""

    def __init__(self, message_id: str, err: Exception) -> None:
        self.message_id = message_id
        super().__init__(
            f"The request for message {message_id} could not be opened ({type(err).__name__}: {err}); "
            "the message is kept as pending and is retried on its next delivery or by `flask mail poll`."
        )


class RequestOpener(Protocol):
    """web.intake.open_request: stores a request, commits, starts its process; returns the request."""

    def __call__(
        self,
        *,
        channel: str,
        subject: str,
        body: str,
        contact_id: int | None,
        requester_email: str | None,
        created_at: datetime | None,
    ) -> Any: ...


@dataclass(frozen=True)
class IngestSettings:
    """Limits and windows of the e-mail channel (from web.config)."""

    reopen_window: timedelta = DEFAULT_REOPEN_WINDOW
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    claim_lease: timedelta = DEFAULT_CLAIM_LEASE


@dataclass(frozen=True)
class IngestResult:
    """What became of one message.

    `settled` is True when the outcome is committed (or nothing needed committing, as for
    a duplicate): only then may the source mark the message processed. `request` is the
    request the message is on now; `linked_to` the finished request a `new_linked` one
    continues; `task_id` the task a reply to a task e-mail was attached to.
    """

    message_id: str | None
    action: IngestAction
    request: str | None
    reason: str
    linked_to: str | None = None
    task_id: int | None = None
    settled: bool = True

    def as_json(self) -> dict[str, Any]:
        """The `--json` line of `flask ingest-email` and the body of POST /api/email."""
        return {
            "message_id": self.message_id,
            "action": self.action,
            "request": self.request,
            "reason": self.reason,
        }


class MailIngester:
    """Turns raw messages into stored messages and requests; one instance per app, safe to reuse."""

    def __init__(
        self,
        sessions: sessionmaker,
        *,
        clock: Callable[[], datetime],
        open_request: RequestOpener,
        settings: IngestSettings | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.open_request = open_request
        self.settings = settings or IngestSettings()

    # ------------------------------------------------------------------ entry points

    def ingest(self, raw: bytes, source: str) -> IngestResult:
        """Ingest one raw message. Malformed input is stored as rejected; database errors propagate."""
        if source not in SOURCES:
            raise UnknownSourceError(source)
        raw = bytes(raw)
        limit = self.settings.max_message_bytes
        if len(raw) > limit:
            return self._reject(
                raw[:limit],
                source,
                f"the message is {len(raw)} bytes, over the {limit}-byte limit (MAIL_MAX_MESSAGE_BYTES); "
                f"its first {limit} bytes are kept",
                digest_of=raw,
            )
        quick_id = _header_message_id(raw)
        attempts = 3
        while True:
            try:
                return self._thread(raw, source, quick_id)
            except MalformedMessageError as err:
                return self._reject(raw, source, err.reason)
            except (IntegrityError, StaleDataError) as err:
                # Another ingester stored the same message, or a handler changed the request
                # meanwhile: decide again on what is stored now.
                attempts -= 1
                if not attempts:
                    raise
                log.info("mail %s: concurrent update (%s), deciding again", quick_id, err)

    def ingest_all(
        self, items: Iterable[tuple[str, bytes]], source: str
    ) -> Iterator[tuple[str, IngestResult]]:
        """Ingest a batch of (label, raw) pairs; one message failing never stops the others.

        A message that fails for a reason other than being malformed (a bug, the database
        gone) is reported unsettled with the error, so its source offers it again.
        """
        if source not in SOURCES:
            raise UnknownSourceError(source)
        for label, raw in items:
            try:
                yield label, self.ingest(raw, source)
            except Exception as err:
                log.exception("mail %s from %s could not be ingested", label, source)
                yield label, self._failed(err)

    def resume_stale(self) -> list[IngestResult]:
        """Finish messages whose ingester stopped after claiming them (pending beyond the lease)."""
        cutoff = self.clock() - self.settings.claim_lease
        with self.sessions() as session:
            stale = session.execute(
                select(MailMessage.message_id, MailMessage.raw, MailMessage.source).where(
                    MailMessage.action == PENDING, MailMessage.at <= cutoff, MailMessage.raw.is_not(None)
                )
            ).all()
        results = []
        for message_id, raw, source in stale:
            source = source if source in SOURCES else "file"
            results.extend(result for _, result in self.ingest_all([(message_id, raw)], source))
        return results

    # ------------------------------------------------------------------ the decision and its effects

    def _thread(self, raw: bytes, source: str, quick_id: str | None) -> IngestResult:
        """Decide and store one message in one transaction (a new request: its claim; see `_open`).

        A re-delivery is answered from its Message-ID header before the message is decoded:
        IMAP re-polls and relays delivering twice make duplicates common, and decoding
        costs far more than the indexed lookup.
        """
        now = self.clock()
        with self.sessions() as session, session.begin():
            index = DbThreadIndex(session)
            if quick_id is not None:
                known = index.stored([quick_id]).get(quick_id)
                if known is not None and known.action != PENDING:
                    number = session.get(Request, known.request_id).number if known.request_id else None
                    return IngestResult(
                        quick_id, "duplicate", number, f"message {quick_id} is already stored"
                    )
            msg = parse_message(raw, self.settings.max_attachment_bytes)
            claim = None
            pending = index.stored([msg.message_id]).get(msg.message_id)
            if pending is not None and pending.action == PENDING:
                claim = session.scalars(
                    select(MailMessage).where(MailMessage.message_id == msg.message_id)
                ).one()
                if now - claim.at < self.settings.claim_lease:
                    return IngestResult(
                        msg.message_id,
                        "duplicate",
                        None,
                        f"message {msg.message_id} is being processed by another ingester since "
                        f"{claim.at.isoformat()}",
                        settled=False,
                    )
                log.warning("mail %s: resuming a claim left pending since %s", msg.message_id, claim.at)
            decision = decide(msg, index, now, self.settings.reopen_window)
            if decision.action == "duplicate":
                return IngestResult(msg.message_id, "duplicate", decision.request, decision.reason)
            task = index.task_for_message_ids(thread_ids(msg))
            if task is not None and decision.action == "new":
                decision = ThreadDecision(
                    "appended", None, None, f"replies to a message of task #{task.task_id}"
                )
            elif task is not None:
                decision = replace(decision, reason=f"{decision.reason}; on task #{task.task_id}")
            task_id = task.task_id if task is not None else None
            if claim is not None and decision.action not in ("new", "new_linked"):
                session.delete(claim)  # the thread changed while it was pending: store it as decided now
                session.flush()
                claim = None
            if decision.action in ("new", "new_linked"):
                row_id = self._claim(session, msg, raw, source, decision, claim, now)
            else:
                request = index.request(decision.request) if decision.request else None
                row = self._store(session, msg, source, decision, request, task_id, now)
                if decision.action != "auto_reply":
                    self._effects(session, msg, decision, request, task_id, row, now)
                return IngestResult(
                    msg.message_id, decision.action, decision.request, decision.reason, None, task_id
                )
        return self._open(msg, decision, row_id, claim.at if claim is not None else now)

    def _store(
        self,
        session: Session,
        msg: InboundMessage,
        source: str,
        decision: ThreadDecision,
        request: Request | None,
        task_id: int | None,
        now: datetime,
        *,
        action: str | None = None,
        raw: bytes | None = None,
    ) -> MailMessage:
        row = MailMessage(
            message_id=msg.message_id,
            direction="in",
            action=action or decision.action,
            reason=decision.reason,
            request_id=request.id if request is not None else None,
            task_id=task_id,
            in_reply_to=msg.in_reply_to,
            references=" ".join(msg.references),
            subject=msg.subject,
            from_address=msg.from_address[:320],
            from_name=msg.from_name[:255],
            to_addresses=", ".join((*msg.to, *msg.cc)),
            body_text=msg.text,
            quoted_text=msg.quoted,
            source=source,
            raw=raw,
            defects="\n".join(msg.defects),
            at=now,
        )
        session.add(row)
        session.flush()
        for attachment in msg.attachments:
            session.add(
                MailAttachment(
                    message_id=row.id,
                    filename=attachment.filename[:255],
                    content_type=attachment.content_type[:255],
                    size=attachment.size,
                    content=attachment.data,
                    truncated=attachment.truncated,
                )
            )
        return row

    def _effects(
        self,
        session: Session,
        msg: InboundMessage,
        decision: ThreadDecision,
        request: Request | None,
        task_id: int | None,
        row: MailMessage,
        now: datetime,
    ) -> None:
        """Contact, reopening and notifications of an appended or reopened message (same transaction)."""
        payload = {
            "sender": msg.from_name or msg.from_address,
            "excerpt": _excerpt(msg.text),
            "number": request.number if request is not None else None,
            "subject": request.subject if request is not None else msg.subject,
        }
        if task_id is not None:
            task = session.get(Task, task_id)
            rule = crm.route(session, request.category if request is not None else None)
            recipients = [u.username for u in crm.users_in_group(session, rule.dispatcher_group)]
            payload["task_title"] = task.title if task is not None else f"#{task_id}"
            _notify(session, recipients, "task_mail_received", payload, row, request, now)
            return
        if request is None or msg.from_address != request.requester_email:  # the requester is a contact
            crm.get_or_create_contact(session, now=now, email=msg.from_address, name=msg.from_name)
        if request is None:
            return
        if decision.action == "reopened":
            crm.change_status(session, request, "in_progress" if request.assignee else "triage", now=now)
            request.done_at = None
            request.closed_at = None
        if request.assignee:
            recipients = [request.assignee]
        elif decision.action == "reopened":
            rule = crm.route(session, request.category)
            recipients = [u.username for u in crm.users_in_group(session, rule.dispatcher_group)]
        else:
            recipients = []
        template = "request_reopened" if decision.action == "reopened" else "mail_received"
        _notify(session, recipients, template, payload, row, request, now)

    def _claim(
        self,
        session: Session,
        msg: InboundMessage,
        raw: bytes,
        source: str,
        decision: ThreadDecision,
        claim: MailMessage | None,
        now: datetime,
    ) -> int:
        """Store the message as pending (with its raw bytes) before its request is opened.

        An unknown sender gets no contact here: service_request.bpmn sends a new client's
        request to a manager, whose card makes the contact (handlers/client_card.py).
        """
        if claim is not None:
            claim.reason = decision.reason
            return claim.id
        return self._store(session, msg, source, decision, None, None, now, action=PENDING, raw=raw).id

    def _open(
        self, msg: InboundMessage, decision: ThreadDecision, row_id: int, claimed_at: datetime
    ) -> IngestResult:
        """Open the request of a claimed message (or adopt one a crashed attempt opened), then settle it."""
        with self.sessions() as session:
            contact = crm.find_contact(session, email=msg.from_address)
            adopted = session.scalars(
                select(Request.id).where(
                    Request.channel == "email",
                    Request.requester_email == msg.from_address,
                    Request.created_at == claimed_at,
                    ~exists().where(MailMessage.request_id == Request.id),
                )
            ).first()
        if adopted is None:
            try:
                opened = self.open_request(
                    channel="email",
                    subject=msg.subject or "(без темы)",
                    body=msg.text,
                    contact_id=contact.id if contact is not None else None,
                    requester_email=msg.from_address,
                    created_at=claimed_at,
                )
            except Exception as err:
                raise RequestOpenError(msg.message_id, err) from err
            request_id = opened.id
        else:
            request_id = adopted
            log.warning("mail %s: adopting request id %s opened before a crash", msg.message_id, request_id)
        with self.sessions() as session, session.begin():
            request = session.get(Request, request_id)
            row = session.get(MailMessage, row_id)
            linked = crm.get_request(session, decision.linked_to) if decision.linked_to else None
            if linked is not None:
                request.linked_to_id = linked.id
            row.action = decision.action
            row.request_id = request.id
            row.raw = None
            number = request.number
        reason = decision.reason if decision.action == "new_linked" else f"{decision.reason}; opened {number}"
        return IngestResult(msg.message_id, decision.action, number, reason, decision.linked_to)

    # ------------------------------------------------------------------ rejected input

    def _reject(
        self, raw: bytes, source: str, reason: str, *, digest_of: bytes | None = None
    ) -> IngestResult:
        """Keep input that is not a usable message, raw, under an id derived from its bytes."""
        message_id = f"rejected-{hashlib.sha256(digest_of or raw).hexdigest()[:32]}@desk.invalid"
        with self.sessions() as session, session.begin():
            stored = session.scalars(
                select(MailMessage.id).where(MailMessage.message_id == message_id)
            ).first()
            if stored is not None:
                return IngestResult(
                    message_id,
                    "duplicate",
                    None,
                    f"the same input was already rejected (stored as #{stored})",
                )
            headers = _best_effort_headers(raw)
            session.add(
                MailMessage(
                    message_id=message_id,
                    direction="in",
                    action="rejected",
                    reason=reason,
                    in_reply_to=None,
                    references="",
                    subject=headers.get("subject", ""),
                    from_address=headers.get("from", "")[:320],
                    from_name="",
                    to_addresses=headers.get("to", ""),
                    body_text="",
                    quoted_text="",
                    source=source,
                    raw=raw,
                    defects="",
                    at=self.clock(),
                )
            )
        log.warning("mail from %s rejected: %s", source, reason)
        return IngestResult(message_id, "rejected", None, reason)

    @staticmethod
    def _failed(err: Exception) -> IngestResult:
        """A message that could not be processed for a reason of ours (not its content): nothing settles.

        It is not stored as rejected, because it is not malformed: its source keeps it and
        offers it again (the next poll, the same command), and a fixed fault then lets it through.
        """
        if isinstance(err, RequestOpenError):
            return IngestResult(err.message_id, "rejected", None, str(err), settled=False)
        return IngestResult(
            None,
            "rejected",
            None,
            f"the message could not be processed ({type(err).__name__}: {err}); nothing was stored, "
            "so it is offered again",
            settled=False,
        )


def _notify(
    session: Session,
    recipients: Iterable[str],
    template: str,
    payload: dict[str, Any],
    row: MailMessage,
    request: Request | None,
    now: datetime,
) -> None:
    """In-app notices of a message; to staff they are written delivered (the inbox is the delivery),
    so no delivery transaction follows the commit. Anyone else is left to the outbox, which tells
    why it cannot show them one."""
    names = list(dict.fromkeys(recipients))
    staff = reach(session, names, template)
    notify.enqueue_all(
        session,
        now=now,
        template=template,
        payload=payload,
        to=[(name, "in_app", f"mail:{row.message_id}:{name}"[:255]) for name in names],
        staff=staff,
        request_id=request.id if request is not None else None,
        delivered_to=staff,
    )


def _header_message_id(raw: bytes) -> str | None:
    """The normalised Message-ID header, read without decoding the message (None if absent or unreadable)."""
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
        return normalize_message_id(str(headers.get("Message-ID") or ""))
    except Exception:
        return None


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"


def _best_effort_headers(raw: bytes) -> dict[str, str]:
    """Subject/From/To of rejected input when they can be read at all, to find it among others."""
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw[:65536])
        return {
            name.lower(): " ".join(str(value).split())[:500]
            for name in ("Subject", "From", "To")
            if (value := headers.get(name)) is not None
        }
    except Exception:
        return {}
