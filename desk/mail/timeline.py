"""A request's e-mails for its card: inbound and sent, oldest first, with their attachments."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from desk.mail.thread_index import PENDING
from desk.messages import MailAttachment, MailMessage

__all__ = ["TimelineAttachment", "TimelineEntry", "timeline"]


@dataclass(frozen=True)
class TimelineAttachment:
    id: int
    filename: str
    content_type: str
    size: int
    truncated: bool


@dataclass(frozen=True)
class TimelineEntry:
    """One e-mail on a request's card, inbound or sent by us; `quoted` is the history the sender quoted."""

    id: int
    message_id: str
    direction: str
    action: str
    at: datetime
    from_address: str
    from_name: str
    to_addresses: str
    subject: str
    text: str
    quoted: str
    reason: str
    task_id: int | None
    attachments: tuple[TimelineAttachment, ...] = field(default=())


def timeline(session: Session, request_id: int) -> list[TimelineEntry]:
    """Every stored e-mail of a request, oldest first (messages still being opened are left out)."""
    rows = session.scalars(
        select(MailMessage)
        .where(MailMessage.request_id == request_id, MailMessage.action != PENDING)
        .order_by(MailMessage.at, MailMessage.id)
    ).all()
    files: dict[int, list[TimelineAttachment]] = {}
    if rows:
        for a in session.scalars(
            select(MailAttachment)
            .where(MailAttachment.message_id.in_([r.id for r in rows]))
            .order_by(MailAttachment.id)
        ):
            files.setdefault(a.message_id, []).append(
                TimelineAttachment(a.id, a.filename, a.content_type, a.size, a.truncated)
            )
    return [
        TimelineEntry(
            r.id,
            r.message_id,
            r.direction,
            r.action,
            r.at,
            r.from_address,
            r.from_name,
            r.to_addresses,
            r.subject,
            r.body_text,
            r.quoted_text,
            r.reason,
            r.task_id,
            tuple(files.get(r.id, ())),
        )
        for r in rows
    ]
