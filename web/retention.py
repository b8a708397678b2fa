"""History cleanup wired into the app: configuration, the schedulers, health, and the commands.

Who runs it:
- `flask --app web history-cleanup` and the admin button, at once, whatever the window;
- `POST /engine-rest/history/cleanup` asks for a run (the state row's `due_at`), which the
  embedded worker or, with Redis, the scheduler starts;
- inside Camunda's daily batch window, the embedded worker (`flask --app web worker`) runs
  slices of HISTORY_CLEANUP_SLICE_SECONDS between its jobs, and in RQ mode the scheduler sends
  one cleanup message at a time to the `low` queue, which an RQ worker runs for a slice.
The database lease (engine.retention_state) keeps it to one run at a time across processes.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import datetime, timedelta

import click
from flask import Flask, current_app

from engine import retention, retention_state
from engine.retention import BatchWindow, CleanupOptions, CleanupResult, current_or_next_window
from engine.retention_state import CleanupBusyError
from engine.timer_start import server_zone
from service import retention as service_retention
from service.permissions import Principal

log = logging.getLogger(__name__)

CHECK_EVERY = 30.0  # seconds between the embedded worker's looks at the state row
RQ_MARKER = "desk:history-cleanup:sent"


def options(
    app: Flask, *, batch: int | None = None, max_seconds: float | None = None, until: datetime | None = None
) -> CleanupOptions:
    if batch is not None and batch < 1:
        raise click.BadParameter(f"{batch} is not a batch size; give 1 or more", param_hint="--batch")
    return CleanupOptions(
        default_ttl=app.config["HISTORY_TIME_TO_LIVE"],
        batch_size=batch or int(app.config["HISTORY_CLEANUP_BATCH_SIZE"]),
        lease=timedelta(seconds=float(app.config["HISTORY_CLEANUP_LEASE_SECONDS"])),
        until=until,
        max_seconds=max_seconds,
        pause=float(app.config.get("HISTORY_CLEANUP_PAUSE_SECONDS", 0)),
    )


def window(app: Flask, now: datetime) -> BatchWindow | None:
    """The batch window `now` is in or the next one; None when no window is configured."""
    start = app.config.get("HISTORY_CLEANUP_BATCH_WINDOW_START_TIME")
    end = app.config.get("HISTORY_CLEANUP_BATCH_WINDOW_END_TIME")
    if not start or not end:
        return None
    return current_or_next_window(
        now,
        retention.parse_window_time(start, "HISTORY_CLEANUP_BATCH_WINDOW_START_TIME"),
        retention.parse_window_time(end, "HISTORY_CLEANUP_BATCH_WINDOW_END_TIME"),
        server_zone(),
    )


def holder_name(app: Flask, trigger: str) -> str:
    return f"{app.config['WORKER_ID']}/{trigger}/{uuid.uuid4().hex[:8]}"


def run_now(
    app: Flask,
    principal: Principal | None,
    trigger: str,
    *,
    batch: int | None = None,
    dry_run: bool = False,
    max_seconds: float | None = None,
    until: datetime | None = None,
) -> CleanupResult:
    """One run through the service layer (permission, desk cleaners); CleanupBusyError while another runs."""
    runtime = app.extensions["runtime"]
    return service_retention.run_cleanup(
        principal,
        app.extensions["sessions"],
        runtime.now,
        holder_name(app, trigger),
        trigger,
        options(app, batch=batch, max_seconds=max_seconds, until=until),
        dry_run=dry_run,
    )


def scheduled_run_due(app: Flask, now: datetime) -> tuple[bool, datetime | None]:
    """Whether a scheduled slice should run now, and until when (the window's end, or None)."""
    if not app.config.get("HISTORY_CLEANUP_ENABLED", True):
        return False, None
    with app.extensions["sessions"]() as session, session.begin():
        state = retention_state.snapshot(session)
    if state.status == "running" and state.lease_until is not None and state.lease_until > now:
        return False, None
    if state.due_at is not None and state.due_at <= now:
        return True, None  # asked for through REST: runs at once, as Camunda's immediatelyDue
    current = window(app, now)
    if current is None or not current.contains(now):
        return False, None
    interval = timedelta(seconds=float(app.config["HISTORY_CLEANUP_INTERVAL"]))
    recent = state.finished_at is not None and state.finished_at > max(current.start, now - interval)
    if recent and not state.remaining_due and state.status != "running":
        return False, None
    with app.extensions["sessions"]() as session:
        if not retention.has_work(session, now, app.config["HISTORY_TIME_TO_LIVE"]):
            return False, None  # nothing to do: no message, no slice
    return True, current.end


def run_scheduled_slice(app: Flask, trigger: str) -> CleanupResult | None:
    """A slice of HISTORY_CLEANUP_SLICE_SECONDS when one is due; None when not due or taken."""
    now = app.extensions["runtime"].now()
    due, until = scheduled_run_due(app, now)
    if not due:
        return None
    system = Principal.of(trigger, roles=("admin",))
    try:
        result = run_now(
            app,
            system,
            trigger,
            max_seconds=float(app.config["HISTORY_CLEANUP_SLICE_SECONDS"]),
            until=until,
        )
    except CleanupBusyError as err:
        log.info("history cleanup not started: %s", err)
        return None
    log.info("history cleanup slice (%s): %s, stopped: %s", trigger, result.summary(), result.stopped)
    return result


def worker_tick(app: Flask) -> int:
    """The embedded worker's hook: at most one look every CHECK_EVERY seconds; never raises."""
    now = time.monotonic()
    last = app.extensions.get("history_cleanup.last_check")
    if last is not None and now - last < CHECK_EVERY:
        return 0
    app.extensions["history_cleanup.last_check"] = now
    try:
        result = run_scheduled_slice(app, "worker")
    except Exception:
        log.exception("history cleanup failed; the worker goes on and tries again later")
        return 0
    return result.removed_instances if result else 0


def maybe_enqueue(app: Flask) -> bool:
    """The RQ scheduler's hook: send one cleanup message when a slice is due and none is on its way."""
    connection = app.extensions.get("redis")
    sender = app.extensions.get("rq_sender")
    if connection is None or sender is None:
        return False
    now = time.monotonic()
    last = app.extensions.get("history_cleanup.last_check")
    if last is not None and now - last < CHECK_EVERY:
        return False
    app.extensions["history_cleanup.last_check"] = now
    due, _ = scheduled_run_due(app, app.extensions["runtime"].now())
    if not due:
        return False
    slice_seconds = float(app.config["HISTORY_CLEANUP_SLICE_SECONDS"])
    if not connection.set(RQ_MARKER, "1", nx=True, ex=int(slice_seconds + CHECK_EVERY)):
        return False
    sender.queues["low"].enqueue(
        "web.retention.rq_cleanup",
        description="desk history cleanup",
        job_timeout=int(slice_seconds * 3 + 60),
        result_ttl=3600,
    )
    return True


def rq_cleanup() -> dict[str, int | float] | None:
    """RQ entry point: one scheduled slice on an RQ worker."""
    from web.queue import _app

    app = _app()
    with app.app_context():
        result = run_scheduled_slice(app, "scheduler")
    return result.summary() if result else None


# ---------------------------------------------------------------------------- status


def status(app: Flask) -> dict[str, object]:
    """The state row, the due backlog and the window: /admin/queues and `health --json`."""
    now = app.extensions["runtime"].now()
    with app.extensions["sessions"]() as session, session.begin():
        state = retention_state.snapshot(session)
        due = retention.due_count(session, now)
    current = window(app, now)
    return {
        **state.as_dict(),
        "due_now": due,
        "enabled": bool(app.config.get("HISTORY_CLEANUP_ENABLED", True)),
        "window_start": current.start.isoformat() if current else None,
        "window_end": current.end.isoformat() if current else None,
        "in_window": bool(current and current.contains(now)),
        "default_ttl_days": app.config["HISTORY_TIME_TO_LIVE"],
    }


# ---------------------------------------------------------------------------- commands


@click.command("history-cleanup")
@click.option("--batch", type=int, help="Instances per transaction (HISTORY_CLEANUP_BATCH_SIZE, 500).")
@click.option("--dry-run", is_flag=True, help="Count what would go; change nothing.")
@click.option("--json", "as_json", is_flag=True)
def history_cleanup_command(batch: int | None, dry_run: bool, as_json: bool) -> None:
    """Remove finished instances past their history time to live now, whatever the batch window."""
    from web.cli_support import _principal

    app = current_app._get_current_object()
    try:
        result = run_now(app, _principal(None), "cli", batch=batch, dry_run=dry_run)
    except CleanupBusyError as err:
        raise click.ClickException(str(err)) from err
    summary = result.summary()
    if as_json:
        click.echo(json.dumps(summary))
    else:
        verb = "would remove" if dry_run else "removed"
        click.echo(
            f"History cleanup {verb} {summary['removed_instances']} instance(s), "
            f"{summary['removed_rows']} row(s) in {summary['seconds']} s; "
            f"{summary['remaining_due']} due instance(s) left"
        )


@click.command("erase-contact")
@click.argument("contact_id", type=int)
@click.option("--user", help="Who erases (recorded); the server's operator by default.")
@click.option("--json", "as_json", is_flag=True)
def erase_contact_command(contact_id: int, user: str | None, as_json: bool) -> None:
    """Erase a contact's personal data from requests, e-mails, calls, notifications and the outbox."""
    from desk.erasure import ErasureError
    from service.erasure import erase_contact
    from web.cli_support import _principal

    app = current_app._get_current_object()
    try:
        report = erase_contact(
            _principal(user), app.extensions["sessions"], contact_id, app.extensions["runtime"].now()
        )
    except ErasureError as err:
        if as_json:
            click.echo(json.dumps({"error": str(err), "open_requests": getattr(err, "numbers", [])}))
        raise click.ClickException(str(err)) from err
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        click.echo(f"Contact {contact_id} erased: " + ", ".join(f"{k} {v}" for k, v in report.counts.items()))
