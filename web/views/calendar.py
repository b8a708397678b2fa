"""Calendar pages per user and group (/calendar) and each user's iCalendar feed (/calendar/feed/<token>.ics).

The events are those processes put there (handlers/calendar_event.py). Who may see which
calendar, and which feed a token opens, is service.calendars' decision.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from sqlalchemy import select

from desk import crm
from desk.models import Request, User
from service import calendars as service
from service.errors import PermissionDenied
from service.permissions import may
from web.i18n import DISPLAY_ZONE
from web.security import checks_permission, current_principal, permission_required

bp = Blueprint("calendar", __name__, url_prefix="/calendar")

DAYS_SHOWN = 28


def _sessions():
    return current_app.extensions["sessions"]


def _now() -> datetime:
    return current_app.extensions["runtime"].now()


def _window() -> tuple[date, datetime, datetime]:
    """The days shown: from ?from=YYYY-MM-DD (default: this week's Monday) for four weeks."""
    try:
        first = date.fromisoformat(request.args.get("from", ""))
    except ValueError:
        today = _now().astimezone(DISPLAY_ZONE).date()
        first = today - timedelta(days=today.weekday())
    since = datetime.combine(first, time.min, tzinfo=DISPLAY_ZONE)
    return first, since, since + timedelta(days=DAYS_SHOWN)


def _by_day(rows, first: date) -> list[tuple[date, list]]:
    days = [(first + timedelta(days=i), []) for i in range(DAYS_SHOWN)]
    for event in rows:
        start = event.starts_at.astimezone(DISPLAY_ZONE).date()
        end = (event.ends_at - timedelta(microseconds=1)).astimezone(DISPLAY_ZONE).date()
        for day, items in days:
            if start <= day <= end:
                items.append(event)
    return days


def _render(title: str, rows, first: date, **extra) -> ResponseReturnValue:
    with _sessions()() as session:
        numbers = dict(
            session.execute(
                select(Request.id, Request.number).where(
                    Request.id.in_({e.request_id for e in rows if e.request_id})
                )
            ).all()
        )
        staff = session.scalars(
            select(User.username).where(User.active.is_(True)).order_by(User.username)
        ).all()
    return render_template(
        "calendar.html",
        title=title,
        days=_by_day(rows, first),
        numbers=numbers,
        previous=first - timedelta(days=7),
        following=first + timedelta(days=7),
        staff=staff if may(current_principal(), "read_all", "calendar") else [],
        **extra,
    )


@bp.get("/")
@permission_required("read", "calendar")
def index() -> ResponseReturnValue:
    return redirect(url_for("calendar.user", username=current_user.username))


@bp.get("/user/<username>")
@checks_permission("read", "calendar")
@login_required
def user(username: str) -> ResponseReturnValue:
    first, since, until = _window()
    try:
        rows = service.user_calendar(_sessions(), current_principal(), username, since=since, until=until)
    except PermissionDenied:
        abort(403)
    except service.UnknownCalendarOwnerError:
        abort(404)
    feed = None
    if username == current_user.username:
        token = service.feed_address_token(_sessions(), current_principal(), now=_now())
        feed = url_for("calendar.feed", token=token, _external=True)
    return _render(username, rows, first, owner=username, feed=feed)


@bp.get("/group/<group>")
@checks_permission("read", "calendar")
@login_required
def group(group: str) -> ResponseReturnValue:
    first, since, until = _window()
    try:
        rows = service.group_calendar(_sessions(), current_principal(), group, since=since, until=until)
    except PermissionDenied:
        abort(403)
    return _render(group, rows, first, group=group)


@bp.post("/feed/reset")
@permission_required("read", "calendar")
def reset_feed() -> ResponseReturnValue:
    service.feed_address_token(_sessions(), current_principal(), now=_now(), reset=True)
    return redirect(url_for("calendar.user", username=current_user.username))


@bp.get("/feed/<token>.ics")
def feed(token: str) -> ResponseReturnValue:
    """No login (calendar apps cannot): the secret token in the address is the authorization."""

    def link(event) -> str | None:
        return url_for("requests.show", number=crm.request_number(event.request_id), _external=True)

    try:
        owner, body = service.feed(_sessions(), token, link=link)
    except service.UnknownFeedError:
        abort(404)
    return Response(
        body,
        mimetype="text/calendar",
        headers={
            "Content-Disposition": f'inline; filename="{owner}.ics"',
            "Cache-Control": "private, max-age=300",
        },
    )
