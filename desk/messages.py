"""Every e-mail on a request, both ways: the thread store that threading looks ids up in.

Inbound messages are kept whatever happened to them (appended, duplicate of nothing,
auto-reply, rejected with its raw bytes for inspection); outbound ones are written when
the outbox sends them, so a client's reply naming our Message-ID finds its request.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from desk.models import Base


class MailMessage(Base):
    """One e-mail, inbound (`direction="in"`) or sent by us (`"out"`).

    `message_id` is normalised (no angle brackets, lower-case domain as
    desk.mail.headers.normalize_message_id gives it) and unique: the same id twice is a
    duplicate. `action` is the ingest outcome for inbound mail (new, appended,
    duplicate, auto_reply, reopened, new_linked, rejected) and "sent" for outbound;
    "pending" marks an inbound message claimed by an ingester that is opening its request
    (`raw` is kept until it is done, so a crash there can be resumed). `defects` lists what
    was wrong with the message but recovered, one per line.
    """

    __tablename__ = "mail_message"
    __table_args__ = (
        Index("ix_mail_message_request_at", "request_id", "at"),
        Index("ix_mail_message_action", "action"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    direction: Mapped[str] = mapped_column(String(3))
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[int | None] = mapped_column(ForeignKey("request.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("desk_task.id"), index=True)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notification.id"), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    from_address: Mapped[str] = mapped_column(String(320), default="")
    from_name: Mapped[str] = mapped_column(String(255), default="")
    to_addresses: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    quoted_text: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(16), default="")  # imap, file, api, smtp
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    defects: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]


class MailAttachment(Base):
    """An attachment of a stored message; bodies over the size limit are dropped and noted."""

    __tablename__ = "mail_attachment"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("mail_message.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    truncated: Mapped[bool] = mapped_column(default=False)
