"""Notifications the outbox writes itself before each pass: task e-mails and e-mail fallbacks.

A desk task assigned to an e-mail address (an external executor) has no in-app list to
appear in, so it is mailed once per assignee; an in-app notification left unread for
NOTIFY_FALLBACK_MINUTES is followed by one e-mail. Both are ordinary outbox rows with
unique idempotency keys, so two processes preparing a pass at once write each only once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from desk import notify, preferences
from desk.models import Notification, Request, Task, User
from desk.outbox import Status, fallback_cutoff


class GeneratedMailMixin:
    """Part of Outbox (web.outbox); `self` is the Outbox."""

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


def _key(*parts: str) -> str:
    key = ":".join(parts)
    return key if len(key) <= 255 else f"{parts[0]}:{hashlib.sha256(key.encode()).hexdigest()}"
