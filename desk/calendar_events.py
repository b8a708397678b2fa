"""Events a process puts in a user's or a group's calendar, and the iCalendar feed people subscribe to.

The integrator's processes "add an event to a user's or group's calendar" (a visit agreed
with the client, a call-back slot); people see them on the desk's calendar page and, through
a per-user `.ics` feed, in the calendar application they already use. The feed is written
by the `icalendar` library (RFC 5545 escaping, folding and time zones are its job, not ours).
Calendar applications cannot log in, so a feed is addressed by a per-user secret token.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from datetime import datetime

import icalendar
from sqlalchemy import ForeignKey, String, Text, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from desk.errors import DeskError
from desk.models import Base, User

PRODID = "-//service-desk//calendar events//RU"


class CalendarEventError(DeskError, ValueError):
    """An event that cannot be put in a calendar as given."""


class CalendarEvent(Base):
    """One event in a user's calendar (`username`) or a group's (`group_name`); exactly one is set."""

    __tablename__ = "calendar_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(128), unique=True)
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    group_name: Mapped[str | None] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(255))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    description: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[int | None] = mapped_column(ForeignKey("request.id"), index=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(64))


class CalendarFeed(Base):
    """A user's secret feed token; a new token (reset) makes the old feed address stop working."""

    __tablename__ = "calendar_feed"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


def add_event(
    session: Session,
    *,
    uid: str,
    now: datetime,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    username: str | None = None,
    group_name: str | None = None,
    description: str = "",
    request_id: int | None = None,
    created_by: str | None = None,
) -> CalendarEvent:
    """Store an event once per `uid` (a re-run job finds its event instead of adding a second one)."""
    if bool(username) == bool(group_name):
        raise CalendarEventError("Give the event either a user or a group (one of them, not both).")
    if not title.strip():
        raise CalendarEventError("A calendar event needs a title.")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise CalendarEventError("Event times need a time zone, e.g. 2026-12-14T10:00:00+03:00.")
    if ends_at <= starts_at:
        raise CalendarEventError(
            f"The event ends ({ends_at.isoformat()}) before it starts ({starts_at.isoformat()}); swap them."
        )
    if username and session.scalars(select(User.id).where(User.username == username)).first() is None:
        raise CalendarEventError(f"No user {username!r} for the event; give an existing login or a group.")
    existing = session.scalars(select(CalendarEvent).where(CalendarEvent.uid == uid)).first()
    if existing is not None:
        return existing
    event = CalendarEvent(
        uid=uid,
        username=username or None,
        group_name=group_name or None,
        title=title.strip()[:255],
        starts_at=starts_at,
        ends_at=ends_at,
        description=description,
        request_id=request_id,
        created_at=now,
        created_by=created_by,
    )
    session.add(event)
    session.flush()
    return event


def events_for(
    session: Session,
    *,
    username: str | None = None,
    groups: Iterable[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[CalendarEvent]:
    """A user's events and their groups' (or one group's, username None), in time order."""
    who = []
    if username:
        who.append(CalendarEvent.username == username)
    groups = [g for g in groups if g]
    if groups:
        who.append(CalendarEvent.group_name.in_(groups))
    if not who:
        return []
    query = select(CalendarEvent).where(or_(*who))
    if since is not None:
        query = query.where(CalendarEvent.ends_at > since)
    if until is not None:
        query = query.where(CalendarEvent.starts_at < until)
    return list(session.scalars(query.order_by(CalendarEvent.starts_at, CalendarEvent.id)))


def feed_token(session: Session, username: str, *, now: datetime, reset: bool = False) -> str:
    """The user's feed token, made on first use; `reset` replaces it (the old address stops working)."""
    row = session.get(CalendarFeed, username)
    if row is None:
        row = CalendarFeed(username=username, token=secrets.token_urlsafe(32), created_at=now)
        session.add(row)
    elif reset:
        row.token, row.created_at = secrets.token_urlsafe(32), now
    session.flush()
    return row.token


def feed_owner(session: Session, token: str) -> str | None:
    """Whose feed a token opens; None for a token nobody holds (the caller answers 404)."""
    if not token or len(token) > 64:
        return None
    return session.scalars(select(CalendarFeed.username).where(CalendarFeed.token == token)).first()


def to_ical(
    events: Iterable[CalendarEvent], *, name: str, link: Callable[[CalendarEvent], str | None] | None = None
) -> bytes:
    """The events as one VCALENDAR (RFC 5545), written by the icalendar library."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name)
    for event in events:
        item = icalendar.Event()
        item.add("uid", event.uid)
        item.add("dtstamp", event.created_at)
        item.add("dtstart", event.starts_at)
        item.add("dtend", event.ends_at)
        item.add("summary", event.title)
        if event.description:
            item.add("description", event.description)
        if link is not None and event.request_id is not None:
            url = link(event)
            if url:
                item.add("url", url)
        cal.add_component(item)
    return cal.to_ical()
