"""What threading reads of the database (`DbThreadIndex`), for one ingest transaction.

Split from desk.mail.ingest, which decides and writes: this is the read side that
`desk.mail.threading.decide` asks, one query per question and the rows kept for the
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from desk import crm
from desk.mail.threading import KnownRequest
from desk.messages import MailMessage
from desk.models import Request
from desk.session_reads import core_rows, flush_for

__all__ = ["MAX_THREAD_IDS", "PENDING", "DbThreadIndex", "known_request"]

PENDING = "pending"
# A hostile or very long thread must not turn into an unbounded IN (...) list; the most
# recent ids are the ones that decide.
MAX_THREAD_IDS = 200


@dataclass(frozen=True)
class _Stored:
    """What threading reads of a stored message."""

    action: str
    request_id: int | None
    task_id: int | None


@dataclass(frozen=True)
class _Match:
    """The stored message a reply names, when it belongs to a task (an e-mail to an external executor)."""

    task_id: int


# Built once: every message asks for its own id and the ids it replies to.
_STORED = select(
    MailMessage.message_id, MailMessage.action, MailMessage.request_id, MailMessage.task_id
).where(MailMessage.message_id.in_(bindparam("ids", expanding=True)))


class DbThreadIndex:
    """`desk.mail.threading.ThreadIndex` over the database, for one transaction.

    Every lookup is by an indexed column (the unique Message-ID, the request number), and
    the rows read are kept for the transaction, so deciding one message costs one query
    for its own id, one for the ids it replies to and one for the request they name.
    Pending rows (claimed by an ingester that is still opening their request) are not
    "stored" yet: they neither make a message a duplicate nor thread replies.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._rows: dict[str, _Stored | None] = {}
        self.requests: dict[str, Request] = {}

    def stored(self, message_ids: Sequence[str]) -> dict[str, _Stored]:
        """The stored rows (pending ones included) of those of `message_ids` that exist."""
        ids = list(dict.fromkeys(message_ids))[:MAX_THREAD_IDS]
        missing = [i for i in ids if i not in self._rows]
        if missing:
            self._rows.update(dict.fromkeys(missing))
            flush_for(self.session, MailMessage)
            for row in core_rows(self.session, _STORED, {"ids": missing}):
                self._rows[row.message_id] = _Stored(row.action, row.request_id, row.task_id)
        return {i: row for i in ids if (row := self._rows.get(i)) is not None}

    def request_for_message_ids(self, message_ids: Sequence[str]) -> KnownRequest | None:
        rows = self.stored(message_ids)
        for message_id in list(message_ids)[:MAX_THREAD_IDS]:
            row = rows.get(message_id)
            if row is not None and row.request_id is not None:
                request = self.session.get(Request, row.request_id)
                return self._known(request) if request is not None else None
        return None

    def request_by_number(self, number: str) -> KnownRequest | None:
        request = self.session.scalars(select(Request).where(Request.number == number.upper())).first()
        return self._known(request) if request is not None else None

    def has_message(self, message_id: str) -> bool:
        row = self.stored([message_id]).get(message_id)
        return row is not None and row.action != PENDING

    def task_for_message_ids(self, message_ids: Sequence[str]) -> _Match | None:
        """The task of the most recent stored message in `message_ids` that is on a task, if any."""
        rows = self.stored(message_ids)
        for message_id in list(message_ids)[:MAX_THREAD_IDS]:
            row = rows.get(message_id)
            if row is not None and row.action != PENDING:
                return _Match(row.task_id) if row.task_id is not None else None
        return None

    def request(self, number: str) -> Request:
        """The request threading found (already loaded), for the caller to change."""
        return self.requests.get(number) or crm.get_request(self.session, number)

    def _known(self, request: Request) -> KnownRequest:
        known = known_request(request)
        self.requests[known.number] = request
        return known


def known_request(request: Request) -> KnownRequest:
    """The threading view of a request; a finished one closed when it last entered its finished status."""
    closed_at = None
    if request.status in crm.CLOSED_STATUSES:
        closed_at = request.closed_at or request.done_at or request.status_changed_at
    return KnownRequest(request.number or crm.request_number(request.id), request.status, closed_at)
