"""Outbox delivery, the I/O side: claim due notification rows, send them, record what happened.

Rules (desk.outbox) stay pure; this module owns the sessions, the clock and the adapters.
Every delivery is two transactions around one network call:

1. claim: the row goes to "sending" with a lease, the attempt is counted and the e-mail's
   Message-ID fixed, and that is committed before anything leaves the machine;
2. outcome: "sent" (with the mail_message row for e-mail, so replies thread back), or
   "failed" with the next attempt's time, or "dead", or "unconfirmed".

A sender killed between the two leaves the row in "sending"; once its lease is over the next
pass moves e-mail and SMS to "unconfirmed" (never resent blindly) and in-app back to pending.

Where it runs: right after the transaction that wrote the rows commits (a session hook, so
every writer is covered without knowing about the outbox), in every `flask worker` loop and
`flask --app web outbox deliver`; with REDIS_URL the hook and the scheduler put only the
notification id on RQ and `web.queue.deliver_notification` does the delivery on a worker.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import event, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from desk import notify, preferences
from desk.delivery import (
    DeliveryConfigError,
    DeliveryError,
    PermanentDeliveryError,
    UncertainDeliveryError,
)
from desk.delivery import smtp as smtp_channel
from desk.delivery.compose import compose, new_message_id
from desk.delivery.sms import SmsGateway, gateway_from_url
from desk.mail.outbound import OutboundMessageError
from desk.messages import MailMessage
from desk.models import Notification, Request, Task, User
from desk.outbox import (
    ATTENTION,
    CLAIMABLE,
    Status,
    Transition,
    after_failure,
    after_lease_expired,
    fallback_cutoff,
    resend,
    sms_text,
)

log = logging.getLogger(__name__)

AttachmentRenderer = Callable[[Session, Mapping[str, Any]], tuple[str, str, bytes]]

__all__ = ["NotificationNotFoundError", "Outbox", "OutboxSettings", "PassReport", "init_app"]

_OWN = "outbox_own_session"  # session.info flag: the outbox's own sessions do not trigger the hook
_NEW_IDS = "outbox_new_notifications"
_NEW_TASKS = "outbox_new_external_tasks"


class NotificationNotFoundError(LookupError):
    """No notification has this id."""

    def __init__(self, notification_id: int) -> None:
        self.notification_id = notification_id
        super().__init__(f"No notification #{notification_id}; check the id on /admin/outbox.")


@dataclass(frozen=True)
class OutboxSettings:
    """The channels and limits, built from the app config (web/config.py reads the environment)."""

    smtp: smtp_channel.SmtpSettings | None
    email_off_reason: str | None
    sms: SmsGateway
    sms_description: str
    fallback_minutes: float = 10.0
    max_attempts: int = 8
    lease: timedelta = timedelta(minutes=5)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OutboxSettings:
        """Validate once at start-up, so a broken setting stops the app with its name, not a send."""
        smtp, off = None, None
        if not config.get("SMTP_HOST"):
            off = "SMTP_HOST is not set"
        elif not config.get("MAIL_FROM"):
            raise DeliveryConfigError("MAIL_FROM", "SMTP_HOST is set, so the From address is needed")
        else:
            smtp = smtp_channel.SmtpSettings(
                host=config["SMTP_HOST"],
                port=int(config.get("SMTP_PORT") or 25),
                user=config.get("SMTP_USER"),
                password=config.get("SMTP_PASSWORD"),
                starttls=bool(config.get("SMTP_STARTTLS")),
                use_ssl=bool(config.get("SMTP_SSL")),
                timeout=float(config.get("SMTP_TIMEOUT") or 30),
                mail_from=config["MAIL_FROM"],
            )
        url = config.get("SMS_GATEWAY_URL")
        minutes = float(config.get("NOTIFY_FALLBACK_MINUTES") or 10)
        if minutes <= 0:
            raise DeliveryConfigError("NOTIFY_FALLBACK_MINUTES", f"must be positive, got {minutes}")
        return cls(
            smtp=smtp,
            email_off_reason=off,
            sms=gateway_from_url(url, float(config.get("SMS_GATEWAY_TIMEOUT") or 15)),
            sms_description=f"HTTP gateway {url.split('?', 1)[0]}"
            if url
            else "log only (SMS_GATEWAY_URL unset)",
            fallback_minutes=minutes,
            max_attempts=int(config.get("OUTBOX_MAX_ATTEMPTS") or 8),
            lease=timedelta(seconds=float(config.get("OUTBOX_LEASE_SECONDS") or 300)),
        )


@dataclass
class PassReport:
    """What one delivery pass did (printed by `flask --app web outbox deliver`)."""

    outcomes: dict[str, int] = field(default_factory=dict)
    recovered: int = 0
    fallbacks: int = 0
    task_mails: int = 0

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    @property
    def work(self) -> int:
        attempted = sum(n for o, n in self.outcomes.items() if o not in ("skipped", "off", "missing"))
        return attempted + self.recovered + self.fallbacks + self.task_mails

    def line(self) -> str:
        parts = [f"{o} {self.outcomes.get(o, 0)}" for o in ("sent", "failed", "dead", "unconfirmed")]
        if self.outcomes.get("off"):
            parts.append(f"waiting for a channel {self.outcomes['off']}")
        parts += [
            f"recovered {self.recovered}",
            f"fallback e-mails {self.fallbacks}",
            f"task e-mails {self.task_mails}",
        ]
        return ", ".join(parts)


@dataclass(frozen=True)
class _Claimed:
    """A claimed row's values, carried across the network call with no session open."""

    id: int
    channel: str
    recipient: str
    subject: str
    body: str
    key: str
    attempts: int
    message_id: str | None
    request_id: int | None
    task_id: int | None
    request_number: str | None
    thread_ids: tuple[str, ...]
    automatic: bool
    attachments: tuple[Mapping[str, Any], ...] = ()


class Outbox:
    """Delivers the notification outbox; one per app, shared by threads (holds no session)."""

    def __init__(
        self,
        sessions: sessionmaker,
        settings: OutboxSettings,
        *,
        clock: Callable[[], datetime],
        worker_id: str,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.worker_id = worker_id
        # RQ mode (web.queue.Sender.notifications): ids to the workers, `only_unsent` skips recent ones.
        self.dispatch: Callable[..., int] | None = None
        # payload["attachments"] kinds -> (session, spec) -> (filename, content type, bytes), rendered
        # at send time so a retry attaches the same document the database holds.
        self.attachment_renderers: dict[str, AttachmentRenderer] = {}

    def _session(self) -> Session:
        return self.sessions(info={_OWN: True})

    # ------------------------------------------------------------------ passes

    def run_pass(self, limit: int = 100) -> PassReport:
        """One pass in this process: recover, add task and fallback mail, deliver what is due."""
        report = self.prepare()
        for notification_id in self.due_ids(limit):
            report.count(self.deliver(notification_id))
        return report

    def schedule(self, limit: int = 500) -> int:
        """Scheduler body in RQ mode: the same preparation, then due ids go to the workers."""
        report = self.prepare()
        ids = self.due_ids(limit)
        if ids and self.dispatch is not None:
            self.dispatch(ids, only_unsent=True)
        return len(ids) + report.work

    def prepare(self) -> PassReport:
        report = PassReport()
        report.recovered = self.recover_expired()
        report.task_mails = len(self.mail_external_tasks())
        report.fallbacks = self.create_fallbacks()
        return report

    def due_ids(self, limit: int = 100) -> list[int]:
        """Rows ready for an attempt on a channel that is configured, oldest first."""
        now = self.clock()
        stmt = (
            select(Notification.id)
            .where(
                Notification.status.in_([s.value for s in CLAIMABLE]),
                or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
            )
            .order_by(Notification.id)
            .limit(limit)
        )
        if self.settings.smtp is None:
            stmt = stmt.where(Notification.channel != "email")
        with self._session() as session:
            return list(session.scalars(stmt))

    def after_commit(self, notification_ids: Iterable[int], task_ids: Iterable[int]) -> None:
        """Deliver what a committed transaction wrote (inline) or hand the ids to RQ."""
        ids = sorted(set(notification_ids))
        if ids:  # rows the writer already settled (in-app marked sent, skipped ones) need no delivery
            with self._session() as session:
                ids = list(
                    session.scalars(
                        select(Notification.id).where(
                            Notification.id.in_(ids), Notification.status.in_([s.value for s in CLAIMABLE])
                        )
                    )
                )
        ids += self.mail_external_tasks(task_ids)
        if not ids:
            return
        if self.dispatch is not None:
            self.dispatch(ids)
            return
        for notification_id in ids:
            self.deliver(notification_id)

    # ------------------------------------------------------------------ one delivery

    def deliver(self, notification_id: int) -> str:
        """Claim, send and record one notification; returns the outcome ("skipped" if not ours to send)."""
        try:
            claimed = self._claim(notification_id)
        except IntegrityError as err:  # a Message-ID collision is astronomically unlikely; retry later
            log.warning("notification %s: claim failed: %s", notification_id, err)
            return "skipped"
        if isinstance(claimed, str):
            return claimed
        try:
            evidence = self._send(claimed)
        except UncertainDeliveryError as err:
            return self._unconfirmed(claimed, err.reason)
        except (DeliveryError, OutboundMessageError) as err:
            permanent = isinstance(err, PermanentDeliveryError | OutboundMessageError)
            return self._failed(claimed, str(getattr(err, "reason", err)), permanent=permanent)
        except Exception as err:  # an adapter bug must not leave the row in "sending" for the lease
            log.exception("notification %s: unexpected error while sending", claimed.id)
            return self._failed(claimed, f"{type(err).__name__}: {err}", permanent=False)
        return self._sent(claimed, evidence)

    def _claim(self, notification_id: int) -> _Claimed | str:
        now = self.clock()
        with self._session() as session, session.begin():
            row = session.get(Notification, notification_id)
            if row is None:
                return "missing"
            if row.status not in CLAIMABLE or (row.next_attempt_at is not None and row.next_attempt_at > now):
                return "skipped"
            if row.channel == "email" and self.settings.smtp is None:
                return "off"
            if row.channel == "in_app":
                return self._deliver_in_app(session, row, now)
            message_id = row.message_id
            if row.channel == "email" and message_id is None:
                message_id = new_message_id(self.settings.smtp.domain)
            claimed = session.execute(
                update(Notification)
                .where(
                    Notification.id == notification_id,
                    Notification.status.in_([s.value for s in CLAIMABLE]),
                    or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
                )
                .values(
                    status=Status.SENDING.value,
                    lease_until=now + self.settings.lease,
                    claimed_by=self.worker_id,
                    attempts=Notification.attempts + 1,
                    message_id=message_id,
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            if not claimed:
                return "skipped"
            number, thread = self._thread(session, row) if row.channel == "email" else (None, ())
            return _Claimed(
                id=row.id,
                channel=row.channel,
                recipient=row.recipient,
                subject=row.subject,
                body=row.body,
                key=row.idempotency_key,
                attempts=row.attempts + 1,
                message_id=message_id,
                request_id=row.request_id,
                task_id=row.task_id,
                request_number=number,
                thread_ids=tuple(thread),
                automatic=row.template != "staff_reply",
                attachments=tuple((row.payload or {}).get("attachments") or ()),
            )

    def _deliver_in_app(self, session: Session, row: Notification, now: datetime) -> str:
        """In-app delivery is this row update itself: idempotent, nothing leaves the database."""
        known = session.scalar(select(func.count()).select_from(User).where(User.username == row.recipient))
        transition = (
            Transition(Status.SENT, None)
            if known
            else Transition(Status.DEAD, None, f"no staff user {row.recipient!r} to show it to")
        )
        session.execute(
            update(Notification)
            .where(Notification.id == row.id, Notification.status.in_([s.value for s in CLAIMABLE]))
            .values(
                status=transition.status.value,
                sent_at=now if known else None,
                attempts=Notification.attempts + 1,
                dead_reason=transition.reason,
                lease_until=None,
            )
            .execution_options(synchronize_session=False)
        )
        return transition.status.value

    def _thread(self, session: Session, row: Notification) -> tuple[str | None, list[str]]:
        """The request's number and the ids to reply to: the task's thread for task mail, else the request's
        (all its mail_message ids, most recent last)."""
        number = None
        if row.request_id is not None:
            number = session.scalar(select(Request.number).where(Request.id == row.request_id))
        if row.task_id is not None:
            where = MailMessage.task_id == row.task_id
        elif row.request_id is not None:
            where = MailMessage.request_id == row.request_id
        else:
            return number, []
        ids = session.scalars(
            select(MailMessage.message_id).where(where).order_by(MailMessage.at, MailMessage.id)
        )
        return number, list(ids)

    def _send(self, claimed: _Claimed) -> str:
        if claimed.channel == "email":
            message = self._message(claimed)
            return smtp_channel.send(self.settings.smtp, message)
        if claimed.channel == "sms":
            return self.settings.sms.send(
                claimed.recipient, sms_text(claimed.subject, claimed.body), claimed.key
            )
        raise PermanentDeliveryError(f"unknown channel {claimed.channel!r}")

    def _message(self, claimed: _Claimed):
        return compose(
            mail_from=self.settings.smtp.mail_from,
            to=claimed.recipient,
            subject=claimed.subject,
            body=claimed.body,
            message_id=claimed.message_id,
            date=self.clock(),
            request_number=claimed.request_number,
            thread_ids=claimed.thread_ids,
            automatic=claimed.automatic,
            attachments=self._attachments(claimed),
        )

    def _attachments(self, claimed: _Claimed) -> list[tuple[str, str, bytes]]:
        """Render the files a notification names; an unknown kind is a permanent error, not a silent drop."""
        if not claimed.attachments:
            return []
        files = []
        with self._session() as session:
            for spec in claimed.attachments:
                renderer = self.attachment_renderers.get(str(spec.get("kind")))
                if renderer is None:
                    raise PermanentDeliveryError(f"no renderer for attachment kind {spec.get('kind')!r}")
                files.append(renderer(session, spec))
        return files

    def _sent(self, claimed: _Claimed, evidence: str) -> str:
        now = self.clock()
        with self._session() as session, session.begin():
            updated = session.execute(
                update(Notification)
                .where(
                    Notification.id == claimed.id,
                    Notification.claimed_by == self.worker_id,
                    Notification.status.in_([Status.SENDING.value, Status.UNCONFIRMED.value]),
                )
                .values(
                    status=Status.SENT.value,
                    sent_at=now,
                    lease_until=None,
                    error=None,
                    dead_reason=None,
                    next_attempt_at=None,
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            if claimed.channel == "email":
                self._record_mail(session, claimed, "sent", now)
        if not updated:
            log.warning("notification %s was sent but someone else took the row meanwhile", claimed.id)
        log.info(
            "notification %s (%s to %s) sent: %s", claimed.id, claimed.channel, claimed.recipient, evidence
        )
        return Status.SENT.value

    def _failed(self, claimed: _Claimed, reason: str, *, permanent: bool) -> str:
        now = self.clock()
        transition = after_failure(
            claimed.attempts, now, reason, permanent=permanent, max_attempts=self.settings.max_attempts
        )
        self._move(claimed, transition, error=reason)
        log.warning(
            "notification %s attempt %s: %s -> %s", claimed.id, claimed.attempts, reason, transition.status
        )
        return transition.status.value

    def _unconfirmed(self, claimed: _Claimed, reason: str) -> str:
        now = self.clock()
        self._move(claimed, Transition(Status.UNCONFIRMED, None, reason), error=reason)
        if claimed.channel == "email":
            with self._session() as session, session.begin():
                self._record_mail(session, claimed, "unconfirmed", now)
        log.warning("notification %s unconfirmed: %s", claimed.id, reason)
        return Status.UNCONFIRMED.value

    def _move(self, claimed: _Claimed, transition: Transition, *, error: str) -> None:
        with self._session() as session, session.begin():
            session.execute(
                update(Notification)
                .where(
                    Notification.id == claimed.id,
                    Notification.claimed_by == self.worker_id,
                    Notification.status == Status.SENDING.value,
                )
                .values(
                    status=transition.status.value,
                    next_attempt_at=transition.next_attempt_at,
                    lease_until=None,
                    error=error,
                    dead_reason=transition.reason if transition.status != Status.FAILED else None,
                )
                .execution_options(synchronize_session=False)
            )

    def _record_mail(self, session: Session, claimed: _Claimed, action: str, now: datetime) -> None:
        """The outbound mail_message row inbound threading finds replies by (one per Message-ID)."""
        row = session.scalars(select(MailMessage).where(MailMessage.message_id == claimed.message_id)).first()
        if row is not None:
            row.action = action
            row.reason = "" if action == "sent" else row.reason
            return
        message = self._message(claimed)
        session.add(
            MailMessage(
                message_id=claimed.message_id,
                direction="out",
                action=action,
                reason="" if action == "sent" else "delivery unconfirmed: the sender stopped mid-send",
                request_id=claimed.request_id,
                task_id=claimed.task_id,
                notification_id=claimed.id,
                in_reply_to=(message["In-Reply-To"] or "").strip("<>") or None,
                references=str(message["References"] or ""),
                subject=str(message["Subject"]),
                from_address=self.settings.smtp.sender,
                to_addresses=claimed.recipient,
                body_text=claimed.body,
                source="smtp",
                at=now,
            )
        )

    # ------------------------------------------------------------------ recovery, task mail, fallback

    def recover_expired(self) -> int:
        """Rows whose sender died mid-send: e-mail/SMS become unconfirmed, in-app is retried."""
        now = self.clock()
        with self._session() as session:
            stuck = session.scalars(
                select(Notification).where(
                    Notification.status == Status.SENDING.value, Notification.lease_until < now
                )
            ).all()
        moved = 0
        for row in stuck:
            transition = after_lease_expired(row.channel, now)
            with self._session() as session, session.begin():
                done = session.execute(
                    update(Notification)
                    .where(
                        Notification.id == row.id,
                        Notification.status == Status.SENDING.value,
                        Notification.lease_until < now,
                    )
                    .values(
                        status=transition.status.value,
                        next_attempt_at=transition.next_attempt_at,
                        dead_reason=transition.reason,
                        lease_until=None,
                    )
                    .execution_options(synchronize_session=False)
                ).rowcount
                if done and row.channel == "email" and self.settings.smtp is not None and row.message_id:
                    number, thread = self._thread(session, row)
                    claimed = _Claimed(
                        row.id, row.channel, row.recipient, row.subject, row.body, row.idempotency_key,
                        row.attempts, row.message_id, row.request_id, row.task_id, number, tuple(thread),
                        row.template != "staff_reply",
                    )  # fmt: skip
                    self._record_mail(session, claimed, "unconfirmed", now)
            if done:
                log.warning("notification %s: sender died mid-send -> %s", row.id, transition.status)
            moved += done
        return moved

    def mail_external_tasks(self, task_ids: Iterable[int] | None = None) -> list[int]:
        """Open desk tasks assigned to an e-mail address get the task by e-mail, once per assignee."""
        already = exists().where(
            Notification.task_id == Task.id,
            Notification.template == "task_external",
            Notification.recipient == Task.assignee,
        )
        stmt = select(Task.id).where(Task.assignee.contains("@"), Task.status == "open", ~already)
        if task_ids is not None:
            wanted = sorted(set(task_ids))
            if not wanted:
                return []
            stmt = stmt.where(Task.id.in_(wanted))
        with self._session() as session:
            candidates = list(session.scalars(stmt.order_by(Task.id).limit(200)))
        created = []
        for task_id in candidates:
            try:
                with self._session() as session, session.begin():
                    created.append(self._task_mail(session, task_id))
            except IntegrityError:
                continue  # another process wrote it first: the key is unique
        return created

    def _task_mail(self, session: Session, task_id: int) -> int:
        task = session.get(Task, task_id)
        request = session.get(Request, task.request_id) if task.request_id else None
        payload = {
            "title": task.title,
            "description": task.description or "",
            "deadline": task.deadline.strftime("%d.%m.%Y %H:%M") if task.deadline else "",
            "number": request.number if request else "",
            "subject": request.subject if request else "",
            "task_id": task.id,
        }
        row = notify.enqueue(
            session,
            now=self.clock(),
            recipient=task.assignee,
            channel="email",
            template="task_external",
            payload=payload,
            idempotency_key=_key("task-mail", str(task.id), task.assignee.lower()),
            request_id=request.id if request else None,
        )
        row.task_id = task.id
        session.flush()
        return row.id

    def create_fallbacks(self) -> int:
        """E-mail once about in-app notifications unread for NOTIFY_FALLBACK_MINUTES."""
        now = self.clock()
        fallback = aliased(Notification)
        stmt = (
            select(Notification.id, User.email)
            .join(User, User.username == Notification.recipient)
            .where(
                Notification.channel == "in_app",
                Notification.status == Status.SENT.value,
                Notification.read_at.is_(None),
                Notification.created_at <= fallback_cutoff(now, self.settings.fallback_minutes),
                User.email.is_not(None),
                User.email != "",
                ~exists().where(fallback.fallback_of_id == Notification.id),
            )
            .order_by(Notification.id)
            .limit(200)
        )
        with self._session() as session:
            candidates = session.execute(stmt).all()
        made = 0
        for source_id, address in candidates:
            try:
                with self._session() as session, session.begin():
                    made += self._fallback(session, source_id, address, now)
            except IntegrityError:
                continue  # another process made this fallback first: its key is unique
        return made

    def _fallback(self, session: Session, source_id: int, address: str, now: datetime) -> int:
        source = session.get(Notification, source_id)
        # Someone who ticked e-mail for this event already has it; the row still marks "handled".
        emailed = preferences.wants(session, source.recipient, source.template, "email")
        session.add(
            Notification(
                recipient=address,
                channel="email",
                template=source.template,
                payload=dict(source.payload or {}),
                subject=source.subject,
                body=source.body,
                idempotency_key=_key("fallback", str(source.id)),
                status=Status.SKIPPED.value if emailed else Status.PENDING.value,
                dead_reason="e-mail already sent by the user's preference" if emailed else None,
                attempts=0,
                request_id=source.request_id,
                task_id=source.task_id,
                fallback_of_id=source.id,
                created_at=now,
            )
        )
        session.flush()
        return 0 if emailed else 1

    # ------------------------------------------------------------------ admin

    def resend(self, notification_id: int) -> None:
        """An admin's "send again": due now, with its old Message-ID (the same message to the client)."""
        now = self.clock()
        with self._session() as session, session.begin():
            row = session.get(Notification, notification_id)
            if row is None:
                raise NotificationNotFoundError(notification_id)
            transition = resend(row.status, now)
            row.status = transition.status.value
            row.next_attempt_at = transition.next_attempt_at
            row.dead_reason = None
        self.after_commit([notification_id], [])

    def counts(self) -> dict[str, int]:
        with self._session() as session:
            rows = session.execute(
                select(Notification.status, func.count()).group_by(Notification.status)
            ).all()
        return {status: n for status, n in sorted(rows)}

    def attention(self, limit: int = 200) -> list[Notification]:
        with self._session() as session:
            return list(
                session.scalars(
                    select(Notification)
                    .where(Notification.status.in_([s.value for s in ATTENTION]))
                    .order_by(Notification.id.desc())
                    .limit(limit)
                )
            )

    def channel_states(self) -> dict[str, str]:
        smtp = self.settings.smtp
        return {
            "email": f"SMTP {smtp.host}:{smtp.port} from {smtp.sender}"
            if smtp
            else f"off: {self.settings.email_off_reason}",
            "sms": self.settings.sms_description,
            "in_app": "on",
        }


def _key(*parts: str) -> str:
    key = ":".join(parts)
    return key if len(key) <= 255 else f"{parts[0]}:{hashlib.sha256(key.encode()).hexdigest()}"


# ---------------------------------------------------------------------- wiring


def init_app(app: Flask) -> None:
    """Create the app's outbox and hook it to the session factory's commits."""
    if "outbox" in app.extensions:
        return
    runtime = app.extensions["runtime"]
    outbox = Outbox(
        app.extensions["sessions"],
        OutboxSettings.from_config(app.config),
        clock=runtime.now,
        worker_id=app.config["WORKER_ID"],
    )
    app.extensions["outbox"] = outbox
    if (sender := app.extensions.get("rq_sender")) is not None:
        outbox.dispatch = sender.notifications  # web.queue.Sender: RQ messages carrying only the id
    _hook(app.extensions["sessions"], outbox)


def _hook(sessions: sessionmaker, outbox: Outbox) -> None:
    """Collect notifications and e-mail-assigned tasks a transaction writes; deliver after its commit."""

    @event.listens_for(sessions, "after_flush")
    def _collect(session: Session, _context: Any) -> None:
        if session.info.get(_OWN):
            return
        for obj in session.new:
            if isinstance(obj, Notification) and obj.id is not None:
                session.info.setdefault(_NEW_IDS, set()).add(obj.id)
        for obj in list(session.new) + list(session.dirty):  # created, or re-assigned to an address
            if isinstance(obj, Task) and obj.id is not None and "@" in (obj.assignee or ""):
                session.info.setdefault(_NEW_TASKS, set()).add(obj.id)

    @event.listens_for(sessions, "after_commit")
    def _deliver(session: Session) -> None:
        ids, tasks = session.info.pop(_NEW_IDS, set()), session.info.pop(_NEW_TASKS, set())
        if not ids and not tasks:
            return
        try:
            outbox.after_commit(ids, tasks)
        except Exception:  # the writer's commit stands; the worker pass delivers later
            log.exception("outbox delivery after commit failed for %s; the worker will retry", sorted(ids))

    @event.listens_for(sessions, "after_rollback")
    def _forget(session: Session) -> None:
        session.info.pop(_NEW_IDS, None)
        session.info.pop(_NEW_TASKS, None)
