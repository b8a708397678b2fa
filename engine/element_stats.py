"""The definition page's per-element user-task counters (`element_stat`): read, compact, rebuild.

Triggers on `user_task` (migration 0020) append delta rows (one per changed row on SQLite, per
element and statement on PostgreSQL), and a reader folds a version's rows once there are more
than COMPACT_AFTER, so the page reads at most a few thousand rows instead of every task. The
arithmetic of time is the one the page used to run over the tasks: minutes are
`extract(epoch …)/60` on PostgreSQL and `julianday` differences × 1440 on SQLite, and a task
without `completed_at` counts until now.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, delete, distinct, func, insert, literal, or_, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from dbtypes import UtcDateTime
from engine.store import ElementStat, UserTask

log = logging.getLogger(__name__)

#: A version's delta rows beyond which a reader folds them into one row per element.
COMPACT_AFTER = 2000

_UNIX_EPOCH_JULIAN_DAY = 2440587.5
_MEASURES = ("waiting_instances", "tasks", "unended_tasks", "unended_created_sum", "ended_minutes")


@dataclass(frozen=True)
class ElementSums:
    """One version's counters summed per element: waiting instances, and (element, tasks, minutes)."""

    waiting: dict[str, int]
    times: list[tuple[str, int, float]]


def _postgres(bind: Session | Connection) -> bool:
    dialect = bind.get_bind().dialect if isinstance(bind, Session) else bind.dialect
    return dialect.name == "postgresql"


def _epoch(postgres: bool, moment: Any) -> Any:
    """Seconds since 1970 of a stored moment, in the database."""
    if postgres:
        return func.extract("epoch", moment)
    return (func.julianday(moment) - _UNIX_EPOCH_JULIAN_DAY) * 86400.0


def _minutes(postgres: bool, end: Any, start: Any) -> Any:
    """Minutes from `start` to `end`, as the page has always computed them."""
    if postgres:
        return func.extract("epoch", end - start) / 60
    return (func.julianday(end) - func.julianday(start)) * 1440


def read(session: Session, definition_id: str, now: datetime) -> ElementSums:
    """The version's counters per element; tasks still without `completed_at` count until `now`."""
    postgres = _postgres(session)
    s = ElementStat
    now_epoch = _epoch(postgres, literal(now, UtcDateTime()))
    minutes = (
        func.sum(s.ended_minutes)
        + (func.sum(s.unended_tasks) * now_epoch - func.sum(s.unended_created_sum)) / 60
    )
    rows = session.execute(
        select(s.element_id, func.sum(s.waiting_instances), func.sum(s.tasks), minutes)
        .where(s.definition_id == definition_id)
        .group_by(s.element_id)
    ).all()
    return ElementSums(
        waiting={e: int(w) for e, w, _n, _m in rows if w},
        times=[(e, int(n), float(m or 0.0)) for e, _w, n, m in rows if n],
    )


def compact(conn: Connection, definition_id: str) -> None:
    """Fold a version's delta rows into one row per element, in the caller's (short) transaction.

    On PostgreSQL the rows are deleted and their sum inserted by one statement, so rows that
    concurrent writers add meanwhile are neither deleted nor counted twice, and two compactions at
    once each fold only the rows they deleted. SQLite has one writer at a time (BEGIN IMMEDIATE).
    """
    s = ElementStat.__table__
    if _postgres(conn):
        measures = ", ".join(_MEASURES)
        summed = ", ".join(f"sum({m})" for m in _MEASURES)
        conn.execute(
            text(
                "WITH moved AS (DELETE FROM element_stat WHERE definition_id = :d "
                f"RETURNING element_id, {measures}) "
                f"INSERT INTO element_stat (definition_id, element_id, {measures}) "
                f"SELECT :d, element_id, {summed} FROM moved GROUP BY element_id "
                f"HAVING {' OR '.join(f'sum({m}) <> 0' for m in _MEASURES)}"
            ),
            {"d": definition_id},
        )
        return
    last = conn.scalar(select(func.max(s.c.id)).where(s.c.definition_id == definition_id))
    if last is None:
        return
    mine = (s.c.definition_id == definition_id) & (s.c.id <= last)
    sums = [func.sum(s.c[m]) for m in _MEASURES]
    folded = (
        select(s.c.definition_id, s.c.element_id, *sums)
        .where(mine)
        .group_by(s.c.definition_id, s.c.element_id)
        .having(or_(*(total != 0 for total in sums)))
    )
    conn.execute(insert(s).from_select(["definition_id", "element_id", *_MEASURES], folded))
    conn.execute(delete(s).where(mine))


def compact_if_crowded(engine: Engine, definition_id: str) -> bool:
    """Compact the version's counters in a short transaction of their own when they have more than
    COMPACT_AFTER delta rows; True when it did."""
    with engine.begin() as conn:
        rows = conn.scalar(select(func.count()).where(ElementStat.definition_id == definition_id))
        if rows <= COMPACT_AFTER:
            return False
        compact(conn, definition_id)
    log.info("element counters of %s compacted from %s rows", definition_id, rows)
    return True


def rebuild(conn: Connection) -> int:
    """Recount every version's counters from `user_task` (one row per element); returns the rows.

    On PostgreSQL the task table is locked against writers for the recount, so no change is both
    counted from the tasks and added again by a trigger.
    """
    postgres = _postgres(conn)
    if postgres:
        conn.execute(text("LOCK TABLE user_task IN SHARE MODE"))
    t = UserTask
    unended = t.completed_at.is_(None)
    counted = select(
        t.definition_id,
        t.element_id,
        func.count(distinct(case((t.status == "open", t.instance_id)))),
        func.count(),
        func.sum(case((unended, 1), else_=0)),
        func.sum(case((unended, _epoch(postgres, t.created_at)), else_=0)),
        func.sum(case((unended, 0), else_=_minutes(postgres, t.completed_at, t.created_at))),
    ).group_by(t.definition_id, t.element_id)
    conn.execute(delete(ElementStat))
    conn.execute(insert(ElementStat).from_select(["definition_id", "element_id", *_MEASURES], counted))
    return conn.scalar(select(func.count()).select_from(ElementStat))
