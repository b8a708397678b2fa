"""Calendars at every door: whose calendar a person may see, and the token-addressed iCalendar feed.

One's own calendar and one's groups' are "calendar.read"; anyone else's is "calendar.read_all"
(dispatchers and managers plan with everyone's). A feed URL carries a per-user secret token,
because calendar applications cannot log in: the token names the user, and the feed is served
only while that user is active and the matrix still lets them read their calendar.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from desk import calendar_events as events
from desk.calendar_events import CalendarEvent
from desk.models import User
from service.errors import ServiceError
from service.permissions import Principal, may, principal_of, require


class UnknownFeedError(ServiceError, LookupError):
    """The feed token names nobody (reset, never issued, or its user deactivated)."""

    def __init__(self) -> None:
        super().__init__(
            "No calendar feed at this address; copy the current address from your calendar page."
        )


class UnknownCalendarOwnerError(ServiceError, LookupError):
    """A calendar page for a user who does not exist."""

    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(f"No user {username!r}; pick a person from the staff list.")


def require_calendar(
    principal: Principal | None, *, username: str | None = None, group: str | None = None
) -> None:
    """Own calendar and own groups' with calendar.read; anyone else's needs calendar.read_all."""
    require(principal, "read", "calendar")
    own = (username is not None and principal.username == username) or (
        group is not None and group in principal.groups
    )
    if not own:
        require(principal, "read_all", "calendar")


def user_calendar(
    sessions: sessionmaker, principal: Principal | None, username: str, *, since: datetime, until: datetime
) -> list[CalendarEvent]:
    """A user's events and their groups' in [since, until)."""
    require_calendar(principal, username=username)
    with sessions() as session:
        groups = session.scalars(select(User.groups).where(User.username == username)).first()
        if groups is None:
            raise UnknownCalendarOwnerError(username)
        found = events.events_for(session, username=username, groups=groups, since=since, until=until)
        session.expunge_all()
        return found


def group_calendar(
    sessions: sessionmaker, principal: Principal | None, group: str, *, since: datetime, until: datetime
) -> list[CalendarEvent]:
    """A group's events in [since, until)."""
    require_calendar(principal, group=group)
    with sessions() as session:
        found = events.events_for(session, groups=[group], since=since, until=until)
        session.expunge_all()
        return found


def feed_address_token(
    sessions: sessionmaker, principal: Principal | None, *, now: datetime, reset: bool = False
) -> str:
    """The signed-in user's feed token (made on first use; `reset` replaces it)."""
    require(principal, "read", "calendar")
    with sessions() as session, session.begin():
        return events.feed_token(session, principal.username, now=now, reset=reset)


def feed(
    sessions: sessionmaker, token: str, *, link: Callable[[CalendarEvent], str | None] | None = None
) -> tuple[str, bytes]:
    """(owner, .ics bytes) of the feed a token opens: the owner's events and their groups'."""
    with sessions() as session:
        owner = events.feed_owner(session, token)
        user = session.scalars(select(User).where(User.username == owner)).first() if owner else None
        if user is None or not user.active or not may(principal_of(user), "read", "calendar"):
            raise UnknownFeedError()
        rows = events.events_for(session, username=user.username, groups=user.groups or [])
        return user.username, events.to_ical(rows, name=user.full_name or user.username, link=link)
