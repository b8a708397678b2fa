"""Admin page /admin/queues: queues, RQ workers, the active scheduler, job backlog, incidents and
the history cleanup's progress."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask.typing import ResponseReturnValue

from web import retention
from web.health import queue_report
from web.security import permission_required

bp = Blueprint("admin_queues", __name__, url_prefix="/admin")


@bp.get("/queues")
@permission_required("manage", "admin")
def index() -> ResponseReturnValue:
    report = queue_report(current_app)
    return render_template(
        "admin_queues.html",
        report=report,
        scale_out=current_app.extensions.get("redis") is not None,
        cleanup=retention.status(current_app._get_current_object()),
    )
