"""The history cleanup's one state row: who runs it now (a lease), its progress and the last run.

Processes that may clean (the embedded worker, RQ workers, the CLI, the admin button) share
nothing but the database, so the lease lives there: a cleaner takes the row when nobody holds
it or the holder's lease ran out (it died), renews the lease with every batch, and gives the
row back when it stops. The admin page, `health --json` and `/engine-rest/history/cleanup/job`
read the same row. `due_at` is when the next run is wanted (Camunda's cleanup job due date).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, Integer, String, Text, or_, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.errors import EngineError
from engine.store import Base

STATE_ID = 1


class HistoryCleanupState(Base):
    """The cleanup's lease, progress of the current (or last) run, and when the next run is due."""

    __tablename__ = "history_cleanup_state"
    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # idle | running
    holder: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    trigger: Mapped[str | None] = mapped_column(String(32))  # cli | rest | admin | worker | scheduler
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    removed_instances: Mapped[int] = mapped_column(Integer)
    removed_rows: Mapped[int] = mapped_column(Integer)
    remaining_due: Mapped[int | None] = mapped_column(Integer)
    batches: Mapped[int] = mapped_column(Integer)
    longest_batch_ms: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)


class CleanupBusyError(EngineError):
    """Another process holds the cleanup's lease."""

    def __init__(self, holder: str | None, since: datetime | None, lease_until: datetime | None) -> None:
        self.holder, self.since, self.lease_until = holder, since, lease_until
        retry = lease_until.isoformat() if lease_until else "it ends"
        super().__init__(
            f"History cleanup is already running in {holder or 'another process'} "
            f"(since {since.isoformat() if since else '?'}); it continues on its own. "
            f"Look at /admin/queues, or try again after {retry}."
        )


@dataclass(frozen=True)
class CleanupSnapshot:
    """The state row as plain values, for pages, health and REST."""

    status: str
    holder: str | None
    lease_until: datetime | None
    due_at: datetime | None
    trigger: str | None
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None
    removed_instances: int
    removed_rows: int
    remaining_due: int | None
    batches: int
    longest_batch_ms: float
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}


def snapshot(session: Session) -> CleanupSnapshot:
    row = _row(session)
    return CleanupSnapshot(
        row.status,
        row.holder,
        row.lease_until,
        row.due_at,
        row.trigger,
        row.started_at,
        row.heartbeat_at,
        row.finished_at,
        row.removed_instances,
        row.removed_rows,
        row.remaining_due,
        row.batches,
        row.longest_batch_ms,
        row.error,
    )


def _row(session: Session) -> HistoryCleanupState:
    row = session.get(HistoryCleanupState, STATE_ID, populate_existing=True)
    if row is None:  # the migration inserts it; a schema built from the models alone does not
        row = HistoryCleanupState(
            id=STATE_ID, status="idle", removed_instances=0, removed_rows=0, batches=0, longest_batch_ms=0.0
        )
        session.add(row)
        session.flush()
    return row


def claim(session: Session, holder: str, trigger: str, now: datetime, lease: timedelta) -> None:
    """Take the lease for a new run (progress counters start at zero) or raise CleanupBusyError.

    One conditional UPDATE, so two processes asking at once cannot both win on either database.
    """
    _row(session)
    taken = session.execute(
        update(HistoryCleanupState)
        .where(
            HistoryCleanupState.id == STATE_ID,
            or_(
                HistoryCleanupState.holder.is_(None),
                HistoryCleanupState.lease_until < now,
            ),
        )
        .values(
            status="running",
            holder=holder,
            lease_until=now + lease,
            trigger=trigger,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
            removed_instances=0,
            removed_rows=0,
            remaining_due=None,
            batches=0,
            longest_batch_ms=0.0,
            error=None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not taken:
        row = _row(session)
        raise CleanupBusyError(row.holder, row.started_at, row.lease_until)


def heartbeat(session: Session, holder: str, now: datetime, lease: timedelta) -> None:
    """Renew the lease without a batch (stamping removal times)."""
    row = _row(session)
    if row.holder != holder:
        raise CleanupBusyError(row.holder, row.started_at, row.lease_until)
    row.lease_until = now + lease
    row.heartbeat_at = now


def record_batch(
    session: Session, holder: str, now: datetime, lease: timedelta, instances: int, rows: int, batch_ms: float
) -> None:
    """Add one batch to the run's progress and renew the lease, in the batch's own transaction."""
    row = _row(session)
    if row.holder != holder:
        raise CleanupBusyError(row.holder, row.started_at, row.lease_until)
    row.lease_until = now + lease
    row.heartbeat_at = now
    row.removed_instances += instances
    row.removed_rows += rows
    row.batches += 1
    row.longest_batch_ms = max(row.longest_batch_ms, batch_ms)


def release(
    session: Session, holder: str, now: datetime, remaining_due: int | None, error: str | None = None
) -> None:
    """End the run: the row goes back to idle with what is left and why it stopped, if it failed."""
    row = _row(session)
    if row.holder != holder:
        return
    row.status = "idle"
    row.holder = None
    row.lease_until = None
    row.finished_at = now
    row.remaining_due = remaining_due
    row.error = error
    if row.due_at is not None and row.due_at <= now and not remaining_due:
        row.due_at = None


def request_run(session: Session, due_at: datetime) -> CleanupSnapshot:
    """Ask for a run at `due_at` (REST `POST /history/cleanup`); an earlier request stands."""
    row = _row(session)
    if row.due_at is None or due_at < row.due_at:
        row.due_at = due_at
    session.flush()
    return snapshot(session)
