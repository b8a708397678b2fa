"""/admin/outbox: notifications that need a person (failed, dead, unconfirmed), with "send again"."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from desk.models import Notification
from desk.outbox import Status
from web.i18n import translate as _
from web.outbox import NotificationNotFoundError
from web.security import permission_required

bp = Blueprint("outbox_admin", __name__, url_prefix="/admin/outbox")


WAITING = (Status.PENDING.value, Status.SENDING.value)
LISTED = 200


@bp.get("/")
@permission_required("manage", "admin")
def index() -> ResponseReturnValue:
    """Counts per state, what is still on its way (pending, sending) and what needs a person.

    "All delivered" is said only when nothing is waiting and nothing needs attention: a reply
    queued while no mail server is configured is pending, not delivered.
    """
    outbox = current_app.extensions["outbox"]
    counts = {s.value: 0 for s in Status} | outbox.counts()
    with current_app.extensions["sessions"]() as session:
        waiting = session.scalars(
            select(Notification)
            .where(Notification.status.in_(WAITING))
            .order_by(Notification.id.desc())
            .limit(LISTED)
        ).all()
    return render_template(
        "outbox_admin.html",
        rows=outbox.attention(limit=LISTED),
        waiting=waiting,
        counts=counts,
        channels=outbox.channel_states(),
        listed=LISTED,
    )


@bp.post("/<int:notification_id>/resend")
@permission_required("manage", "admin")
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
