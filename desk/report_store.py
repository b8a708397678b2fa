"""The per-day report counters' tables, kept by the transaction that writes a request.

`report_day` and `report_stage_day` hold what desk/report_days.py computes. Three ways in:

* every ORM write of a Request through a hooked session factory (`maintain`): its old
  contribution is taken before the flush, its new one after, and the difference is added with
  an upsert on the flush's own connection -- creation, status changes, closing, re-categorising,
  re-assigning and mail reopening alike, whichever module does it;
* bulk writers on a Core connection (the legacy import) call `apply` themselves;
* `rebuild` recomputes both tables from the request rows (the migration's backfill and
  `flask --app web reports rebuild`).

Deltas are applied in key order so two transactions never wait on each other's rows crosswise.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import date, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Date, Float, Integer, String, delete, event, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from desk import report_days
from desk.models import Base, Request
from desk.report_days import FACT_FIELDS, MEASURES, STAGE_MEASURES, Facts, StageFacts


class ReportDay(Base):
    """Daily counters per dimension (see desk/report_days.py for what each measure counts)."""

    __tablename__ = "report_day"
    # Room for the counters' updates on their own page (migration 0021): HOT, the key untouched.
    __table_args__ = {"postgresql_with": {"fillfactor": 70}}
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(32), primary_key=True)
    opened: Mapped[int] = mapped_column(Integer, default=0)
    closed: Mapped[int] = mapped_column(Integer, default=0)
    minutes_count: Mapped[int] = mapped_column(Integer, default=0)
    minutes_sum: Mapped[float] = mapped_column(Float, default=0.0)
    pickup_measured: Mapped[int] = mapped_column(Integer, default=0)
    pickup_late: Mapped[int] = mapped_column(Integer, default=0)
    pickup_on_time: Mapped[int] = mapped_column(Integer, default=0)
    sla_measured: Mapped[int] = mapped_column(Integer, default=0)
    sla_met: Mapped[int] = mapped_column(Integer, default=0)


class ReportStageDay(Base):
    """Working and wall minutes per status of the requests done that day, and how many they were."""

    __tablename__ = "report_stage_day"
    __table_args__ = {"postgresql_with": {"fillfactor": 70}}
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    working_minutes: Mapped[float] = mapped_column(Float, default=0.0)
    wall_minutes: Mapped[float] = mapped_column(Float, default=0.0)
    requests: Mapped[int] = mapped_column(Integer, default=0)


# The zone whose calendar days the counters are kept in: the desk's (its `support` calendar's),
# the zone the reports' date range is read in.


@functools.cache
def desk_zone() -> tzinfo:
    """The zone whose days the counters count in: the support calendar's. Read on first use, as
    desk.calendar costs every command's start the holidays package."""
    from desk.calendar import DEFAULT_CALENDARS

    return ZoneInfo(DEFAULT_CALENDARS["support"].tz)


def __getattr__(name: str) -> Any:
    if name == "DESK_ZONE":
        return desk_zone()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_DAY = ReportDay.__table__
_STAGE = ReportStageDay.__table__
_REQUEST = Request.__table__
_DAY_COLUMNS = ("day", "dimension", "value", "bucket", *MEASURES)
_STAGE_COLUMNS = ("day", "status", *STAGE_MEASURES)
_COPY_ABOVE = 200  # counter rows; a live write's few go as one executemany, in one round trip


def _insert(conn: Connection, table: Any) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


@functools.cache
def _upsert(dialect: str, table: Any, keys: tuple[str, ...], measures: tuple[str, ...]) -> Any:
    """The counters' upsert, built once: a request's flush runs it, and building the statement
    (and its cache key) anew each time cost more than executing it."""
    stmt = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    return stmt.on_conflict_do_update(
        index_elements=list(keys), set_={m: table.c[m] + stmt.excluded[m] for m in measures}
    )


CounterRows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]
"""Rows for `report_day` and `report_stage_day` (columns in table order), sorted by key."""


def counter_rows(deltas: tuple[Facts, StageFacts]) -> CounterRows:
    """Counter deltas as the rows `write` upserts: sorted by key, all-zero ones left out.

    Pure, so a mapping worker can build a batch's rows and the writer only sends them."""
    facts, stages = deltas
    return (
        [(*key, *row) for key, row in sorted(facts.items()) if any(row)],
        [(*key, *row) for key, row in sorted(stages.items()) if any(row)],
    )


def apply(conn: Connection, deltas: tuple[Facts, StageFacts], *, fresh: bool = False) -> None:
    """Add counter deltas (a difference or a batch's total) with one upsert per table; `fresh`
    (a rebuild into emptied tables) inserts without the conflict clause. All-zero deltas are
    left out. Counts are whole numbers already (only +-1 is ever added to them)."""
    write(conn, counter_rows(deltas), fresh=fresh)


def write(conn: Connection, rows: CounterRows, *, fresh: bool = False) -> None:
    """Upsert `counter_rows` (in their order, so concurrent writers never wait crosswise)."""
    day_rows, stage_rows = rows
    for table, listed, columns, keys, measures in (
        (_DAY, day_rows, _DAY_COLUMNS, ["day", "dimension", "value", "bucket"], MEASURES),
        (_STAGE, stage_rows, _STAGE_COLUMNS, ["day", "status"], STAGE_MEASURES),
    ):
        if not listed:
            continue
        if conn.dialect.name == "postgresql" and len(listed) > _COPY_ABOVE:
            _upsert_copied(conn, table, listed, keys, measures, fresh)
            continue
        stmt = (
            _insert(conn, table) if fresh else _upsert(conn.dialect.name, table, tuple(keys), tuple(measures))
        )
        conn.execute(stmt, [dict(zip(columns, row, strict=True)) for row in listed])


def _upsert_copied(
    conn: Connection, table: Any, rows: list[tuple[Any, ...]], keys: list[str], measures: tuple, fresh: bool
) -> None:
    """COPY `rows` into a temporary table, then one `INSERT … SELECT … ON CONFLICT` (PostgreSQL).

    An import batch adds ~7,500 counter rows; as an executemany each was its own
    statement (a pipelined round of parse, bind and execute), about a second per
    batch, and as column arrays psycopg dumped every element in Python. COPY
    dumps them in C. The rows go in numbered and are inserted in that (sorted)
    order, so concurrent writers still never wait on each other crosswise.
    """
    columns = [*keys, *measures]
    listed = ", ".join(columns)
    delta = f"{table.name}_delta"
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {delta} (n integer, LIKE {table.name}) ON COMMIT DELETE ROWS"
    )
    cursor = conn.connection.dbapi_connection.cursor()
    # The rows go as they are: counts are ints (only ints are ever added to them), and an integer
    # column given a float would fail the COPY, not round. (A per-cell int() cost the writer ~1 s
    # per 60,000 imported requests.)
    with cursor.copy(f"COPY {delta} (n, {listed}) FROM STDIN") as copy:
        write = copy.write_row
        for n, row in enumerate(rows):
            write((n, *row))
    # Taken out as they go in: a second call in the same transaction starts from an empty table.
    sql = (
        f"WITH taken AS (DELETE FROM {delta} RETURNING *) "
        f"INSERT INTO {table.name} ({listed}) SELECT {listed} FROM taken ORDER BY n"
    )
    if not fresh:
        updates = ", ".join(f"{m} = {table.name}.{m} + excluded.{m}" for m in measures)
        sql += f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    conn.exec_driver_sql(sql)


def fact_rows(conn: Connection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The FACT_FIELDS of the requests `ids`, as stored now (a bulk writer's 'before')."""
    wanted = list(ids)
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        for row in conn.execute(
            select(_REQUEST.c.id, *(_REQUEST.c[f] for f in FACT_FIELDS)).where(_REQUEST.c.id.in_(chunk))
        ):
            values = dict(row._mapping)
            found[values.pop("id")] = values
    return found


def _default(field: str) -> Any:
    """What an INSERT without `field` stores: the column's Python-side default, else NULL."""
    default = _REQUEST.c[field].default
    if default is None:
        return None
    return default.arg(None) if callable(default.arg) else default.arg


_DEFAULTS = {f: _default(f) for f in FACT_FIELDS}


def replace(
    conn: Connection, before: Mapping[int, Mapping[str, Any]], written: Iterable[Mapping[str, Any]]
) -> None:
    """A bulk writer's counters, from the values it wrote (each with its "id"): `before` holds the
    FACT_FIELDS of the updated rows as they were (read before the write); a row missing from it
    is new. A field the writer left out keeps its old value (an update) or its default (an insert).
    The batch's old and new totals are compared once, so a batch costs one upsert per table."""
    old_rows = list(before.values())
    if not old_rows:
        write(conn, counters_of_new(written))
        return
    new_rows = [
        {f: values[f] if f in values else before.get(values["id"], _DEFAULTS)[f] for f in FACT_FIELDS}
        for values in written
    ]
    facts: Facts = {}
    stages: StageFacts = {}
    for row in old_rows:
        report_days.accumulate(facts, stages, row, desk_zone(), -1)
    for row in new_rows:
        report_days.accumulate(facts, stages, row, desk_zone())
    apply(conn, (facts, stages))


def counters_of_new(written: Iterable[Mapping[str, Any]]) -> CounterRows:
    """The counter rows that inserting `written` adds (a field left out counts as its default).

    Pure: the legacy import's mapping worker builds them for a batch ahead of the
    writer, in the writer's order, so the sums are the same to the last bit."""
    facts: Facts = {}
    stages: StageFacts = {}
    for values in written:
        row = {f: values[f] if f in values else _DEFAULTS[f] for f in FACT_FIELDS}
        report_days.accumulate(facts, stages, row, desk_zone())
    return counter_rows((facts, stages))


def rebuild(conn: Connection, zone: tzinfo) -> dict[str, int]:
    """Recompute both tables from every request row; running it twice gives the same tables."""
    conn.execute(delete(_DAY))
    conn.execute(delete(_STAGE))
    result = conn.execute(select(*(_REQUEST.c[f] for f in FACT_FIELDS)).execution_options(yield_per=5000))
    requests = 0
    facts: Facts = {}
    stages: StageFacts = {}
    for row in result:
        requests += 1
        report_days.accumulate(facts, stages, row._mapping, zone)
    apply(conn, (facts, stages), fresh=True)
    return {"requests": requests, "day_rows": len(facts), "stage_rows": len(stages)}


# ------------------------------------------------------------------ ORM writers


_BEFORE = "report_days.before"


def _values(obj: Request) -> dict[str, Any]:
    return {f: getattr(obj, f) for f in FACT_FIELDS}


def _old_values(obj: Request) -> dict[str, Any] | None:
    """The fact fields as they were loaded, or None when one of them was never loaded."""
    state = inspect(obj)
    old: dict[str, Any] = {}
    for f in FACT_FIELDS:
        history = state.attrs[f].history
        if history.deleted:
            old[f] = history.deleted[0]
        elif history.unchanged:
            old[f] = history.unchanged[0]
        else:  # set without having been loaded, or expired: the caller reads the row
            return None
    return old


def _facts_changed(obj: Request) -> bool:
    state = inspect(obj)
    # committed_state names every attribute set since the load (changed or not): most flushes
    # of a request touch no fact field, and need no history.
    touched = state.committed_state
    if not any(f in touched for f in FACT_FIELDS):
        return False
    return any(state.attrs[f].history.has_changes() for f in FACT_FIELDS)


def maintain(sessions: sessionmaker | type[Session], zone: tzinfo | None = None) -> None:
    """Keep the counters in step with every Request the factory's sessions flush (counted in
    `zone`'s days; the desk's zone, read at the first flush, when None)."""

    @event.listens_for(sessions, "before_flush")
    def _before(session: Session, _context: Any, _instances: Any) -> None:
        before: dict[int, dict[str, Any] | None] = {}
        unknown: dict[int, Request] = {}
        for obj in session.dirty:
            if isinstance(obj, Request) and _facts_changed(obj):
                old = _old_values(obj)
                if old is None:
                    unknown[id(obj)] = obj
                before[id(obj)] = old
        for obj in session.deleted:
            if isinstance(obj, Request):
                before[id(obj)] = _old_values(obj) or _values(obj)
        if unknown:  # an attribute set without being loaded: read what the row holds now
            stored = fact_rows(session.connection(), [o.id for o in unknown.values()])
            for key, obj in unknown.items():
                before[key] = stored.get(obj.id)
        if before or any(isinstance(o, Request) for o in session.new):
            session.info[_BEFORE] = before

    @event.listens_for(sessions, "after_flush")
    def _after(session: Session, _context: Any) -> None:
        before = session.info.pop(_BEFORE, None)
        if before is None:
            return
        changes: list[tuple[Facts, StageFacts]] = []
        for obj in session.new:
            if isinstance(obj, Request):
                changes.append(report_days.contribution(_values(obj), zone or desk_zone()))
        for obj in list(session.dirty) + list(session.deleted):
            key = id(obj)
            if not isinstance(obj, Request) or key not in before:
                continue
            new = None if obj in session.deleted else _values(obj)
            changes.append(
                report_days.difference(
                    report_days.contribution(before[key], zone or desk_zone()),
                    report_days.contribution(new, zone or desk_zone()),
                )
            )
        facts, stages = report_days.total(changes)
        facts, stages = report_days.difference(({}, {}), (facts, stages))
        if facts or stages:
            apply(session.connection(), (facts, stages))
