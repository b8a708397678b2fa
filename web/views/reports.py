"""Reports for managers: processing time in working hours by bucket, pickup KPI, SLA breaches, time in
status; CSV export.

Counting happens in the database (GROUP BY), so the page costs the same with 500 or 500,000
done requests; only the 20 worst late pickups and breaches come back as rows.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue
from sqlalchemy import Float, case, cast, func, select, true
from sqlalchemy.orm import Session

from desk import reports
from desk.models import Request
from desk.sla import DEFAULT_BUCKETS, bucket_labels
from web.i18n import DISPLAY_ZONE
from web.security import role_required
from web.views import date_arg

bp = Blueprint("reports", __name__, url_prefix="/reports")
GROUPS = {
    "category": Request.category,
    "executor": Request.assignee,
    "channel": Request.channel,
    "priority": Request.priority,
}
CSV_COLUMNS = (
    "number",
    "category",
    "executor",
    "channel",
    "priority",
    "created_at",
    "taken_at",
    "done_at",
    "processing_minutes",
    "bucket",
    "pickup_minutes",
    "pickup_late",
    "sla_met",
)
WORST = 20


def _conditions() -> list[Any]:
    """Done requests whose done date (in the desk's zone) is within from..to, both inclusive."""
    conditions: list[Any] = [Request.done_at.is_not(None)]
    start, end = date_arg("from"), date_arg("to")
    if start:
        conditions.append(Request.done_at >= datetime.combine(start, time.min, tzinfo=DISPLAY_ZONE))
    if end:
        conditions.append(
            Request.done_at < datetime.combine(end + timedelta(days=1), time.min, tzinfo=DISPLAY_ZONE)
        )
    return conditions


def _group_by() -> str:
    by = request.args.get("by", "category")
    return by if by in GROUPS else "category"


def processing(session: Session, conditions: list[Any], by: str) -> reports.ProcessingReport:
    """Bucket counts overall and per group, and the average processing minutes, counted by the database."""
    column = GROUPS[by]
    rows = session.execute(
        select(column, Request.processing_bucket, func.count(), func.sum(Request.processing_minutes))
        .where(*conditions, Request.processing_bucket.is_not(None))
        .group_by(column, Request.processing_bucket)
    ).all()
    report = reports.ProcessingReport(bucket_labels(DEFAULT_BUCKETS), Counter(), defaultdict(Counter))
    total_minutes = 0.0
    for group, bucket, count, minutes in rows:
        report.totals[bucket] += count
        report.by_group[str(group or "—")][bucket] += count
        total_minutes += minutes or 0.0
    report.minutes = [total_minutes / report.count] if report.count else []
    return report


def kpis(session: Session, conditions: list[Any]) -> tuple[reports.PickupReport, int, list[Any]]:
    """Pickup KPI and SLA breaches: the counts in one pass over the range, then the 20 worst of each."""
    measured, late, breached = session.execute(
        select(
            func.count(Request.pickup_minutes),
            func.sum(case((Request.pickup_minutes.is_not(None) & Request.pickup_late.is_(True), 1), else_=0)),
            func.sum(case((Request.sla_met.is_(False), 1), else_=0)),
        ).where(*conditions)
    ).one()
    worst_pickups = session.execute(
        select(Request.number, Request.subject, Request.pickup_overrun_minutes)
        .where(*conditions, Request.pickup_late.is_(True))
        .order_by(Request.pickup_overrun_minutes.desc())
        .limit(WORST)
    ).all()
    worst_breaches = session.execute(
        select(Request.number, Request.subject, Request.done_at, Request.resolve_by)
        .where(*conditions, Request.sla_met.is_(False))
        .order_by(Request.done_at.desc())
        .limit(WORST)
    ).all()
    pickups = reports.PickupReport(measured or 0, (measured or 0) - (late or 0), list(worst_pickups))
    return pickups, breached or 0, list(worst_breaches)


def time_in_status(session: Session, conditions: list[Any]) -> dict[str, tuple[float, float]]:
    """Average working and wall minutes per status, over the requests that passed through it.

    `stage_totals` ({status: [working, wall]}) is unnested by the database (json_each on both
    SQLite and PostgreSQL), so no request row is loaded into Python.
    """
    stages = func.json_each(Request.stage_totals).table_valued("key", "value").alias("stage")
    if session.get_bind().dialect.name == "postgresql":
        working, wall = (cast(stages.c.value.op("->>")(i), Float) for i in (0, 1))
    else:
        working, wall = (func.json_extract(stages.c.value, f"$[{i}]") for i in (0, 1))
    rows = session.execute(
        select(stages.c.key, func.sum(working), func.sum(wall), func.count())
        .select_from(Request.__table__.join(stages, true()))
        .where(*conditions)
        .group_by(stages.c.key)
    ).all()
    return {status: ((w or 0.0) / n, (wall_sum or 0.0) / n) for status, w, wall_sum, n in rows if n}


@bp.get("/")
@role_required("manager")
def index() -> ResponseReturnValue:
    by = _group_by()
    conditions = _conditions()
    with current_app.extensions["sessions"]() as session:
        report = processing(session, conditions, by)
        pickups, breach_count, worst_breaches = kpis(session, conditions)
        stages = time_in_status(session, conditions)
    chart = reports.bar_chart_svg(report.labels, [report.totals[label] for label in report.labels])
    return render_template(
        "reports.html",
        processing=report,
        chart=chart,
        pickup=pickups,
        breach_count=breach_count,
        breaches=worst_breaches,
        stages=stages,
        by=by,
        groups=list(GROUPS),
    )


@bp.get("/processing.csv")
@role_required("manager")
def processing_csv() -> ResponseReturnValue:
    """Every done request in the range, one line each, streamed (a year of requests is fine)."""
    conditions = _conditions()
    sessions = current_app.extensions["sessions"]

    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        with sessions() as session:
            result = session.execute(
                select(
                    Request.number,
                    Request.category,
                    Request.assignee,
                    Request.channel,
                    Request.priority,
                    Request.created_at,
                    Request.taken_at,
                    Request.done_at,
                    Request.processing_minutes,
                    Request.processing_bucket,
                    Request.pickup_minutes,
                    Request.pickup_late,
                    Request.sla_met,
                )
                .where(*conditions)
                .order_by(Request.done_at, Request.id)
                .execution_options(yield_per=1000)
            )
            for row in result:
                writer.writerow(
                    ["" if v is None else v.isoformat() if isinstance(v, datetime) else v for v in row]
                )
                if out.tell() > 64_000:
                    yield out.getvalue()
                    out.seek(0)
                    out.truncate()
        yield out.getvalue()

    stamp = "-".join(filter(None, (request.args.get("from"), request.args.get("to")))) or "all"
    return Response(
        stream_with_context(lines()),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=processing-{stamp}.csv"},
    )
