"""The reports' numbers, read from the per-day counters (desk/report_store.py) instead of the requests.

A quarter is ~90 'all' rows, ~90 x groups x buckets rows per group-by and ~90 x statuses stage
rows, whatever the number of requests. Only the 20 worst late pickups and SLA breaches are
still request rows (an index range with a LIMIT). Each function returns what the request scan
it replaced returned; tests/test_report_days.py computes both on seeded data and compares.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from desk import reports
from desk.models import Request
from desk.report_days import ALL, DIMENSIONS, value_of
from desk.report_store import ReportDay, ReportStageDay
from desk.sla import DEFAULT_BUCKETS, bucket_labels
from web.i18n import DISPLAY_ZONE

WORST = 20


def _days(table: Any, start: date | None, end: date | None) -> list[Any]:
    conditions = []
    if start is not None:
        conditions.append(table.day >= start)
    if end is not None:
        conditions.append(table.day <= end)
    return conditions


def processing_and_groups(
    session: Session, start: date | None, end: date | None, by: str
) -> tuple[reports.ProcessingReport, list[reports.GroupTime]]:
    """The bucket histogram and the time per group (value, bucket) of the requests done in the range."""
    if by not in DIMENSIONS:
        raise ValueError(f"group-by must be one of {', '.join(DIMENSIONS)}, not {by!r}")
    rows = session.execute(
        select(
            ReportDay.value,
            ReportDay.bucket,
            func.sum(ReportDay.closed),
            func.sum(ReportDay.minutes_count),
            func.sum(ReportDay.minutes_sum),
        )
        .where(ReportDay.dimension == by, *_days(ReportDay, start, end))
        .group_by(ReportDay.value, ReportDay.bucket)
    ).all()
    report = reports.ProcessingReport(bucket_labels(DEFAULT_BUCKETS), Counter(), defaultdict(Counter))
    total_minutes = 0.0
    timed: dict[Any, list[float]] = defaultdict(lambda: [0, 0.0])
    for stored, bucket, closed, measured, minutes in rows:
        group = value_of(stored)
        if measured:
            timed[group][0] += measured
            timed[group][1] += minutes or 0.0
        if not bucket or not closed:
            continue
        report.totals[bucket] += closed
        report.by_group[str(group or "—")][bucket] += closed
        total_minutes += minutes or 0.0
    report.minutes = [total_minutes / report.count] if report.count else []
    groups = [reports.GroupTime(group, int(n), total / n / 60) for group, (n, total) in timed.items()]
    return report, sorted(groups, key=lambda g: -g.hours)


def time_by_group(session: Session, start: date | None, end: date | None, by: str) -> list[reports.GroupTime]:
    """Average processing time in working hours per category, executor, channel or priority."""
    return processing_and_groups(session, start, end, by)[1]


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(start, time.min, tzinfo=DISPLAY_ZONE),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=DISPLAY_ZONE),
    )


def kpis(
    session: Session, start: date, end: date
) -> tuple[reports.PickupReport, int, list[Any], tuple[int, int]]:
    """Pickup KPI, SLA breaches and the SLA share from the counters, then the 20 worst late pickups
    and breaches from the requests (sla_measured, sla_met come last)."""
    measured, late, sla_measured, sla_met = session.execute(
        select(
            func.sum(ReportDay.pickup_measured),
            func.sum(ReportDay.pickup_late),
            func.sum(ReportDay.sla_measured),
            func.sum(ReportDay.sla_met),
        ).where(ReportDay.dimension == ALL, *_days(ReportDay, start, end))
    ).one()
    low, high = _bounds(start, end)
    in_range = (Request.done_at >= low, Request.done_at < high)
    worst_pickups = session.execute(
        select(Request.number, Request.subject, Request.pickup_overrun_minutes)
        .where(*in_range, Request.pickup_late.is_(True))
        .order_by(Request.pickup_overrun_minutes.desc())
        .limit(WORST)
    ).all()
    worst_breaches = session.execute(
        select(Request.number, Request.subject, Request.done_at, Request.resolve_by)
        .where(*in_range, Request.sla_met.is_(False))
        .order_by(Request.done_at.desc())
        .limit(WORST)
    ).all()
    measured, late, sla_measured, sla_met = (int(v or 0) for v in (measured, late, sla_measured, sla_met))
    pickups = reports.PickupReport(measured, measured - late, list(worst_pickups))
    return pickups, sla_measured - sla_met, list(worst_breaches), (sla_measured, sla_met)


def time_in_status(session: Session, start: date | None, end: date | None) -> dict[str, tuple[float, float]]:
    """Average working and wall minutes per status, over the requests done in the range that passed it."""
    rows = session.execute(
        select(
            ReportStageDay.status,
            func.sum(ReportStageDay.working_minutes),
            func.sum(ReportStageDay.wall_minutes),
            func.sum(ReportStageDay.requests),
        )
        .where(*_days(ReportStageDay, start, end))
        .group_by(ReportStageDay.status)
    ).all()
    return {status: ((w or 0.0) / n, (wall or 0.0) / n) for status, w, wall, n in rows if n}


def daily_counts(session: Session, start: date, end: date) -> tuple[dict[date, dict[str, int]], int]:
    """Per desk day: opened, closed, SLA met/measured, picked up in time/measured; and the backlog
    open when `start` began (opened before it minus closed before it)."""
    daily: dict[date, dict[str, int]] = defaultdict(dict)
    for day, opened, closed, sla_measured, sla_met, pickup_measured, pickup_on_time in session.execute(
        select(
            ReportDay.day,
            ReportDay.opened,
            ReportDay.closed,
            ReportDay.sla_measured,
            ReportDay.sla_met,
            ReportDay.pickup_measured,
            ReportDay.pickup_on_time,
        ).where(ReportDay.dimension == ALL, *_days(ReportDay, start, end))
    ):
        counts = daily[day]
        if opened:
            counts["opened"] = opened
        if closed:
            counts.update(
                closed=closed,
                sla_measured=sla_measured,
                sla_met=sla_met,
                pickup_measured=pickup_measured,
                pickup_on_time=pickup_on_time,
            )
    opened_before, closed_before = session.execute(
        select(func.sum(ReportDay.opened), func.sum(ReportDay.closed)).where(
            ReportDay.dimension == ALL, ReportDay.day < start
        )
    ).one()
    return {d: c for d, c in daily.items() if c}, int(opened_before or 0) - int(closed_before or 0)
