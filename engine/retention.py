"""History cleanup as Camunda 7 does it: finished instances past their time to live go, whole,
in small batches that never hold a lock for long.

- Time to live: `camunda:historyTimeToLive` on the process, days as a number or `P<n>D`
  (Camunda's ParseUtil.parseHistoryTimeToLive); a diagram without one gets the configured
  default; `P0D` means "as soon as it ends".
- Removal time: a finished instance is stamped `ended_at + time to live` (Camunda's
  removal-time strategy "end"); running instances are never stamped, so never removed. The
  stamp is fixed once written, as Camunda's is: changing a diagram's or the default time to
  live applies to instances that finish afterwards.
- Removal: due instances are read in removal-time order from a partial index, a batch at a
  time, each batch its own short transaction holding every row of its instances, so a run
  killed at any moment leaves whole instances only. On PostgreSQL a batch locks its instance
  rows with SKIP LOCKED, so two cleaners take disjoint batches; SQLite serialises writers.
- What belongs to an instance is found in the metadata, not listed here: every engine table
  with an `instance_id` column, and the tables hanging on those by foreign key (a task's
  candidates). Callers add the rows of their own domain through `extra` cleaners.
- Batch window: Camunda's `historyCleanupBatchWindowStartTime/EndTime` ("HH:mm", optionally
  with an offset "HH:mm+hhmm"); an end at or before the start runs past midnight.
"""

from __future__ import annotations

import logging
import re
import time as monotonic
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, timezone, tzinfo

from sqlalchemy import Table, bindparam, delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from engine import retention_state
from engine.errors import EngineError
from engine.store import Base, Instance, ProcessDefinition

log = logging.getLogger(__name__)

TTL_ISO = re.compile(r"^P(\d+)D$")
WINDOW_TIME = re.compile(r"^(\d{2}):(\d{2})(?:(Z)|([+-])(\d{2}):?(\d{2}))?$")
FINISHED = text("instance.status <> 'running'")  # the partial indexes' own words, so PostgreSQL uses them
STAMP_CHUNK = 1000

# Called inside a batch's transaction with the ids of the instances it removes; returns rows removed.
InstanceCleaner = Callable[[Session, list[str]], int]


class RetentionError(EngineError):
    """Base of the history cleanup's errors."""


class HistoryTimeToLiveError(RetentionError):
    """A historyTimeToLive value is not a number of days."""

    def __init__(self, value: str, where: str = "camunda:historyTimeToLive") -> None:
        self.value = value
        super().__init__(
            f"{where} {value!r} is not a time to live: write a number of days (180) or P<n>D (P180D), "
            "0 or more, as Camunda 7 reads it."
        )


class BatchWindowError(RetentionError):
    """A batch window time is not "HH:mm" (with an optional offset)."""

    def __init__(self, setting: str, value: str) -> None:
        self.setting, self.value = setting, value
        super().__init__(
            f"{setting}={value!r} is not a time of day; write HH:mm (23:00) or HH:mm with an offset "
            "(23:00+0300), as Camunda's historyCleanupBatchWindowStartTime."
        )


def parse_history_ttl(value: str | None, where: str = "camunda:historyTimeToLive") -> int | None:
    """Days from "180" or "P180D"; None for no value. Negative or other values raise."""
    if value is None or not value.strip():
        return None
    raw = value.strip()
    match = TTL_ISO.match(raw)
    digits = match.group(1) if match else raw
    if not re.fullmatch(r"-?\d{1,9}", digits):
        raise HistoryTimeToLiveError(value, where)
    days = int(digits)
    if days < 0:
        raise HistoryTimeToLiveError(value, where)
    return days


def effective_ttl(diagram_ttl: int | None, default_ttl: int | None) -> tuple[int | None, str]:
    """The time to live that applies and where it came from ("diagram", "default" or "none")."""
    if diagram_ttl is not None:
        return diagram_ttl, "diagram"
    if default_ttl is not None:
        return default_ttl, "default"
    return None, "none"


# ------------------------------------------------------------------------------- batch window


@dataclass(frozen=True)
class WindowTime:
    """One end of the daily batch window; `zone` None means the caller's zone."""

    at: time
    zone: tzinfo | None = None


@dataclass(frozen=True)
class BatchWindow:
    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def parse_window_time(value: str, setting: str) -> WindowTime:
    match = WINDOW_TIME.match(value.strip())
    if not match:
        raise BatchWindowError(setting, value)
    hours, minutes, utc, sign, off_h, off_m = match.groups()
    if int(hours) > 23 or int(minutes) > 59:
        raise BatchWindowError(setting, value)
    zone: tzinfo | None = UTC if utc else None
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        zone = timezone(-offset if sign == "-" else offset)
    return WindowTime(time(int(hours), int(minutes)), zone)


def _window_on(day: datetime, start: WindowTime, end: WindowTime, zone: tzinfo) -> BatchWindow:
    begins = datetime.combine(day.date(), start.at, start.zone or zone)
    ends = datetime.combine(day.date(), end.at, end.zone or zone)
    if ends <= begins:
        ends += timedelta(days=1)
    return BatchWindow(begins, ends)


def current_or_next_window(
    now: datetime, start: WindowTime | None, end: WindowTime | None, zone: tzinfo
) -> BatchWindow | None:
    """The window `now` is in, else the next one (Camunda's getCurrentOrNextBatchWindow); None
    when no window is configured (then only manual runs clean)."""
    if start is None or end is None:
        return None
    local = now.astimezone(zone)
    yesterday = _window_on(local - timedelta(days=1), start, end, zone)
    if yesterday.contains(now):
        return yesterday
    today = _window_on(local, start, end, zone)
    if today.contains(now) or now < today.start:
        return today
    return _window_on(local + timedelta(days=1), start, end, zone)


# ------------------------------------------------------------------------------- what belongs


@dataclass(frozen=True)
class Owned:
    """A table whose rows belong to an instance: directly (`column`) or through a parent row."""

    table: Table
    column: str
    parent: Table | None = None
    parent_key: str | None = None


def owned_tables() -> list[Owned]:
    """Every engine table holding instance rows, children first (so foreign keys never object)."""
    import engine.admin_store  # noqa: F401  (variable audits and migration items are instance rows too)

    direct = [
        t for t in Base.metadata.sorted_tables if "instance_id" in t.c and t.name != Instance.__tablename__
    ]
    out: list[Owned] = []
    for table in reversed(Base.metadata.sorted_tables):
        if table in direct:
            out.append(Owned(table, "instance_id"))
            continue
        if "instance_id" in table.c:
            continue
        for fk in table.foreign_keys:
            if fk.column.table in direct:
                out.append(Owned(table, fk.parent.name, fk.column.table, fk.column.name))
    # Children of a direct table must go before it: order by the metadata's dependency order.
    order = {t: i for i, t in enumerate(reversed(Base.metadata.sorted_tables))}
    return sorted(out, key=lambda o: order[o.table])


def _owned_where(owned: Owned, ids: list[str]):
    if owned.parent is None:
        return owned.table.c[owned.column].in_(ids)
    parent_ids = select(owned.parent.c[owned.parent_key]).where(owned.parent.c.instance_id.in_(ids))
    return owned.table.c[owned.column].in_(parent_ids)


def remove_instances(session: Session, ids: list[str], extra: Sequence[InstanceCleaner] = ()) -> int:
    """Delete these instances and every row that belongs to them; returns rows deleted in all.

    The caller's transaction holds it all, so the instances go whole or not at all.
    """
    if not ids:
        return 0
    rows = sum(cleaner(session, ids) for cleaner in extra)
    for owned in owned_tables():
        rows += session.execute(delete(owned.table).where(_owned_where(owned, ids))).rowcount or 0
    table = Instance.__table__
    rows += session.execute(delete(table).where(table.c.id.in_(ids))).rowcount or 0
    return rows


def count_rows(session: Session, ids: list[str]) -> int:
    """The rows `remove_instances` would delete for these ids (engine tables only): the dry run."""
    if not ids:
        return 0
    total = len(ids)
    for owned in owned_tables():
        total += session.scalar(select(func.count()).select_from(owned.table).where(_owned_where(owned, ids)))
    return total


# ------------------------------------------------------------------------------- removal time


def stamp_removal_times(
    session: Session, now: datetime, default_ttl: int | None, limit: int = STAMP_CHUNK, lock: bool = False
) -> int:
    """Give up to `limit` finished, unstamped instances their removal time; returns how many.

    Instances whose definition has no time to live (and no default applies) keep none: they
    stay until someone sets one.
    """
    stmt = (
        select(Instance.id, Instance.ended_at, Instance.started_at, ProcessDefinition.history_ttl)
        .join(ProcessDefinition, ProcessDefinition.id == Instance.definition_id)
        .where(Instance.removal_time.is_(None), FINISHED)
        .limit(limit)
    )
    if default_ttl is None:
        stmt = stmt.where(ProcessDefinition.history_ttl.is_not(None))
    if lock:
        stmt = stmt.with_for_update(of=Instance, skip_locked=True)
    rows = session.execute(stmt).all()
    stamps = []
    for instance_id, ended_at, started_at, ttl in rows:
        days, _ = effective_ttl(ttl, default_ttl)
        if days is None:
            continue
        stamps.append({"b_id": instance_id, "b_at": (ended_at or started_at or now) + timedelta(days=days)})
    if stamps:
        table = Instance.__table__
        session.execute(
            table.update().where(table.c.id == bindparam("b_id")).values(removal_time=bindparam("b_at")),
            stamps,
        )
    return len(stamps)


def due_count(session: Session, now: datetime) -> int:
    """Finished instances whose removal time has come (stamped ones)."""
    return session.scalar(
        select(func.count()).select_from(Instance).where(Instance.removal_time <= now, FINISHED)
    )


def has_work(session: Session, now: datetime, default_ttl: int | None) -> bool:
    """Whether a run would do anything: an instance is due, or a finished one awaits its stamp."""
    if session.scalar(select(Instance.id).where(Instance.removal_time <= now, FINISHED).limit(1)):
        return True
    unstamped = (
        select(Instance.id)
        .join(ProcessDefinition, ProcessDefinition.id == Instance.definition_id)
        .where(Instance.removal_time.is_(None), FINISHED)
        .limit(1)
    )
    if default_ttl is None:
        unstamped = unstamped.where(ProcessDefinition.history_ttl.is_not(None))
    return session.scalar(unstamped) is not None


def due_ids(session: Session, now: datetime, limit: int, lock: bool = False) -> list[str]:
    stmt = (
        select(Instance.id)
        .where(Instance.removal_time <= now, FINISHED)
        .order_by(Instance.removal_time, Instance.id)
        .limit(limit)
    )
    if lock:
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def expired_unstamped_ids(session: Session, now: datetime, default_ttl: int | None) -> Iterator[list[str]]:
    """Read-only: finished instances not stamped yet whose time to live has passed (the dry run)."""
    last = ""
    while True:
        stmt = (
            select(Instance.id, Instance.ended_at, Instance.started_at, ProcessDefinition.history_ttl)
            .join(ProcessDefinition, ProcessDefinition.id == Instance.definition_id)
            .where(Instance.removal_time.is_(None), FINISHED, Instance.id > last)
            .order_by(Instance.id)
            .limit(STAMP_CHUNK)
        )
        rows = session.execute(stmt).all()
        if not rows:
            return
        last = rows[-1][0]
        chunk = []
        for instance_id, ended_at, started_at, ttl in rows:
            days, _ = effective_ttl(ttl, default_ttl)
            if days is not None and (ended_at or started_at or now) + timedelta(days=days) <= now:
                chunk.append(instance_id)
        yield chunk


# ------------------------------------------------------------------------------- the run


@dataclass
class CleanupOptions:
    """How one run behaves; `until` is the batch window's end, `max_seconds` a slice of a worker."""

    default_ttl: int | None
    batch_size: int = 500
    lease: timedelta = timedelta(seconds=60)
    until: datetime | None = None
    max_seconds: float | None = None
    # Seconds of rest between batches: on SQLite (one writer) the live desk's commits get the file.
    pause: float = 0.0
    extra: Sequence[InstanceCleaner] = field(default_factory=tuple)


@dataclass
class CleanupResult:
    removed_instances: int = 0
    removed_rows: int = 0
    remaining_due: int = 0
    seconds: float = 0.0
    batches: int = 0
    stamped: int = 0
    longest_batch_ms: float = 0.0
    stopped: str = "done"  # done | window | time

    def summary(self) -> dict[str, int | float]:
        """The CLI's JSON object, exactly as the issue pins it."""
        return {
            "removed_instances": self.removed_instances,
            "removed_rows": self.removed_rows,
            "remaining_due": self.remaining_due,
            "seconds": round(self.seconds, 3),
        }


def dry_run(sessions: sessionmaker, now: datetime, default_ttl: int | None) -> CleanupResult:
    """What a run now would remove, without writing anything."""
    started = monotonic.perf_counter()
    result = CleanupResult(stopped="dry-run")
    with sessions() as session:
        chunk: list[str] = []
        last_removal, last_id = None, ""
        while True:
            stmt = (
                select(Instance.id, Instance.removal_time)
                .where(Instance.removal_time <= now, FINISHED)
                .order_by(Instance.removal_time, Instance.id)
                .limit(STAMP_CHUNK)
            )
            if last_removal is not None:
                stmt = stmt.where(
                    (Instance.removal_time > last_removal)
                    | ((Instance.removal_time == last_removal) & (Instance.id > last_id))
                )
            rows = session.execute(stmt).all()
            if not rows:
                break
            last_id, last_removal = rows[-1]
            chunk = [r[0] for r in rows]
            result.removed_instances += len(chunk)
            result.removed_rows += count_rows(session, chunk)
        for chunk in expired_unstamped_ids(session, now, default_ttl):
            result.removed_instances += len(chunk)
            result.removed_rows += count_rows(session, chunk)
    result.remaining_due = result.removed_instances
    result.seconds = monotonic.perf_counter() - started
    return result


def run_cleanup(
    sessions: sessionmaker,
    clock: Callable[[], datetime],
    holder: str,
    trigger: str,
    options: CleanupOptions,
) -> CleanupResult:
    """One run: take the lease, stamp what finished, remove due instances batch by batch.

    Stops when nothing is due, at the window's end, or after `max_seconds`; the lease is
    given back in every case (a crash leaves it to expire). Raises CleanupBusyError when
    another process holds it.
    """
    started = monotonic.perf_counter()
    result = CleanupResult()
    with sessions() as session, session.begin():
        lock = session.bind.dialect.name == "postgresql"
        retention_state.claim(session, holder, trigger, clock(), options.lease)
    error: str | None = None
    try:
        while True:
            stamp_started = monotonic.perf_counter()
            with sessions() as session, session.begin():
                stamped = stamp_removal_times(session, clock(), options.default_ttl, lock=lock)
                if stamped:
                    retention_state.heartbeat(session, holder, clock(), options.lease)
            stamp_ms = (monotonic.perf_counter() - stamp_started) * 1000
            result.longest_batch_ms = max(result.longest_batch_ms, stamp_ms)  # the longest transaction
            result.stamped += stamped
            if stamped < STAMP_CHUNK:
                break
        while True:
            stop = _stop_reason(options, clock(), started)
            if stop:
                result.stopped = stop
                break
            batch_started = monotonic.perf_counter()
            with sessions() as session, session.begin():
                ids = due_ids(session, clock(), options.batch_size, lock=lock)
                if not ids:
                    break
                rows = remove_instances(session, ids, options.extra)
                batch_ms = (monotonic.perf_counter() - batch_started) * 1000
                retention_state.record_batch(
                    session, holder, clock(), options.lease, len(ids), rows, batch_ms
                )
            result.batches += 1
            result.removed_instances += len(ids)
            result.removed_rows += rows
            result.longest_batch_ms = max(result.longest_batch_ms, batch_ms)
            if options.pause > 0:
                monotonic.sleep(options.pause)
            log.info(
                "history cleanup %s: batch of %s instances, %s rows, %.0f ms",
                holder,
                len(ids),
                rows,
                batch_ms,
            )
    except Exception as err:
        error = f"{type(err).__name__}: {err}"
        raise
    finally:
        with sessions() as session, session.begin():
            result.remaining_due = due_count(session, clock())
            retention_state.release(session, holder, clock(), result.remaining_due, error)
        result.seconds = monotonic.perf_counter() - started
    return result


def _stop_reason(options: CleanupOptions, now: datetime, started: float) -> str | None:
    if options.until is not None and now >= options.until:
        return "window"
    if options.max_seconds is not None and monotonic.perf_counter() - started >= options.max_seconds:
        return "time"
    return None
