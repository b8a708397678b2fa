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

The parts: web/outbox_settings.py validates the channels at start-up,
web/outbox_delivery.py is one delivery and lease recovery, web/outbox_generated.py
writes the task and fallback e-mails; this module assembles the Outbox with its passes
and admin views, and hooks it to the session factory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import event, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from desk.models import Notification, Task
from desk.outbox import ATTENTION, CLAIMABLE, resend
from web.outbox_delivery import AttachmentRenderer, DeliveryMixin
from web.outbox_generated import GeneratedMailMixin
from web.outbox_settings import OutboxSettings

log = logging.getLogger(__name__)

__all__ = ["NotificationNotFoundError", "Outbox", "PassReport", "init_app"]

_OWN = "outbox_own_session"  # session.info flag: the outbox's own sessions do not trigger the hook
_NEW_IDS = "outbox_new_notifications"
_NEW_TASKS = "outbox_new_external_tasks"
_CLAIMABLE = frozenset(s.value for s in CLAIMABLE)


class NotificationNotFoundError(LookupError):
    """No notification has this id."""

    def __init__(self, notification_id: int) -> None:
        self.notification_id = notification_id
        super().__init__(f"No notification #{notification_id}; check the id on /admin/outbox.")


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


class Outbox(DeliveryMixin, GeneratedMailMixin):
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
            stmt = select(Notification.id).where(
                Notification.id.in_(ids), Notification.status.in_([s.value for s in CLAIMABLE])
            )
            if self.dispatch is None and self.settings.smtp is None:
                # Delivered here with e-mail off: claiming each e-mail row only answers "off".
                stmt = stmt.where(Notification.channel != "email")
            with self._session() as session:
                ids = list(session.scalars(stmt))
        ids += self.mail_external_tasks(task_ids)
        if not ids:
            return
        if self.dispatch is not None:
            self.dispatch(ids)
            return
        for notification_id in ids:
            self.deliver(notification_id)

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
        # Only rows written due for delivery: the writer settled the others (in-app written as
        # delivered, skipped ones), and e-mail delivered here with SMTP off would only answer "off".
        # Those need no read of their state after the commit.
        mail_off = outbox.dispatch is None and outbox.settings.smtp is None
        for obj in session.new:
            if (
                isinstance(obj, Notification)
                and obj.id is not None
                and (obj.status is None or obj.status in _CLAIMABLE)
                and not (mail_off and obj.channel == "email")
            ):
                session.info.setdefault(_NEW_IDS, set()).add(obj.id)
        for obj in list(session.new) + list(session.dirty):  # created, or re-assigned to an address
            if isinstance(obj, Task) and obj.id is not None and "@" in (obj.assignee or ""):
                session.info.setdefault(_NEW_TASKS, set()).add(obj.id)

    @event.listens_for(sessions, "after_commit")
    def _deliver(session: Session) -> None:
        if session.in_nested_transaction():
            # A SAVEPOINT released (a handler inside the engine's step, handlers._common): its rows
            # are not committed until the outermost transaction is; deliver after that one.
            return
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
