"""Reports for managers: processing time in working hours by bucket, pickup KPI, SLA breaches, time in
status; CSV export.

The figures come from the per-day counters (web/views/report_queries.py), so the page costs the
same with 500 or 500,000 done requests; only the 20 worst late pickups and breaches, and the
processing CSV's lines, are read from the requests.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from desk import reports
from desk.models import Request, User
from web.csv_safe import BOM, safe_row
from web.i18n import DISPLAY_ZONE, language, local_iso, translate, user_zone
from web.labels import bucket_label, group_value_label, label, people_names, person, yes_no
from web.security import permission_required
from web.views import date_arg
from web.views import report_queries as queries

bp = Blueprint("reports", __name__, url_prefix="/reports")
GROUPS = {
    "category": Request.category,
    "executor": Request.assignee,
    "channel": Request.channel,
    "priority": Request.priority,
}
# The CSV's columns (what each row holds) and its header, in English; each user reads the
# header in their own language (web/i18n.py).
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
CSV_HEADERS = (
    "Number",
    "Category",
    "Executor",
    "Channel",
    "Priority",
    "Created",
    "Taken",
    "Done",
    "Processing, min",
    "Processing bucket",
    "Pickup, min",
    "Pickup late",
    "SLA met",
)


def _conditions(start: date | None = None, end: date | None = None) -> list[Any]:
    """Done requests whose done date (in the desk's zone) is within from..to, both inclusive."""
    conditions: list[Any] = [Request.done_at.is_not(None)]
    if start is None and end is None:
        start, end = date_arg("from"), date_arg("to")
    if start:
        conditions.append(Request.done_at >= datetime.combine(start, time.min, tzinfo=DISPLAY_ZONE))
    if end:
        conditions.append(
            Request.done_at < datetime.combine(end + timedelta(days=1), time.min, tzinfo=DISPLAY_ZONE)
        )
    return conditions


def _people_names() -> dict[str, str]:
    with current_app.extensions["sessions"]() as session:
        return people_names(session.execute(select(User.username, User.full_name)).all())


def _group_by() -> str:
    by = request.args.get("by", "category")
    return by if by in GROUPS else "category"


DEFAULT_DAYS = 90
TREND_COLUMNS = ("period_start", "opened", "closed", "backlog", "sla_met_percent", "pickup_15min_percent")
# Longer ranges are drawn per week: a point per day over three months is noise.
DAILY_UP_TO = 31


def report_range(today: date) -> tuple[date, date]:
    """The from..to dates of the page: the query's, or the last 90 days up to today."""
    start, end = date_arg("from"), date_arg("to")
    end = end or today
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        abort(400, "'from' must not be after 'to'.")
    return start, end


def _step(start: date, end: date) -> str:
    step = request.args.get("step")
    if step in reports.STEPS:
        return step
    return "day" if (end - start).days < DAILY_UP_TO else "week"


@dataclass
class Period:
    """One row of the trend table."""

    start: date
    opened: int
    closed: int
    backlog: int
    sla: float | None
    pickup: float | None


def trend(daily: dict[date, dict[str, int]], backlog: int, start: date, end: date, step: str) -> list[Period]:
    periods = reports.per_period(daily, start, end, step)
    flow = reports.flow(
        {d: c.get("opened", 0) for d, c in daily.items()},
        {d: c.get("closed", 0) for d, c in daily.items()},
        start,
        end,
        step,
        backlog,
    )
    return [
        Period(
            first,
            point.opened,
            point.closed,
            point.backlog,
            reports.percent(counts.get("sla_met", 0), counts.get("sla_measured", 0)),
            reports.percent(counts.get("pickup_on_time", 0), counts.get("pickup_measured", 0)),
        )
        for (first, counts), point in zip(periods, flow, strict=True)
    ]


@bp.get("/")
@permission_required("read", "report")
def index() -> ResponseReturnValue:
    by = _group_by()
    today = current_app.extensions["runtime"].now().astimezone(DISPLAY_ZONE).date()
    start, end = report_range(today)
    step = _step(start, end)
    lang = language()
    with current_app.extensions["sessions"]() as session:
        report, groups = queries.processing_and_groups(session, start, end, by)
        pickups, breach_count, worst_breaches, (sla_measured, sla_met) = queries.kpis(session, start, end)
        stages = queries.time_in_status(session, start, end)
        daily, backlog = queries.daily_counts(session, start, end)
    periods = trend(daily, backlog, start, end, step)
    names = [p.start.strftime("%d.%m") for p in periods]
    t = translate
    charts = {
        "flow": reports.line_chart_svg(
            names,
            [
                (t("Opened"), [p.opened for p in periods]),
                (t("Closed"), [p.closed for p in periods]),
            ],
        ),
        "backlog": reports.line_chart_svg(names, [(t("Backlog"), [p.backlog for p in periods])]),
        "kpi": reports.line_chart_svg(
            names,
            [(t("SLA met"), [p.sla for p in periods]), (t("Pickup ≤ 15 min"), [p.pickup for p in periods])],
            percent=True,
        ),
        "groups": reports.hbar_chart_svg(
            [group_value_label(g.group or "—", by, lang) for g in groups],
            [g.hours for g in groups],
            t("working h"),
        ),
        "buckets": reports.bar_chart_svg(
            tuple(bucket_label(label, lang) for label in report.labels),
            [report.totals[label] for label in report.labels],
        ),
    }
    return render_template(
        "reports.html",
        processing=report,
        charts=charts,
        chart=charts["buckets"],
        periods=periods,
        group_times=groups,
        sla_share=reports.percent(sla_met or 0, sla_measured or 0),
        sla_measured=sla_measured or 0,
        pickup=pickups,
        breach_count=breach_count,
        breaches=worst_breaches,
        stages=stages,
        by=by,
        groups=list(GROUPS),
        start=start,
        end=end,
        step=step,
    )


@bp.get("/trend.csv")
@permission_required("read", "report")
def trend_csv() -> ResponseReturnValue:
    """The trend table (opened, closed, backlog, SLA %, pickup %) per period, as on the page."""
    today = current_app.extensions["runtime"].now().astimezone(DISPLAY_ZONE).date()
    start, end = report_range(today)
    step = _step(start, end)
    with current_app.extensions["sessions"]() as session:
        daily, backlog = queries.daily_counts(session, start, end)
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out)
    writer.writerow(
        ["period_start", "opened", "closed", "backlog", "sla_met_percent", "pickup_15min_percent"]
    )
    for p in trend(daily, backlog, start, end, step):
        writer.writerow(
            [
                p.start.isoformat(),
                p.opened,
                p.closed,
                p.backlog,
                "" if p.sla is None else f"{p.sla:.1f}",
                "" if p.pickup is None else f"{p.pickup:.1f}",
            ]
        )
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=trend-{start}-{end}-{step}.csv"},
    )


@bp.get("/groups.csv")
@permission_required("read", "report")
def groups_csv() -> ResponseReturnValue:
    """Average processing time in working hours per group, as on the page."""
    by = _group_by()
    today = current_app.extensions["runtime"].now().astimezone(DISPLAY_ZONE).date()
    start, end = report_range(today)
    lang = language()
    with current_app.extensions["sessions"]() as session:
        groups = queries.time_by_group(session, start, end, by)
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out)
    writer.writerow([by, "requests", "average_working_hours"])
    for g in groups:
        writer.writerow(safe_row([group_value_label(g.group or "—", by, lang), g.count, f"{g.hours:.2f}"]))
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=processing-by-{by}-{start}-{end}.csv"},
    )


@bp.get("/processing.csv")
@permission_required("read", "report")
def processing_csv() -> ResponseReturnValue:
    """Every done request in the range, one line each, streamed (a year of requests is fine)."""
    conditions = _conditions()
    sessions = current_app.extensions["sessions"]
    lang = language()
    zone = user_zone()  # the reader's: each time carries its offset
    names = _people_names()

    def csv_row(row: Any, lang: str) -> list[Any]:
        """Words for codes, people's names, times in ISO 8601 with the desk's offset, yes/no for booleans."""
        values = row._mapping
        out: list[Any] = []
        for column, value in zip(CSV_COLUMNS, values.values(), strict=True):
            if isinstance(value, bool):
                out.append(yes_no(value, lang))
            elif isinstance(value, datetime):
                out.append(local_iso(value, zone))
            elif column in ("category", "channel", "priority"):
                out.append(label(column, value, lang))
            elif column == "executor":
                out.append(person(value, names))
            elif column == "bucket":
                out.append(bucket_label(value, lang) if value else "")
            elif isinstance(value, float):
                out.append(f"{value:.1f}")
            else:
                out.append("" if value is None else value)
        return out

    header = [translate(title) for title in CSV_HEADERS]  # here: the stream runs past the request

    def lines() -> Iterator[str]:
        out = io.StringIO()
        out.write(BOM)  # Russian Excel reads UTF-8 only with it
        writer = csv.writer(out)
        writer.writerow(safe_row(header))
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
                writer.writerow(safe_row(csv_row(row, lang)))
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
