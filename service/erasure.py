"""Erase a contact's personal data (admin action and `flask --app web erase-contact`).

One transaction: refused while any request of the contact is open (naming them); otherwise
the contact's requests keep their non-personal facts (channel, category, priority, status,
every time and SLA figure, time in stage: what reports read) and lose subject, body and
address; their finished process instances go whole (engine.retention); their e-mails lose
bodies, headers and attachments, their calls the caller's number and recording, their
notifications text and recipient. Then every text, JSON and binary column of every table,
found in the metadata, is searched for the address and the phone's forms and overwritten
where they occur. The erasure log keeps who, when and row counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    LargeBinary,
    String,
    Table,
    Text,
    bindparam,
    cast,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

import desk.billing  # noqa: F401  (every desk table must be in the metadata the sweep reads)
import desk.calls  # noqa: F401
import desk.legacy.store  # noqa: F401
import desk.preferences  # noqa: F401
import desk.public_form  # noqa: F401
import desk.staff  # noqa: F401
import engine.admin_store  # noqa: F401
from desk import erasure
from desk.calls import Call, CallEvent
from desk.erasure import (
    FINISHED_STATUSES,
    ContactHasOpenRequestsError,
    ContactNotFoundError,
    ErasureRecord,
)
from desk.messages import MailAttachment, MailMessage
from desk.models import Base as DeskBase
from desk.models import Contact, Notification, Request
from desk.outbox import Status
from desk.public_form import RequestAttachment
from engine import retention
from engine.store import Base as EngineBase
from engine.store import Instance, InstanceStatus
from service.permissions import Principal, require
from service.retention import remove_process_notifications

UNSENT = (Status.PENDING.value, Status.SENDING.value, Status.FAILED.value, Status.UNCONFIRMED.value)
SKIPPED_TABLES = frozenset({ErasureRecord.__tablename__, "alembic_version"})


@dataclass(frozen=True)
class ErasureReport:
    contact_id: int
    erased_by: str | None
    erased_at: datetime
    counts: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "contact_id": self.contact_id,
            "erased_by": self.erased_by,
            "erased_at": self.erased_at.isoformat(),
            "counts": self.counts,
        }


def text_columns() -> list[tuple[Table, Any, str]]:
    """Every (table, column, kind) that can hold text: String/Text, JSON, or bytes; primary keys aside."""
    out = []
    for metadata in (EngineBase.metadata, DeskBase.metadata):
        for table in metadata.sorted_tables:
            if table.name in SKIPPED_TABLES:
                continue
            for column in table.c:
                if column.primary_key:
                    continue
                kind = _kind(column.type)
                if kind:
                    out.append((table, column, kind))
    return out


def _kind(type_: Any) -> str | None:
    if isinstance(type_, JSON):
        return "json"
    if isinstance(type_, LargeBinary):
        return "bytes"
    if isinstance(type_, String | Text):
        return "text"
    return None


def matching(session: Session, column: Any, kind: str, found: list[str]):
    """A condition true where the column holds any needle, ignoring case (bytes: as written)."""
    if kind == "bytes":
        if session.bind.dialect.name == "postgresql":
            return or_(
                *(
                    text(
                        f"position(CAST(:n{i} AS bytea) IN {column.table.name}.{column.name}) > 0"
                    ).bindparams(bindparam(f"n{i}", n.encode(), type_=LargeBinary))
                    for i, n in enumerate(found)
                )
            )
        return or_(
            *(
                func.instr(column, bindparam(f"n{i}", n.encode(), type_=LargeBinary)) > 0
                for i, n in enumerate(found)
            )
        )
    value = cast(column, Text) if kind == "json" else column
    return or_(*(func.lower(value).contains(n.lower(), autoescape=True) for n in found))


def sweep(session: Session, found: list[str]) -> Counter[str]:
    """Overwrite the needles wherever they are; returns rows changed per table."""
    changed: Counter[str] = Counter()
    for table, column, kind in text_columns():
        keys = list(table.primary_key.columns)
        rows = session.execute(
            select(*keys, column).where(column.is_not(None), matching(session, column, kind, found))
        ).all()
        for row in rows:
            value = row[-1]
            if kind == "bytes":
                new: Any = erasure.scrub_bytes(bytes(value), found)
            elif kind == "json":
                new = erasure.scrub_json(value, found)
            else:
                new = erasure.scrub_text(value, found)
                if getattr(column.type, "length", None):
                    new = new[: column.type.length]
            values: dict[str, Any] = {column.name: new}
            if "version" in table.c and table.name in ("instance", "request", "job"):
                values["version"] = table.c.version + 1
            session.execute(update(table).where(*(k == row[i] for i, k in enumerate(keys))).values(**values))
            changed[table.name] += 1
    return changed


def erase_contact(
    principal: Principal | None, sessions: sessionmaker, contact_id: int, now: datetime
) -> ErasureReport:
    """Erase one contact's personal data everywhere, or refuse naming the open requests."""
    require(principal, "erase", "contact_erasure")
    counts: Counter[str] = Counter()
    with sessions() as session, session.begin():
        contact = session.get(Contact, contact_id)
        if contact is None:
            raise ContactNotFoundError(contact_id)
        email = (contact.email or "").strip().lower() or None
        found = erasure.needles(email, [*(contact.phones or []), contact.phone_e164])
        theirs = [Request.contact_id == contact_id]
        if email:
            theirs.append(func.lower(Request.requester_email) == email)
        requests = session.scalars(select(Request).where(or_(*theirs)).order_by(Request.id)).all()
        instance_ids = [r.instance_id for r in requests if r.instance_id]
        running = set(
            session.scalars(
                select(Instance.id).where(
                    Instance.id.in_(instance_ids), Instance.status == InstanceStatus.RUNNING.value
                )
            )
        )
        still_open = [
            r.number or f"#{r.id}"
            for r in requests
            if r.status not in FINISHED_STATUSES or r.instance_id in running
        ]
        if still_open:
            raise ContactHasOpenRequestsError(contact_id, still_open)
        request_ids = [r.id for r in requests]

        counts["process_rows"] = retention.remove_instances(
            session, instance_ids, extra=(remove_process_notifications,)
        )
        for req in requests:
            req.subject, req.body, req.requester_email = "", "", None
        counts["request"] = len(requests)
        counts["request_attachment"] = _deleted(
            session, delete(RequestAttachment).where(RequestAttachment.request_id.in_(request_ids))
        )
        counts.update(_erase_mail(session, request_ids, email))
        counts.update(_erase_calls(session, request_ids, found))
        counts["notification"] = _erase_notifications(session, request_ids, found)
        contact.name, contact.email, contact.phones, contact.phone_e164 = "", None, [], None
        contact.erased_at = now
        session.flush()
        if found:
            for table, n in sweep(session, found).items():
                counts[f"sweep:{table}"] += n
        record = ErasureRecord(
            contact_id=contact_id,
            erased_by=principal.username if principal else None,
            erased_at=now,
            counts=dict(sorted(counts.items())),
        )
        session.add(record)
    return ErasureReport(contact_id, record.erased_by, now, dict(record.counts))


def _deleted(session: Session, statement: Any) -> int:
    return session.execute(statement).rowcount or 0


def _erase_mail(session: Session, request_ids: list[int], email: str | None) -> Counter[str]:
    theirs = [MailMessage.request_id.in_(request_ids)]
    if email:
        theirs.append(func.lower(MailMessage.from_address) == email)
    ids = list(session.scalars(select(MailMessage.id).where(or_(*theirs))))
    counts: Counter[str] = Counter()
    if not ids:
        return counts
    counts["mail_attachment"] = _deleted(
        session, delete(MailAttachment).where(MailAttachment.message_id.in_(ids))
    )
    counts["mail_message"] = (
        session.execute(
            update(MailMessage)
            .where(MailMessage.id.in_(ids))
            .values(
                subject="",
                from_address="",
                from_name="",
                to_addresses="",
                body_text="",
                quoted_text="",
                raw=None,
                reason="",
                defects="",
            )
        ).rowcount
        or 0
    )
    return counts


def _erase_calls(session: Session, request_ids: list[int], found: list[str]) -> Counter[str]:
    theirs = [Call.request_id.in_(request_ids)]
    if found:
        theirs.append(Call.caller_e164.in_(found))
    calls = session.execute(select(Call.id, Call.call_id).where(or_(*theirs))).all()
    counts: Counter[str] = Counter()
    if not calls:
        return counts
    counts["call"] = (
        session.execute(
            update(Call)
            .where(Call.id.in_([c.id for c in calls]))
            .values(caller="", caller_e164=None, recording_url=None)
        ).rowcount
        or 0
    )
    counts["call_event"] = (
        session.execute(
            update(CallEvent).where(CallEvent.call_id.in_([c.call_id for c in calls])).values(payload={})
        ).rowcount
        or 0
    )
    return counts


def _erase_notifications(session: Session, request_ids: list[int], found: list[str]) -> int:
    theirs = [Notification.request_id.in_(request_ids)]
    if found:
        theirs.append(func.lower(Notification.recipient).in_([f.lower() for f in found]))
    ids = list(session.scalars(select(Notification.id).where(or_(*theirs))))
    if not ids:
        return 0
    session.execute(
        update(Notification)
        .where(Notification.id.in_(ids), Notification.status.in_(UNSENT))
        .values(status=Status.SKIPPED.value, error="recipient erased")
    )
    return (
        session.execute(
            update(Notification)
            .where(Notification.id.in_(ids))
            .values(subject="", body="", payload={}, recipient=erasure.ERASED)
        ).rowcount
        or 0
    )


def erasures(principal: Principal | None, sessions: sessionmaker, limit: int = 50) -> list[ErasureRecord]:
    """The latest erasures for the admin page (no personal data in them)."""
    require(principal, "erase", "contact_erasure")
    with sessions() as session:
        return list(session.scalars(select(ErasureRecord).order_by(ErasureRecord.id.desc()).limit(limit)))
