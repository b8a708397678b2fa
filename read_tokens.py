"""Read tokens: a value per admin-edited table that changes whenever the table does.

Every request reads the same few admin-edited tables (calendars, the classifier dictionary,
SLA policies, routing rules, template wordings, deployed decision definitions, the staff and
their notification choices) and they change far less often than requests arrive. Database
triggers (migration 0022) give the table's row in `read_token` a new random token on every
insert, update or delete, whoever writes (the web UI, /api, the CLI, a deploy, plain SQL).
So what a process read under a token is still what the table holds while the token is the
same: `shared` keeps it across transactions and reads the table again only when it moved.
The tokens themselves are one statement, read once per transaction.

Random, not a counter: a transaction that edited a table and rolled back must not leave a
token that a later edit reuses for other content. The token is read before the table, so a
value kept under a token is never older than the token says.

Within a transaction the tokens are read again after the session writes one of the tables
(an ORM flush, or an UPDATE/DELETE/INSERT statement it executes) and after any rollback,
savepoints included, so a transaction sees its own edits and never one it undid. Both the
engine and the desk use it, so it sits below both (as `dbtypes` does).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from typing import Any, TypeVar

from sqlalchemy import Column, MetaData, String, Table, event, select
from sqlalchemy.orm import ORMExecuteState, Session

T = TypeVar("T")

#: The tables with a token (each has the triggers of migration 0022).
TABLES = frozenset(
    {
        "business_calendar",
        "classifier_entry",
        "sla_policy",
        "route_rule",
        "notification_template",
        "decision_definition",
        "desk_user",
        "notification_preference",
    }
)

read_token = Table(
    "read_token",
    MetaData(),
    Column("name", String(64), primary_key=True),
    Column("token", String(36), nullable=False),
)

_READ = select(read_token.c.name, read_token.c.token)
_TOKENS = "read_tokens.tokens"
_SHARED: dict[Hashable, tuple[tuple[str | None, ...], Any]] = {}
_SHARED_MAX = 1024


def tokens(session: Session) -> Mapping[str, str]:
    """Table name -> its current token, read once per transaction of `session` (see the module)."""
    owner = session.get_transaction()
    held = session.info.get(_TOKENS)
    if held is not None and owner is not None and held[0] is owner:
        return held[1]
    read = dict(session.connection().execute(_READ).all())
    session.info[_TOKENS] = (session.get_transaction(), read)  # begun by the read, if not before
    return read


def shared(session: Session, key: Hashable, tables: Iterable[str], read: Callable[[], T]) -> T:
    """`read()` of `tables`, kept across transactions and processes' sessions while their tokens stay.

    `key` names the read with its arguments; the value must not be changed by callers. A table
    without a token (not in TABLES) makes every call read. The session's unflushed rows of
    `tables` are flushed first: they count for the read, and only a flush moves their tokens.
    """
    tables = tuple(tables)
    if any(
        getattr(getattr(obj, "__table__", None), "name", None) in tables
        for obj in (*session.new, *session.dirty, *session.deleted)
    ):
        session.flush()
    current = tokens(session)
    stamp = tuple(current.get(table) for table in tables)
    if None in stamp:
        return read()
    kept = _SHARED.get(key)
    if kept is not None and kept[0] == stamp:
        return kept[1]
    value = read()
    if len(_SHARED) >= _SHARED_MAX:
        _SHARED.clear()
    _SHARED[key] = (stamp, value)
    return value


def forget_on_writes(info_key: str, tables: Collection[str]) -> None:
    """Drop `session.info[info_key]` (a value read from `tables`) whenever the session writes one
    of them (an ORM flush, or an UPDATE/DELETE/INSERT or text() statement it executes) and after
    any rollback, savepoints included: a transaction sees its own edits and never one it undid.
    `tables` may grow after the call (desk.session_reads adds a model's table on first read)."""

    def forget(session: Session) -> None:
        session.info.pop(info_key, None)

    @event.listens_for(Session, "after_flush")
    def _after_flush(session: Session, _context: Any) -> None:
        if info_key not in session.info:
            return
        for obj in (*session.new, *session.dirty, *session.deleted):
            table = getattr(obj, "__table__", None)
            if table is not None and table.name in tables:
                forget(session)
                return

    @event.listens_for(Session, "do_orm_execute")
    def _on_execute(state: ORMExecuteState) -> None:
        if info_key not in state.session.info or state.is_select:
            return
        table = getattr(state.statement, "table", None)
        if table is None or getattr(table, "name", None) in tables:
            forget(state.session)

    @event.listens_for(Session, "after_soft_rollback")
    def _after_rollback(session: Session, _previous: Any) -> None:
        forget(session)


forget_on_writes(_TOKENS, TABLES)
