"""`import run`: turn NEW staging rows into real rows, batch by batch, each batch one transaction.

A batch picks the oldest NEW rows of one kind, maps each with `desk.legacy.mapping`,
upserts the results by external id and marks every staging row SUCCESS or FAILED
in the same transaction. So a run killed at any moment (even SIGKILL) has either
committed a batch whole or not at all; the rerun picks up exactly the rows not yet
done and, because new ids are assigned from the table's current maximum inside
the batch's lock, ends with the same database an uninterrupted run would have.

New rows get explicit ids (request numbers follow `desk.crm.request_number`, so
they come from the same id space as live requests and cannot collide); on
PostgreSQL the tables are locked against concurrent inserts for the batch and the
id sequences are moved past what the batch used, so live requests keep numbering
after the imported ones.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.orm import Session

from desk import crm
from desk.legacy import premap
from desk.legacy.mapping import MappingContext, Mappings
from desk.legacy.store import KINDS, ImportRun, LegacyFile, LegacyMapping, RowStatus, StagingRow
from desk.legacy.writers import WRITERS, Batch, file_level_problem

__all__ = [
    "BATCH_ROWS",
    "Progress",
    "RunReport",
    "counts",
    "latest_progress",
    "load_context",
    "retry_failed",
    "run",
]

BATCH_ROWS = 5000
_LOCKED = ("legacy_staging", "legacy_link", "company", "contact", "deal", "request")


@dataclass
class RunReport:
    """Totals of one run: rows processed, imported (created, updated or unchanged) and failed."""

    processed: int = 0
    succeeded: int = 0
    failed: int = 0
    seconds: float = 0.0
    by_kind: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.processed / self.seconds if self.seconds else 0.0


def counts(engine: Engine) -> dict[str, dict[str, int]]:
    """Staging rows per kind and status: what `import status` and the admin page show."""
    table: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for kind, status, n in conn.execute(
            select(StagingRow.kind, StagingRow.status, func.count()).group_by(
                StagingRow.kind, StagingRow.status
            )
        ):
            table.setdefault(kind, {s.value: 0 for s in RowStatus})[status] = n
    return table


@dataclass(frozen=True)
class Progress:
    """The latest run as the admin page shows it: done of total, rows/s and the time still needed."""

    run_id: int
    total: int
    processed: int
    succeeded: int
    failed: int
    started_at: datetime
    finished_at: datetime | None
    rate: float
    eta_seconds: float | None
    stalled: bool

    @property
    def percent(self) -> float:
        return 100.0 * self.processed / self.total if self.total else 100.0


STALLED_AFTER = timedelta(minutes=5)


def latest_progress(engine: Engine, now: datetime) -> Progress | None:
    """Progress of the most recent run, from its row that every batch updates (None before any run).

    A run whose row has not moved for `STALLED_AFTER` was killed or hangs: it
    is reported stalled, without an ETA; the next `import run` resumes it.
    """
    with engine.connect() as conn:
        row = conn.execute(select(ImportRun).order_by(ImportRun.id.desc()).limit(1)).first()
    if row is None:
        return None
    elapsed = ((row.finished_at or row.updated_at) - row.started_at).total_seconds()
    rate = row.processed / elapsed if elapsed > 0 else 0.0
    left = max(0, row.total - row.processed)
    stalled = row.finished_at is None and now - row.updated_at > STALLED_AFTER
    eta = None if stalled or (row.finished_at is None and not rate) else (left / rate if rate else 0.0)
    return Progress(
        row.id,
        row.total,
        row.processed,
        row.succeeded,
        row.failed,
        row.started_at,
        row.finished_at,
        rate,
        eta,
        stalled,
    )


def retry_failed(engine: Engine, kind: str | None = None) -> int:
    """Put FAILED rows back to NEW (after the mapping or the data was fixed); returns how many."""
    condition = [StagingRow.status == RowStatus.FAILED.value]
    if kind is not None:
        condition.append(StagingRow.kind == kind)
    with engine.begin() as conn:
        return conn.execute(
            update(StagingRow).where(*condition).values(status=RowStatus.NEW.value, message=None)
        ).rowcount


def load_context(conn: Connection) -> MappingContext:
    """Mappings, calendars and SLA policies as the admins configured them, read once per run."""
    with Session(bind=conn) as session:
        rows = conn.execute(select(LegacyMapping.field, LegacyMapping.source, LegacyMapping.target)).all()
        return MappingContext(
            mappings=Mappings.with_overrides((r.field, r.source, r.target) for r in rows),
            calendars=crm.calendars(session),
            policies=crm.sla_policies(session),
        )


def run(
    engine: Engine,
    *,
    now: Callable[[], datetime],
    batch_rows: int = BATCH_ROWS,
    kinds: Sequence[str] = KINDS,
    progress: Callable[[int, int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    map_ahead: bool = True,
) -> RunReport:
    """Process every NEW row of `kinds`, in dependency order; `progress(done, failed)` after each batch.

    `map_ahead` maps the next batches of request rows in worker processes
    while one is written (desk.legacy.premap); the result is the same either way.
    """
    started = time.perf_counter()
    report = RunReport()
    with engine.begin() as conn:
        total = conn.scalar(
            select(func.count()).where(StagingRow.status == RowStatus.NEW.value, StagingRow.kind.in_(kinds))
        )
        context = load_context(conn)
        run_id = conn.execute(
            insert(ImportRun).values(started_at=now(), updated_at=now(), total=total).returning(ImportRun.id)
        ).scalar_one()
    if on_total is not None:
        on_total(total)
    workers = premap.WORKERS if map_ahead and "requests" in kinds and total > batch_rows else 0
    with _fewer_collections(), premap.Premapper(context, workers) as premapper:
        job = _Run(engine, run_id, batch_rows, context, premapper, now, progress, report)
        for kind in (k for k in KINDS if k in kinds):
            job.kind(kind)
    report.processed = report.succeeded + report.failed
    with engine.begin() as conn:
        conn.execute(
            update(ImportRun).where(ImportRun.id == run_id).values(updated_at=now(), finished_at=now())
        )
    report.seconds = time.perf_counter() - started
    return report


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """The mapping worker's collector thresholds for the run (premap.GC_THRESHOLD), then the old ones."""
    before = gc.get_threshold()
    gc.set_threshold(*premap.GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*before)


class _FirstLines:
    """(file, external id) -> the first line that has it, for the external ids a file repeats.

    A staged file is a prefix of the export (the loader writes in file order), so
    every line before a staged row is staged too and a row's first line never
    changes once the row is there. So one grouping over the kind's staging rows
    serves every batch whose rows it saw (ids up to `horizon`); it replaced a
    lookup of each batch's 5,000 external ids. Taken inside a batch, after the
    PostgreSQL lock that waits out loads in progress, no id below the horizon
    can still be uncommitted. A batch with rows staged later groups again.
    """

    def __init__(self) -> None:
        self.horizon = -1
        self.repeated: dict[tuple[int, str], int] = {}

    def covering(self, conn: Connection, kind: str, rows: Sequence[Row]) -> dict[tuple[int, str], int]:
        if rows and rows[-1].id > self.horizon:
            self.horizon = conn.scalar(select(func.max(StagingRow.id)).where(StagingRow.kind == kind)) or 0
            self.repeated = {
                (file_id, external_id): line
                for file_id, external_id, line in conn.execute(
                    select(StagingRow.file_id, StagingRow.external_id, func.min(StagingRow.source_line))
                    .where(StagingRow.kind == kind, StagingRow.external_id.is_not(None))
                    .group_by(StagingRow.file_id, StagingRow.external_id)
                    .having(func.count() > 1)
                )
            }
        return self.repeated


@dataclass
class _Run:
    """One `import run`: what every batch needs, and the totals it adds to."""

    engine: Engine
    run_id: int
    batch_rows: int
    context: MappingContext
    premapper: premap.Premapper
    now: Callable[[], datetime]
    progress: Callable[[int, int], None] | None
    report: RunReport
    first_lines: _FirstLines = field(default_factory=_FirstLines)

    def kind(self, kind: str) -> None:
        """Batches of `kind` until no NEW row is left, each committed with the run's progress row."""
        ok_kind = failed_kind = 0
        after = 0
        while True:
            with self.engine.begin() as conn:
                outcome = _batch(
                    conn, kind, self.batch_rows, self.context, self.premapper, self.first_lines, after
                )
                if outcome is None and after:
                    after = 0  # once more from the start: rows set back to NEW meanwhile (retry-failed)
                    continue
                if outcome is None:
                    break
                ok, failed, after = outcome
                conn.execute(
                    update(ImportRun)
                    .where(ImportRun.id == self.run_id)
                    .values(
                        updated_at=self.now(),
                        processed=ImportRun.processed + ok + failed,
                        succeeded=ImportRun.succeeded + ok,
                        failed=ImportRun.failed + failed,
                    )
                )
            ok_kind, failed_kind = ok_kind + ok, failed_kind + failed
            if self.progress is not None:
                self.progress(ok, failed)
        if ok_kind or failed_kind:
            self.report.by_kind[kind] = (ok_kind, failed_kind)
        self.report.succeeded += ok_kind
        self.report.failed += failed_kind


def _batch(
    conn: Connection,
    kind: str,
    size: int,
    context: MappingContext,
    premapper: premap.Premapper,
    first_lines: _FirstLines,
    after: int,
) -> tuple[int, int, int] | None:
    """One batch of the NEW rows of `kind` after staging id `after`: (succeeded, failed, last id).

    `after` is where the previous batch of the run ended: the rows before it are
    done, and starting the pick there spares the index scan the entries those
    rows left under NEW (dead until vacuum), which grew every batch's pick with
    the run.
    """
    if conn.dialect.name == "postgresql":
        _fast_commit(conn)
        conn.exec_driver_sql(f"LOCK TABLE {', '.join(_LOCKED)} IN SHARE ROW EXCLUSIVE MODE")
    # Request rows come without their raw JSON: the worker mapped them from the copy it was sent,
    # and the writer reads the raw text of only the few it has to map itself (Batch.raw_of).
    rows = _new_rows(conn, kind, size, after=after, raw=kind != "requests")
    if not rows:
        return None
    ahead = premapper.take() if kind == "requests" else premap.Ahead()
    if kind == "requests":
        _map_ahead(conn, premapper, size, first_lines, after=rows[-1].id)
    batch = Batch(conn, kind, rows, context, first_lines.covering(conn, kind, rows), ahead)
    WRITERS[kind](batch)
    return (*batch.finish(), rows[-1].id)


def _fast_commit(conn: Connection) -> None:
    """Let this batch's commit return before its WAL reaches the disk (PostgreSQL, this transaction only).

    Safe for a resumable import: if the database server itself crashes, it
    loses at most the last few committed batches, and each whole (their
    request rows, links, counters and staging statuses alike), so those rows
    are NEW again and the next `import run` does them as if never run. A killed
    `import run` loses nothing: the server still flushes what was committed.
    """
    conn.exec_driver_sql("SET LOCAL synchronous_commit = off")


def _map_ahead(
    conn: Connection, premapper: premap.Premapper, size: int, first_lines: _FirstLines, after: int
) -> None:
    """Hand the rows after this batch to the idle mapping workers (nothing when mapping inline).

    Rows that fail before mapping stay behind, so that what the worker maps (and
    counts for the reports) is what the writer will insert in a fresh import."""
    for _ in range(premapper.wanted):
        following = _new_rows(conn, "requests", size, after=max(after, premapper.submitted_through))
        if not following:
            return
        first = first_lines.covering(conn, "requests", following)
        premapper.submit(
            [(r.id, r.raw, r.id_column) for r in following if file_level_problem(r, first) is None],
            through=following[-1].id,
        )


def _new_rows(conn: Connection, kind: str, size: int, *, after: int = 0, raw: bool = True) -> Sequence[Row]:
    """The first `size` NEW rows of `kind` after staging id `after`, in file order, with the id column
    (and their raw JSON unless `raw` is false)."""
    return conn.execute(
        select(
            StagingRow.id,
            StagingRow.file_id,
            StagingRow.source_line,
            StagingRow.external_id,
            *([StagingRow.raw] if raw else []),
            StagingRow.problem,
            # A subquery, not a join: with the fresh table's stale statistics the planner
            # hash-joined and sorted every NEW row (0.6 s a batch at 290,000 rows).
            select(LegacyFile.id_column)
            .where(LegacyFile.id == StagingRow.file_id)
            .scalar_subquery()
            .label("id_column"),
        )
        .where(StagingRow.kind == kind, StagingRow.status == RowStatus.NEW.value, StagingRow.id > after)
        .order_by(StagingRow.id)
        .limit(size)
    ).all()
