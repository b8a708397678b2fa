"""/admin/outbox: notifications that need a person (failed, dead, unconfirmed), with "send again"."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from desk.outbox import Status
from web.i18n import translate as _
from web.outbox import NotificationNotFoundError
from web.security import role_required

bp = Blueprint("outbox_admin", __name__, url_prefix="/admin/outbox")


@bp.get("/")
@role_required("admin")
def index() -> ResponseReturnValue:
    outbox = current_app.extensions["outbox"]
    counts = {s.value: 0 for s in Status} | outbox.counts()
    return render_template(
        "outbox_admin.html", rows=outbox.attention(), counts=counts, channels=outbox.channel_states()
    )


@bp.post("/<int:notification_id>/resend")
@role_required("admin")
def resend(notification_id: int) -> ResponseReturnValue:
    try:
        current_app.extensions["outbox"].resend(notification_id)
    except NotificationNotFoundError:
        abort(404)
    except ValueError as err:
        flash(str(err), "error")
        return redirect(url_for(".index"))
    flash(_("Notification #%s queued again.") % notification_id, "ok")
    return redirect(url_for(".index"))
