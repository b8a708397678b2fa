"""One delivery: claim a row, send it through its channel, record the outcome; and lease recovery.

This is the protocol of web.outbox's module docstring: the claim commits before anything
leaves the machine, the outcome is a second transaction, and a row left in "sending" by
a sender that died is settled once its lease is over, never resent blindly. The claimed
row's values travel across the network call in `_Claimed`, with no session open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from desk.delivery import DeliveryError, PermanentDeliveryError, UncertainDeliveryError
from desk.delivery import smtp as smtp_channel
from desk.delivery.compose import compose, new_message_id
from desk.mail.outbound import OutboundMessageError
from desk.messages import MailMessage
from desk.models import Notification, Request, User
from desk.outbox import CLAIMABLE, Status, Transition, after_failure, after_lease_expired, sms_text

log = logging.getLogger("web.outbox")  # one logger name for the whole outbox

AttachmentRenderer = Callable[[Session, Mapping[str, Any]], tuple[str, str, bytes]]


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


class DeliveryMixin:
    """Part of Outbox (web.outbox); `self` is the Outbox."""

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

    def _message(self, claimed: _Claimed, *, with_attachments: bool = True):
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
            attachments=self._attachments(claimed) if with_attachments else [],
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
        # Only its headers are read: rendering the attachments here would read in a second
        # session while this one holds SQLite's write lock (a 30 s wait, then "database is locked").
        message = self._message(claimed, with_attachments=False)
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

    # ------------------------------------------------------------------ recovery

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
