"""Reports for managers: processing time in working hours by bucket, pickup KPI, SLA breaches; CSV export."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from flask import Blueprint, Response, current_app, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from desk import reports
from desk.models import Request
from web.security import role_required

bp = Blueprint("reports", __name__, url_prefix="/reports")
GROUPS = {"category": "category", "executor": "assignee", "channel": "channel"}


def _rows():
    conditions = [Request.done_at.is_not(None)]
    for arg, op in (("from", "__ge__"), ("to", "__lt__")):
        if value := request.args.get(arg):
            conditions.append(getattr(Request.done_at, op)(datetime.fromisoformat(value).astimezone()))
    with current_app.extensions["sessions"]() as session:
        return session.scalars(select(Request).where(*conditions)).all()


@bp.get("/")
@role_required("manager")
def index() -> ResponseReturnValue:
    rows = _rows()
    group_by = GROUPS.get(request.args.get("by", "category"), "category")
    processing = reports.processing_report(rows, group_by)
    chart = reports.bar_chart_svg(
        processing.labels, [processing.totals[label] for label in processing.labels]
    )
    return render_template(
        "reports.html",
        processing=processing,
        chart=chart,
        pickup=reports.pickup_report(rows),
        breaches=reports.sla_breaches(rows),
        stages=reports.time_in_status(rows),
        by=request.args.get("by", "category"),
    )


@bp.get("/processing.csv")
@role_required("manager")
def processing_csv() -> ResponseReturnValue:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "number",
            "category",
            "executor",
            "channel",
            "created_at",
            "taken_at",
            "done_at",
            "processing_minutes",
            "bucket",
            "pickup_minutes",
            "pickup_late",
            "sla_met",
        ]
    )
    for r in _rows():
        writer.writerow(
            [
                r.number,
                r.category or "",
                r.assignee or "",
                r.channel,
                r.created_at.isoformat(),
                r.taken_at.isoformat() if r.taken_at else "",
                r.done_at.isoformat(),
                r.processing_minutes,
                r.processing_bucket,
                r.pickup_minutes,
                r.pickup_late,
                r.sla_met,
            ]
        )
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=processing.csv"},
    )
