"""The signed-in user's own preferences: the time zone every page and CSV shows their times in.

Only the user's own row is written (no other user's zone can be named in the form), so the
door needs a login and nothing more, like the notification settings beside it.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from sqlalchemy import update

from desk.models import User
from desk.time_zones import UnknownTimeZoneError, check_zone, zones
from web.i18n import DISPLAY_ZONE, error_text, translate, zone_label

bp = Blueprint("profile", __name__, url_prefix="/settings")


def _page(chosen: str | None, error: str | None = None, status: int = 200) -> ResponseReturnValue:
    return render_template(
        "settings_profile.html",
        zones=zones(),
        chosen=chosen or "",
        desk_zone=DISPLAY_ZONE.key,
        desk_label=zone_label(zone=DISPLAY_ZONE),
        error=error,
    ), status


@bp.get("/profile")
@login_required
def show() -> ResponseReturnValue:
    return _page(current_user.time_zone)


@bp.post("/profile")
@login_required
def save() -> ResponseReturnValue:
    """Save the zone; an empty choice goes back to the desk's zone."""
    raw = request.form.get("time_zone", "").strip()
    try:
        zone = check_zone(raw) if raw else None
    except UnknownTimeZoneError as err:
        return _page(raw, error_text(err), 400)
    with current_app.extensions["sessions"]() as session, session.begin():
        session.execute(update(User).where(User.username == current_user.username).values(time_zone=zone))
    flash(translate("Time zone saved: %s.") % (zone or translate("the desk's zone")), "ok")
    return redirect(url_for(".show"))
