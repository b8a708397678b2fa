"""Interface language per user (Russian by default) and the one clock pages show times in.

The message table itself is web.i18n_catalog (with each feature's block in web.i18n_features).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app, g, has_app_context

from desk.calendar import DEFAULT_CALENDARS
from web.i18n_catalog import MESSAGES, MessageConflictError, _extend  # noqa: F401 (re-exported, as before)

# Times on pages are shown in the desk's own zone (that of its `support` calendar), not in UTC.
DISPLAY_ZONE = ZoneInfo(DEFAULT_CALENDARS["support"].tz)


def language() -> str:
    user = getattr(g, "user", None)
    if user is not None and getattr(user, "language", None):
        return user.language
    return current_app.config.get("DEFAULT_LANGUAGE", "ru")


def translate(text: str) -> str:
    lang = language()
    if lang == "en":
        return text
    return MESSAGES.get(text, {}).get(lang, text)


def user_zone() -> ZoneInfo:
    """The zone the signed-in user reads times in (their profile's), else the desk's."""
    user = getattr(g, "user", None) if has_app_context() else None
    name = getattr(user, "time_zone", None) if user is not None else None
    if name:
        try:
            return ZoneInfo(name)
        except (ValueError, KeyError):  # a zone this machine's tz database lost: the desk's, not a 500
            pass
    return DISPLAY_ZONE


def zone_label(at: datetime | None = None, zone: ZoneInfo | None = None) -> str:
    """The zone pages show times in, as people say it: "Москва, UTC+03:00" ("Moscow, UTC+03:00")."""
    zone = zone or user_zone()
    offset = (at or datetime.now(zone)).astimezone(zone).strftime("%z")
    city = zone.key.rsplit("/", 1)[-1].replace("_", " ")
    return f"{translate(city)}, UTC{offset[:3]}:{offset[3:]}"


def local_iso(value: datetime | None, zone: ZoneInfo | None = None) -> str:
    """A stored moment as ISO 8601 with the reader's offset, for CSV ("2026-11-23T10:00:00+03:00")."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    return value.astimezone(zone or user_zone()).isoformat(timespec="seconds")


def working_time_text(minutes: float) -> str:
    """Working time as people read it on a task list: "3 h 20 min left", "overdue by 1 h 5 min"."""
    hours, mins = divmod(round(abs(minutes)), 60)
    parts = ([f"{hours} {translate('h')}"] if hours else []) + (
        [f"{mins} {translate('min')}"] if mins or not hours else []
    )
    amount = " ".join(parts)
    return f"{translate('overdue by')} {amount}" if minutes < 0 else f"{amount} {translate('left')}"


def local_time(value: datetime | None, fmt: str = "%d.%m.%Y %H:%M") -> str:
    """A stored (UTC) moment in the reader's zone; empty for None."""
    if value is None:
        return ""
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    return value.astimezone(user_zone()).strftime(fmt)


def error_text(err: BaseException) -> str:
    """A domain error in the reader's language: its template translated, then filled in
    (desk.errors.DeskError.say); any other error as its own text."""
    template = getattr(err, "template", None)
    if not template:
        return str(err)
    return translate(template) % getattr(err, "values", {})
