"""History cleanup at every door (CLI, /engine-rest, the admin button, the schedulers): one
permission decision and one idea of what an instance's removal takes with it on the desk side.

The engine removes its own rows (engine.retention). The desk keeps its facts: request rows
(reports read processing time, pickup, SLA and time in stage from them) stay as they are,
pointing at an instance that no longer exists; the notifications the process's jobs sent
(idempotency keys `job:…`), once delivered, dead or skipped, go with the instance.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from desk.messages import MailMessage
from desk.models import Notification, Request
from desk.outbox import Status
from engine import retention, retention_state
from service.permissions import Principal, require

# Outbox rows that will not be sent again: removing them loses nothing the outbox needs.
FINISHED_DELIVERIES = (Status.SENT.value, Status.DEAD.value, Status.SKIPPED.value)


def remove_process_notifications(session: Session, instance_ids: list[str]) -> int:
    """Delete the delivered notifications the removed instances' jobs wrote; returns rows deleted."""
    requests = select(Request.id).where(Request.instance_id.in_(instance_ids))
    ids = list(
        session.scalars(
            select(Notification.id).where(
                Notification.request_id.in_(requests),
                Notification.idempotency_key.like("job:%"),
                Notification.status.in_(FINISHED_DELIVERIES),
            )
        )
    )
    if not ids:
        return 0
    session.execute(
        update(MailMessage).where(MailMessage.notification_id.in_(ids)).values(notification_id=None)
    )
    session.execute(
        update(Notification).where(Notification.fallback_of_id.in_(ids)).values(fallback_of_id=None)
    )
    return session.execute(delete(Notification).where(Notification.id.in_(ids))).rowcount or 0


DESK_CLEANERS: tuple[retention.InstanceCleaner, ...] = (remove_process_notifications,)


def run_cleanup(
    principal: Principal | None,
    sessions: sessionmaker,
    clock: Callable[[], datetime],
    holder: str,
    trigger: str,
    options: retention.CleanupOptions,
    *,
    dry_run: bool = False,
) -> retention.CleanupResult:
    """Clean now if `principal` may (history_cleanup.run); CleanupBusyError while another runs."""
    require(principal, "run", "history_cleanup")
    if dry_run:
        return retention.dry_run(sessions, clock(), options.default_ttl)
    options.extra = (*DESK_CLEANERS, *options.extra)
    return retention.run_cleanup(sessions, clock, holder, trigger, options)


def request_cleanup(
    principal: Principal | None, sessions: sessionmaker, due_at: datetime
) -> retention_state.CleanupSnapshot:
    """Ask the schedulers for a run at `due_at` (Camunda's cleanUpHistoryAsync)."""
    require(principal, "run", "history_cleanup")
    with sessions() as session, session.begin():
        return retention_state.request_run(session, due_at)


def cleanup_state(principal: Principal | None, sessions: sessionmaker) -> retention_state.CleanupSnapshot:
    require(principal, "read", "history_cleanup")
    with sessions() as session, session.begin():
        return retention_state.snapshot(session)
