"""Admin page /admin/queues: queues, RQ workers, the active scheduler, job backlog and incidents."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask.typing import ResponseReturnValue

from web.health import queue_report
from web.security import role_required

bp = Blueprint("admin_queues", __name__, url_prefix="/admin")


@bp.get("/queues")
@role_required("admin")
def index() -> ResponseReturnValue:
    report = queue_report(current_app)
    return render_template(
        "admin_queues.html",
        report=report,
        scale_out=current_app.extensions.get("redis") is not None,
    )
