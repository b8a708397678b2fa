"""The public request form's rules: request types, the per-address rate limit, attachments, contacts.

The form is open to anyone, so what it stores must be bounded: a submission rate per
client address that every web node agrees on (a table, or Redis when the app has it),
and attachments of limited size and number kept in `request_attachment`. A visitor
is matched to an existing contact by e-mail or E.164 phone, never duplicated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PureWindowsPath
from typing import Any

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from desk.crm import match_contact
from desk.errors import DeskError
from desk.models import Base

__all__ = [
    "REQUEST_TYPES",
    "AttachmentError",
    "InvalidRateError",
    "PublicFormRate",
    "Rate",
    "RequestAttachment",
    "RequestType",
    "UnknownRequestTypeError",
    "attachment_name",
    "check_attachments",
    "hit_redis",
    "hit_table",
    "match_contact",
    "parse_rate",
    "request_type",
    "summary_subject",
]

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d+)?\s*(second|minute|hour|day)s?\s*$", re.IGNORECASE)
SUBJECT_LENGTH = 120


class InvalidRateError(DeskError, ValueError):
    """PUBLIC_FORM_RATE is not a rate such as "5/hour"."""

    def __init__(self, raw: str) -> None:
        self.raw = raw
        super().__init__(
            f"PUBLIC_FORM_RATE={raw!r} is not a rate; write a count per period, "
            f"e.g. '5/hour', '20/day' or '3 per 10 minutes'."
        )


class UnknownRequestTypeError(DeskError, KeyError):
    """The form named a request type that does not exist."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"No request type {key!r}; use one of {', '.join(t.key for t in REQUEST_TYPES)}.")


class AttachmentError(DeskError, ValueError):
    """An attachment the form refuses; `limit` is the bound it broke."""

    def __init__(self, filename: str, problem: str, limit: int) -> None:
        self.filename, self.problem, self.limit = filename, problem, limit
        super().__init__(f"Attachment {filename!r}: {problem} (limit {limit}).")


@dataclass(frozen=True)
class Rate:
    """At most `limit` submissions per `window_seconds` from one address."""

    limit: int
    window_seconds: int


@dataclass(frozen=True)
class RequestType:
    """A choice on the form and the priority it gives the request (labels are English i18n keys)."""

    key: str
    label: str
    priority: str


REQUEST_TYPES: tuple[RequestType, ...] = (
    RequestType("incident", "Something does not work", "high"),
    RequestType("service", "Service request", "normal"),
    RequestType("access", "Access or account", "normal"),
    RequestType("purchase", "Purchase", "low"),
    RequestType("question", "Question or consultation", "low"),
)


class PublicFormRate(Base):
    """Submissions from one client address in one fixed window; old windows are deleted as new ones fill."""

    __tablename__ = "public_form_rate"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True, index=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)


class RequestAttachment(Base):
    """A file a requester attached on the public form; staff download it from the request card."""

    __tablename__ = "request_attachment"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("request.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_at: Mapped[datetime]


def parse_rate(raw: str) -> Rate:
    """Read "5/hour", "20 per day" or "3/10 minutes" as a Rate."""
    match = _RATE.match(raw or "")
    if not match or int(match.group(1)) < 1 or match.group(2) == "0":
        raise InvalidRateError(raw)
    return Rate(int(match.group(1)), int(match.group(2) or 1) * _UNITS[match.group(3).lower()])


def request_type(key: str) -> RequestType:
    for kind in REQUEST_TYPES:
        if kind.key == key:
            return kind
    raise UnknownRequestTypeError(key)


def summary_subject(description: str) -> str:
    """The request's subject: the description's first line, cut at a word near 120 characters.

    The form has no subject field (visitors write one in the first line anyway), and the
    request list needs a short line to show.
    """
    first = next((line.strip() for line in description.splitlines() if line.strip()), "")
    if len(first) <= SUBJECT_LENGTH:
        return first
    cut = first[:SUBJECT_LENGTH].rsplit(" ", 1)[0] or first[:SUBJECT_LENGTH]
    return cut.rstrip(" ,.;:") + "…"


def attachment_name(raw: str | None) -> str:
    """The file name without any client path ("C:\\Users\\me\\scan.pdf" -> "scan.pdf"), kept in Cyrillic."""
    name = PureWindowsPath(raw or "").name.replace("\x00", "").strip()
    return name[-255:] or "attachment"


def check_attachments(sizes: list[tuple[str, int]], *, max_bytes: int, max_files: int) -> None:
    """Refuse too many files, or any file over the size limit, before anything is stored."""
    if len(sizes) > max_files:
        raise AttachmentError(sizes[max_files][0], "too many files", max_files)
    for name, size in sizes:
        if size > max_bytes:
            raise AttachmentError(name, "file too large", max_bytes)


def _window_start(now: datetime, rate: Rate) -> datetime:
    seconds = int(now.timestamp()) // rate.window_seconds * rate.window_seconds
    return datetime.fromtimestamp(seconds, UTC)


def hit_table(session: Session, *, key: str, rate: Rate, now: datetime) -> bool:
    """Count one submission from `key`; True while the window's count is within the rate.

    One atomic upsert per hit, so web nodes sharing the database agree and two
    simultaneous submissions both count.
    """
    start = _window_start(now, rate)
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    upsert = (
        dialect.insert(PublicFormRate)
        .values(key=key[:64], window_start=start, hits=1)
        .on_conflict_do_update(index_elements=["key", "window_start"], set_={"hits": PublicFormRate.hits + 1})
        .returning(PublicFormRate.hits)
    )
    hits = session.execute(upsert).scalar_one()
    session.execute(delete(PublicFormRate).where(PublicFormRate.window_start < start))
    return hits <= rate.limit


def hit_redis(redis: Any, *, key: str, rate: Rate, now: datetime, prefix: str = "desk:public_form") -> bool:
    """The same count in Redis (INCR on a key per window, expiring after it)."""
    name = f"{prefix}:{key}:{rate.window_seconds}:{int(_window_start(now, rate).timestamp())}"
    pipe = redis.pipeline(transaction=True)
    pipe.incr(name)
    pipe.expire(name, rate.window_seconds + 60)
    hits, _ = pipe.execute()
    return int(hits) <= rate.limit
