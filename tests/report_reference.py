"""The reports' queries as they were before the per-day counters: a scan of the request rows.

Kept here as the reference tests/test_report_days.py compares web/views/report_queries.py with,
on the same seeded data (the counters must give the same numbers as counting the requests).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, Float, case, cast, func, or_, select, true
from sqlalchemy.orm import Session

from desk import reports
from desk.models import Request
from desk.sla import DEFAULT_BUCKETS, bucket_labels
from web.i18n import DISPLAY_ZONE

GROUPS = {
    "category": Request.category,
    "executor": Request.assignee,
    "channel": Request.channel,
    "priority": Request.priority,
}
WORST = 20


def conditions(start: date, end: date) -> list[Any]:
    """Done requests whose done date (in the desk's zone) is within start..end, both inclusive."""
    return [
        Request.done_at.is_not(None),
        Request.done_at >= datetime.combine(start, time.min, tzinfo=DISPLAY_ZONE),
        Request.done_at < datetime.combine(end + timedelta(days=1), time.min, tzinfo=DISPLAY_ZONE),
    ]


def processing_and_groups(
    session: Session, conditions: list[Any], by: str
) -> tuple[reports.ProcessingReport, list[reports.GroupTime]]:
    """The bucket histogram and the time per group from one GROUP BY (group, bucket) over the range.

    Both charts read the same done requests; one pass over `ix_request_done_facts` serves both.
    """
    column = GROUPS[by]
    rows = session.execute(
        select(
            column,
            Request.processing_bucket,
            func.count(),
            func.count(Request.processing_minutes),
            func.sum(Request.processing_minutes),
        )
        .where(
            *conditions,
            or_(Request.processing_bucket.is_not(None), Request.processing_minutes.is_not(None)),
        )
        .group_by(column, Request.processing_bucket)
    ).all()
    report = reports.ProcessingReport(bucket_labels(DEFAULT_BUCKETS), Counter(), defaultdict(Counter))
    total_minutes = 0.0
    timed: dict[Any, list[float]] = defaultdict(lambda: [0, 0.0])
    for group, bucket, count, measured, minutes in rows:
        if measured:
            timed[group][0] += measured
            timed[group][1] += minutes or 0.0
        if bucket is None:
            continue
        report.totals[bucket] += count
        report.by_group[str(group or "—")][bucket] += count
        total_minutes += minutes or 0.0
    report.minutes = [total_minutes / report.count] if report.count else []
    groups = [reports.GroupTime(group, int(n), total / n / 60) for group, (n, total) in timed.items()]
    return report, sorted(groups, key=lambda g: -g.hours)


def kpis(
    session: Session, conditions: list[Any]
) -> tuple[reports.PickupReport, int, list[Any], tuple[int, int]]:
    """Pickup KPI, SLA breaches and the SLA share: the counts in one pass over the range, then the
    20 worst late pickups and breaches (sla_measured, sla_met come last)."""
    measured, late, breached, sla_measured, sla_met = session.execute(
        select(
            func.count(Request.pickup_minutes),
            func.sum(case((Request.pickup_minutes.is_not(None) & Request.pickup_late.is_(True), 1), else_=0)),
            func.sum(case((Request.sla_met.is_(False), 1), else_=0)),
            func.count(Request.sla_met),
            func.sum(case((Request.sla_met.is_(True), 1), else_=0)),
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
    return pickups, breached or 0, list(worst_breaches), (sla_measured or 0, sla_met or 0)


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


def _local_day(session: Session, column: Any) -> Any:
    """A timestamp's calendar day in the desk's zone, computed by the database."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(DISPLAY_ZONE.key, column), Date)
    offset = int(datetime.now(DISPLAY_ZONE).utcoffset().total_seconds() // 60)
    return func.date(column, f"{offset:+d} minutes")


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(start, time.min, tzinfo=DISPLAY_ZONE),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=DISPLAY_ZONE),
    )


def daily_counts(session: Session, start: date, end: date) -> tuple[dict[date, dict[str, int]], int]:
    """Per local day: requests opened, closed (done), SLA met/measured, picked up in time/measured.

    Two GROUP BY queries over the range (created_at, done_at are indexed), plus the backlog
    open when the range began; nothing is loaded row by row.
    """
    low, high = _bounds(start, end)
    daily: dict[date, dict[str, int]] = defaultdict(dict)
    created_day = _local_day(session, Request.created_at)
    for day, n in session.execute(
        select(created_day, func.count())
        .where(Request.created_at >= low, Request.created_at < high)
        .group_by(created_day)
    ):
        daily[_as_date(day)]["opened"] = n
    done_day = _local_day(session, Request.done_at)
    for day, closed, sla_measured, sla_met, pickup_measured, pickup_on_time in session.execute(
        select(
            done_day,
            func.count(),
            func.count(Request.sla_met),
            func.sum(case((Request.sla_met.is_(True), 1), else_=0)),
            func.count(Request.pickup_minutes),
            func.sum(
                case((Request.pickup_minutes.is_not(None) & Request.pickup_late.is_(False), 1), else_=0)
            ),
        )
        .where(Request.done_at >= low, Request.done_at < high)
        .group_by(done_day)
    ):
        daily[_as_date(day)].update(
            closed=closed,
            sla_measured=sla_measured,
            sla_met=sla_met or 0,
            pickup_measured=pickup_measured,
            pickup_on_time=pickup_on_time or 0,
        )
    backlog = (
        session.scalar(
            select(func.count())
            .select_from(Request)
            .where(Request.created_at < low, or_(Request.done_at.is_(None), Request.done_at >= low))
        )
        or 0
    )
    return dict(daily), backlog


def time_by_group(session: Session, conditions: list[Any], by: str) -> list[reports.GroupTime]:
    """Average processing time in working hours per category, executor, channel or priority."""
    column = GROUPS[by]
    rows = session.execute(
        select(column, func.count(), func.avg(Request.processing_minutes))
        .where(*conditions, Request.processing_minutes.is_not(None))
        .group_by(column)
    ).all()
    found = [reports.GroupTime(group, n, (avg or 0.0) / 60) for group, n, avg in rows]
    return sorted(found, key=lambda g: -g.hours)
