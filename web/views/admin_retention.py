"""Admin page /admin/retention: the history cleanup (state, a Run now button) and erasing a
contact's personal data on request, with the log of erasures (who, when, row counts)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from desk.erasure import ErasureError
from engine.retention_state import CleanupBusyError
from service import erasure
from service.errors import ServiceError
from web import retention
from web.i18n import translate
from web.security import current_principal, permission_required

bp = Blueprint("admin_retention", __name__, url_prefix="/admin/retention")


@bp.get("/")
@permission_required("read", "history_cleanup")
def index() -> ResponseReturnValue:
    app = current_app._get_current_object()
    try:
        log = erasure.erasures(current_principal(), app.extensions["sessions"])
    except ServiceError:
        log = None  # may read the cleanup but not erase: the erasure part is not shown
    return render_template("admin_retention.html", cleanup=retention.status(app), erasures=log)


@bp.post("/cleanup")
@permission_required("run", "history_cleanup")
def run_cleanup() -> ResponseReturnValue:
    """Run a slice now (HISTORY_CLEANUP_SLICE_SECONDS at most); the worker goes on with the rest."""
    app = current_app._get_current_object()
    try:
        result = retention.run_now(
            app, current_principal(), "admin", max_seconds=float(app.config["HISTORY_CLEANUP_SLICE_SECONDS"])
        )
    except CleanupBusyError as err:
        flash(str(err), "error")
        return redirect(url_for("admin_retention.index"))
    flash(
        translate("History cleanup removed %(instances)s instance(s), %(rows)s row(s); %(left)s due left.")
        % {"instances": result.removed_instances, "rows": result.removed_rows, "left": result.remaining_due}
    )
    return redirect(url_for("admin_retention.index"))


@bp.post("/erase")
@permission_required("erase", "contact_erasure")
def erase() -> ResponseReturnValue:
    app = current_app._get_current_object()
    raw = (request.form.get("contact_id") or "").strip()
    if not raw.isdigit():
        flash(translate("Enter the contact's number (its id), e.g. 42."), "error")
        return redirect(url_for("admin_retention.index")), 400
    try:
        report = erasure.erase_contact(
            current_principal(), app.extensions["sessions"], int(raw), app.extensions["runtime"].now()
        )
    except ErasureError as err:
        flash(str(err), "error")
        return redirect(url_for("admin_retention.index"))
    flash(translate("Contact %s erased.") % report.contact_id)
    return redirect(url_for("admin_retention.index"))
