"""Reading admin-edited settings inside a transaction that is busy writing other rows.

A handler reads the calendars, the SLA policies or a template several times while it changes a
request; each read's autoflush wrote the pending request rows early, a flush (and the report
counters' hooks) per read instead of one for the handler. The settings' own pending rows are
the only ones such a read could miss, so these reads flush only when there are some
(`flush_for`), and run as statements built once on the session's connection (`core_rows`).

An engine step runs several handlers in one transaction, and each of them read the same
settings again (the calendars up to four times). `per_transaction` reads them once per
transaction: the next transaction reads again, so an admin's edit counts from the next step
on, in any process. Within the transaction the cached value is dropped as soon as the
session writes one of the settings' tables (an ORM flush or an UPDATE/DELETE/INSERT it
executes), so the transaction always sees its own edits. A step thus sees one consistent
set of settings, as SQLite's snapshot gave it anyway; on PostgreSQL an edit committed while a
step runs is seen by the step's next transaction rather than by its next handler.

`per_process` keeps what is the same for every request beyond the transaction: the value read
under the tables' read tokens (read_tokens, one statement per transaction for all of them) is
served again until a trigger changes a token, so the next transaction after an admin's edit
reads the table again, and the ones before it read nothing but the tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar

from sqlalchemy import Row
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

import read_tokens

T = TypeVar("T")

_CACHE = "desk.session_reads.per_transaction"
_WATCHED: set[str] = set()  # the tables of every model read through per_transaction


def core_rows(session: Session, statement: Executable, params: Mapping[str, Any] | None = None) -> list[Row]:
    """Rows of a column statement built once at import, on the session's connection.

    The handlers' small reads cost more in building the statement and in the ORM's execute
    than in the database: a prepared statement with bound parameters on the connection takes
    a third of that. No autoflush either: callers flush first (`flush_for`) when the session
    may hold unflushed rows of the tables they read.
    """
    return session.connection().execute(statement, params or {}).all()


def flush_for(session: Session, *models: type) -> None:
    """Flush when this session holds unflushed rows of `models`, before a read that must see them."""
    if _pending(session, models):
        session.flush()


def per_transaction(session: Session, key: Hashable, models: tuple[type, ...], read: Callable[[], T]) -> T:
    """`read()` of `models`' rows once per transaction of `session` (see the module's docstring).

    `key` names the read (with its arguments); the value must not be changed by callers.
    """
    if _pending(session, models):  # the session's own unflushed edits: read them, keep nothing
        session.flush()
        return read()
    cache = _current(session)
    if cache is not None and key in cache:
        return cache[key]
    for model in models:
        _WATCHED.add(model.__table__.name)
    with session.no_autoflush:
        value = read()
    owner = session.get_transaction()
    if owner is not None:
        if cache is None:
            cache = {}
            session.info[_CACHE] = (owner, cache)
        cache[key] = value
    return value


def per_process(session: Session, key: Hashable, models: tuple[type, ...], read: Callable[[], T]) -> T:
    """`per_transaction`, and shared across transactions while `models`' read tokens stay the same.

    For reads that are the same for every request (see the module's docstring); `models` must
    be tables with a read token (read_tokens.TABLES), or every transaction reads as before.
    """
    tables = tuple(model.__table__.name for model in models)
    return per_transaction(session, key, models, lambda: read_tokens.shared(session, key, tables, read))


def _pending(session: Session, models: tuple[type, ...]) -> bool:
    return any(isinstance(obj, models) for obj in (*session.new, *session.dirty, *session.deleted))


def _current(session: Session) -> dict[Hashable, Any] | None:
    owner, cache = session.info.get(_CACHE, (None, None))
    if cache is not None and owner is not session.get_transaction():
        del session.info[_CACHE]
        return None
    return cache


read_tokens.forget_on_writes(_CACHE, _WATCHED)
