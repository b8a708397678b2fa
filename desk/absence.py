"""Staff absences (leave, sick leave, business trips) and what "on duty" means with them.

Availability used to be one `on_duty` flag, so nobody could say "Ivanov is on leave 12–23
December" and every picker, the telephony queue and escalations still counted him in. An
absence is a period with a kind and an optional substitute; a person is on duty when their
flag says so and no absence covers the moment the caller passes in. The functions here
are pure (values in, values out): the caller loads the rows and passes "now" and the
calendar, so midnight, weekends and holidays are decided by desk.calendar alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Index, String, bindparam, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from desk.calendar import Calendar, is_working_day, next_working_moment
from desk.errors import DeskError
from desk.models import Base, User
from desk.session_reads import core_rows, flush_for

KINDS = ("leave", "sick", "business_trip")


class AbsenceError(DeskError, ValueError):
    """An absence that cannot be recorded as entered."""


class Absence(Base):
    """One period a staff member is away; `substitute` takes their calls and open tasks."""

    __tablename__ = "absence"
    __table_args__ = (Index("ix_absence_user_ends", "username", "ends_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime] = mapped_column(index=True)
    substitute: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]


@dataclass(frozen=True)
class Period:
    """An absence as the rules see it: who, when (half-open [starts_at, ends_at)), and who stands in."""

    username: str
    starts_at: datetime
    ends_at: datetime
    kind: str = "leave"
    substitute: str | None = None

    @classmethod
    def of(cls, row: Absence) -> Period:
        return cls(row.username, row.starts_at, row.ends_at, row.kind, row.substitute)


def parse_bound(text: str, cal: Calendar, *, end: bool) -> datetime:
    """An absence bound as people and processes write it: a date (whole day where the office is)
    or an ISO datetime with its zone. A date as the end means the end of that day.
    """
    raw = (text or "").strip()
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            start, stop = days_period(day, day, cal)
            return stop if end else start
        moment = datetime.fromisoformat(raw)
    except ValueError as err:
        raise AbsenceError(
            f"{raw!r} is neither a date (2026-12-12) nor a date and time (2026-12-12T09:00+03:00)."
        ) from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(cal.tz))
    return moment


def check_absence(
    username: str, kind: str, starts_at: datetime, ends_at: datetime, substitute: str | None
) -> None:
    """Refuse an absence that could not mean anything: unknown kind, empty period, self-substitute."""
    if kind not in KINDS:
        raise AbsenceError(f"Unknown absence kind {kind!r}; use one of {', '.join(KINDS)}.")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise AbsenceError("An absence needs times with a time zone; pass aware datetimes.")
    if ends_at <= starts_at:
        raise AbsenceError(
            f"The absence of {username!r} ends ({ends_at.isoformat()}) before it starts "
            f"({starts_at.isoformat()}); swap the dates."
        )
    if substitute and substitute == username:
        raise AbsenceError(f"{username!r} cannot substitute for themselves; name someone else or nobody.")


def days_period(first_day: date, last_day: date, cal: Calendar) -> tuple[datetime, datetime]:
    """The period of whole days `first_day`..`last_day` (both included) in the calendar's time zone.

    "On leave 12–23 December" means from the start of the 12th to the end of the 23rd where
    the office is, not in UTC; the end is the next midnight, so the 23rd is fully covered.
    """
    if last_day < first_day:
        raise AbsenceError(
            f"The last day {last_day.isoformat()} is before the first day {first_day.isoformat()}; swap them."
        )
    zone = ZoneInfo(cal.tz)
    start = datetime.combine(first_day, time.min, tzinfo=zone)
    end = datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def add_absence(
    session: Session,
    *,
    username: str,
    kind: str,
    starts_at: datetime,
    ends_at: datetime,
    substitute: str | None,
    note: str = "",
    created_by: str | None,
    now: datetime,
) -> Absence:
    """Record an absence of an existing user, with an existing active substitute if one is named."""
    substitute = (substitute or "").strip() or None
    check_absence(username, kind, starts_at, ends_at, substitute)
    for who, role in ((username, "absent person"), (substitute, "substitute")):
        if who is None:
            continue
        user = session.scalars(select(User).where(User.username == who)).first()
        if user is None or (role == "substitute" and not user.active):
            raise AbsenceError(f"The {role} {who!r} is not an active user; pick one from the staff list.")
    row = Absence(
        username=username,
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at,
        substitute=substitute,
        note=(note or "")[:500],
        created_by=created_by,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def covers(period: Period, now: datetime) -> bool:
    return period.starts_at <= now < period.ends_at


def absent_now(periods: Iterable[Period], now: datetime) -> dict[str, Period]:
    """Who is away at `now`, each with the absence that covers it (the latest-ending one)."""
    away: dict[str, Period] = {}
    for period in periods:
        if covers(period, now):
            known = away.get(period.username)
            if known is None or period.ends_at > known.ends_at:
                away[period.username] = period
    return away


def on_duty(flag: bool, username: str, away: Mapping[str, Period]) -> bool:
    """On duty = the person's own flag is set and no absence covers now."""
    return bool(flag) and username not in away


def stand_in(username: str, away: Mapping[str, Period], *, limit: int = 5) -> str | None:
    """Who works for `username` now: themselves if present, else their substitute (followed while absent).

    A substitute who is away too hands on to their own substitute; a loop or a chain
    ending with nobody present gives None, and the caller falls back to the queue.
    """
    current, seen = username, set()
    for _ in range(limit + 1):
        if current not in away:
            return current
        seen.add(current)
        nxt = away[current].substitute
        if not nxt or nxt in seen:
            return None
        current = nxt
    return None


def returns_at(period: Period, cal: Calendar) -> datetime:
    """When the person is next expected at work: the first working moment at or after the end.

    A sick leave ending on Friday evening means back on Monday morning; one ending on the
    eve of the New Year holidays means back after them, as the calendar's holidays say.
    """
    return next_working_moment(period.ends_at, cal)


def working_days_away(period: Period, cal: Calendar) -> int:
    """Working days the absence takes (weekends and holidays inside it do not count)."""
    zone = ZoneInfo(cal.tz)
    day = period.starts_at.astimezone(zone).date()
    last = (period.ends_at - timedelta(microseconds=1)).astimezone(zone).date()
    count = 0
    while day <= last:
        count += is_working_day(day, cal)
        day += timedelta(days=1)
    return count


_COVERING = select(
    Absence.username, Absence.starts_at, Absence.ends_at, Absence.kind, Absence.substitute
).where(Absence.ends_at > bindparam("now"), Absence.starts_at <= bindparam("now"))


def away_now(session: Session, now: datetime) -> dict[str, Period]:
    """Who is absent at `now`: absent_now over the stored absences that cover it.

    Read as plain rows (every routed request asks; ORM objects cost more than the answer),
    after flushing only this session's unflushed absences.
    """
    flush_for(session, Absence)
    return absent_now((Period(*row) for row in core_rows(session, _COVERING, {"now": now})), now)


def group_reach(session: Session, group: str, *, now: datetime) -> list[User]:
    """Whom a notice or escalation to `group` reaches now: its present members, and for each
    absent member their substitute (if present), once each, in name order.
    """
    away = away_now(session, now)
    users = {u.username: u for u in session.scalars(select(User).where(User.active.is_(True)))}
    reached: dict[str, User] = {}
    for user in users.values():
        if group not in (user.groups or []):
            continue
        who = stand_in(user.username, away)
        if who is not None and who in users:
            reached[who] = users[who]
    return [reached[name] for name in sorted(reached)]
