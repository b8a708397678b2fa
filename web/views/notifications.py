"""A staff member's own notifications: the in-app inbox (/notifications) and channel settings
(/settings/notifications: which of in-app, e-mail and SMS they want for each event)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from sqlalchemy import select, update

from desk import notify, preferences
from desk.models import Notification, User
from desk.outbox import CHANNELS, UnknownChannelError
from web.i18n import error_text
from web.i18n import translate as _
from web.labels import code_label

bp = Blueprint("notifications", __name__)

# Events staff receive; requester-only and outgoing-only templates are not theirs to configure.
NOT_FOR_STAFF = {"staff_reply", "task_external", "request_received"}
EVENT_LABELS = {
    "task_assigned": "A request is assigned to an executor",
    "request_rejected": "A request is rejected",
    "request_resolved": "A request is resolved",
    "request_overdue": "A request is overdue",
    "owner_changed": "A deal's owner changed",
    "owner_sync_summary": "Owner sync finished",
}


def staff_events() -> list[str]:
    return [name for name in notify.TEMPLATES if name not in NOT_FOR_STAFF]


def _me(session) -> User:
    user = session.scalars(select(User).where(User.username == current_user.username)).first()
    if user is None:
        abort(403)
    return user


@bp.get("/notifications")
@login_required
def inbox() -> ResponseReturnValue:
    with current_app.extensions["sessions"]() as session:
        rows = [n for n in notify.inbox(session, current_user.username) if n.status != "skipped"]
    return render_template("notifications.html", rows=rows)


@bp.post("/notifications/read")
@login_required
def mark_read() -> ResponseReturnValue:
    """Mark one (id) or all of my in-app notifications read; read ones get no e-mail fallback."""
    ident = request.form.get("id")
    stmt = update(Notification).where(
        Notification.recipient == current_user.username,
        Notification.channel == "in_app",
        Notification.read_at.is_(None),
    )
    if ident:
        if not ident.isdigit():
            abort(400, _("id must be a notification number, not %s.") % ident)
        stmt = stmt.where(Notification.id == int(ident))
    now = current_app.extensions["runtime"].now()
    with current_app.extensions["sessions"]() as session, session.begin():
        session.execute(stmt.values(read_at=now).execution_options(synchronize_session=False))
    return redirect(url_for(".inbox"))


@bp.get("/settings/notifications")
@login_required
def settings() -> ResponseReturnValue:
    with current_app.extensions["sessions"]() as session:
        chosen = preferences.preferences_of(session, _me(session))
    events = staff_events()
    ticked = {event: set(chosen.get(event, ["in_app"])) for event in events}
    return render_template(
        "settings_notifications.html", events=events, labels=EVENT_LABELS, channels=CHANNELS, ticked=ticked
    )


@bp.post("/settings/notifications")
@login_required
def save_settings() -> ResponseReturnValue:
    events = staff_events()
    choices: dict[str, list[str]] = {event: [] for event in events}
    for field in request.form:
        if field == "csrf_token":
            continue
        event, _sep, channel = field.partition(":")
        if event not in choices:
            known = ", ".join(code_label(e, "event") for e in events)
            abort(
                400,
                _("Unknown event %(event)s in the form; known: %(known)s.")
                % {"event": event, "known": known},
            )
        if channel not in CHANNELS:
            abort(400, error_text(UnknownChannelError(channel)))
        choices[event].append(channel)
    with current_app.extensions["sessions"]() as session, session.begin():
        preferences.save_preferences(session, _me(session), choices)
    flash(_("Notification settings saved."), "ok")
    return redirect(url_for(".settings"))
