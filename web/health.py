"""Health: /health for load balancers and `flask --app web health` for workers and operators.

/health answers 200 with JSON when the database answers, Redis answers (when configured) and
the schema is at the newest migration; otherwise 503 naming what failed. The command adds
the RQ workers (rq's own registry and heartbeats, plus the time each last finished a job),
the active scheduler and the queues, and exits 1 when anything is wrong.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import click
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue
from redis.exceptions import RedisError
from sqlalchemy import func, or_, select, text

from engine.store import Incident, Job, JobStatus
from web import db, queue, retention

bp = Blueprint("health", __name__)


@dataclass
class Check:
    """One probe's verdict; `ok` is None for a part that is not configured."""

    ok: bool | None
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def _timed(probe: Callable[[], Check]) -> Check:
    started = time.perf_counter()
    try:
        check = probe()
    except Exception as err:  # a probe's failure is its verdict, whatever the driver raised
        check = Check(False, f"{type(err).__name__}: {err}")
    check.data["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return check


@cache
def _script_heads(url: str) -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(db.alembic_config(url)).get_heads())


def check_database(app: Flask) -> Check:
    with app.extensions["db_engine"].connect() as conn:
        conn.execute(text("select 1"))
    return Check(True)


def check_migrations(app: Flask) -> Check:
    heads = set(_script_heads(app.config["DATABASE_URL"]))
    with app.extensions["db_engine"].connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    data = {"current": sorted(current), "head": sorted(heads)}
    if current != heads:
        return Check(
            False,
            f"schema at {', '.join(sorted(current)) or 'nothing'}, code expects {', '.join(sorted(heads))}; "
            "run `flask --app web init-db`",
            data,
        )
    return Check(True, "", data)


def check_redis(app: Flask) -> Check:
    connection = app.extensions.get("redis")
    if connection is None:
        return Check(None, "not configured (embedded mode: jobs run in-process)")
    connection.ping()
    return Check(True)


def web_checks(app: Flask) -> dict[str, Check]:
    return {
        "database": _timed(lambda: check_database(app)),
        "redis": _timed(lambda: check_redis(app)),
        "migrations": _timed(lambda: check_migrations(app)),
    }


def failures(checks: dict[str, Check]) -> list[str]:
    return [f"{name}: {c.detail}" for name, c in checks.items() if c.ok is False]


@bp.get("/health")
def health() -> ResponseReturnValue:
    """200 when this web node can serve; 503 naming what failed (for load balancers and monitors)."""
    checks = web_checks(current_app)
    failed = failures(checks)
    body = {
        "status": "fail" if failed else "ok",
        "failed": failed,
        "checks": {name: asdict(c) for name, c in checks.items()},
    }
    return jsonify(body), 503 if failed else 200


# ---------------------------------------------------------------------------- workers and backlog


def backlog(app: Flask, now: datetime, grace: timedelta) -> dict[str, int]:
    """Job rows by state, open incidents, and overdue jobs: due for longer than `grace` and not
    taken, or taken by a worker whose lease ran out (it probably died)."""
    with app.extensions["sessions"]() as session:
        counts = dict(
            session.execute(
                select(Job.status, func.count())
                .where(
                    Job.status.in_([JobStatus.PENDING.value, JobStatus.LOCKED.value, JobStatus.FAILED.value])
                )
                .group_by(Job.status)
            ).all()
        )
        overdue = session.scalar(
            select(func.count())
            .select_from(Job)
            .where(
                Job.external.is_(False),
                or_(
                    (Job.status == JobStatus.PENDING.value) & (Job.due_at < now - grace),
                    (Job.status == JobStatus.LOCKED.value) & (Job.lock_expires_at < now),
                ),
            )
        )
        incidents = session.scalar(
            select(func.count()).select_from(Incident).where(Incident.status == "open")
        )
    return {
        "pending": counts.get(JobStatus.PENDING.value, 0),
        "running": counts.get(JobStatus.LOCKED.value, 0),
        "failed": counts.get(JobStatus.FAILED.value, 0),
        "overdue": overdue or 0,
        "open_incidents": incidents or 0,
    }


@dataclass
class QueueReport:
    """What the admin page and `health` show about the scale-out machinery."""

    redis: Check
    queues: dict[str, dict[str, int]]
    workers: list[dict[str, Any]]
    scheduler: str | None
    jobs: dict[str, int]

    @property
    def alive(self) -> int:
        return sum(1 for w in self.workers if w["alive"])


def queue_report(app: Flask) -> QueueReport:
    runtime = app.extensions["runtime"]
    grace = timedelta(seconds=int(app.config.get("RQ_RESEND_AFTER", queue.DEFAULT_RESEND_SECONDS)))
    jobs = backlog(app, runtime.now(), grace)
    redis_check = _timed(lambda: check_redis(app))
    connection = app.extensions.get("redis")
    queues: dict[str, dict[str, int]] = {}
    workers: list[dict[str, Any]] = []
    holder = None
    if connection is not None and redis_check.ok:
        try:
            queues = queue.queue_status(connection)
            workers = queue.worker_status(connection)
            holder = queue.scheduler_holder(connection)
        except RedisError as err:
            redis_check = Check(False, f"{type(err).__name__}: {err}")
    return QueueReport(redis_check, queues, workers, holder, jobs)


@click.command("health")
@click.option("--json", "as_json", is_flag=True)
def health_command(as_json: bool) -> None:
    """Check database, Redis, migrations, RQ workers and the scheduler; exit 1 when something is wrong."""
    app = current_app._get_current_object()
    checks = web_checks(app)
    report = queue_report(app)
    if app.extensions.get("redis") is not None:
        checks["workers"] = Check(
            report.alive > 0,
            "" if report.alive else "no RQ worker alive: start `flask --app web rq-worker`",
            {"alive": report.alive, "registered": len(report.workers)},
        )
        checks["scheduler"] = Check(
            report.scheduler is not None,
            report.scheduler or "no active scheduler: start `flask --app web scheduler`",
        )
    cleanup = retention.status(app)
    checks["history_cleanup"] = Check(
        cleanup["error"] is None,
        cleanup["error"] or f"{cleanup['status']}, {cleanup['due_now']} instance(s) due",
        {"due_now": cleanup["due_now"], "last_finished": cleanup["finished_at"]},
    )
    failed = failures(checks)
    data = {
        "status": "fail" if failed else "ok",
        "failed": failed,
        "checks": {name: asdict(c) for name, c in checks.items()},
        "workers": report.workers,
        "queues": report.queues,
        "scheduler": report.scheduler,
        "jobs": report.jobs,
        "history_cleanup": cleanup,
    }
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, default=str))
    else:
        for name, c in checks.items():
            verdict = {True: "ok", False: "FAIL", None: "-"}[c.ok]
            click.echo(f"{name:<11} {verdict:<5} {c.detail}")
        for w in report.workers:
            click.echo(
                f"  worker {w['name']} {w['hostname']}:{w['pid']} {w['state']} "
                f"{'alive' if w['alive'] else 'DEAD'} heartbeat {w['heartbeat_age_s']} s ago, "
                f"last job {w['last_job_at'] or '-'}"
            )
        for name, q in report.queues.items():
            click.echo(f"  queue {name}: queued={q['queued']} running={q['running']} failed={q['failed']}")
        click.echo("  jobs: " + " ".join(f"{k}={v}" for k, v in report.jobs.items()))
    if failed:
        raise SystemExit(1)
