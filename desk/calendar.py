"""Business calendars: when the desk works, and how much working time lies between two moments.

SLA deadlines, pickup KPIs and business-time timers must not run overnight,
at weekends or on public holidays, so every one of them asks this module
instead of subtracting datetimes. The rules, in one place:

* A calendar is data (`Calendar`): working intervals per weekday in local
  wall-clock minutes, an IANA time zone, a `holidays` country and admin
  overrides (extra holidays, extra working days). Two defaults ship in
  `DEFAULT_CALENDARS`: `support` (Mon-Fri 09:00-18:00 Europe/Moscow) and
  `workdays` (00:00-24:00 on working days, Europe/Moscow).
* Which days work, first match wins: an extra holiday is off; an extra
  working day is on; a public holiday of the country (including Russia's
  substituted days off) is off; a weekend day the country moved work to
  (Russia's transferred working Saturdays, `holidays`' `weekend_workdays`)
  is on; any other day works when its weekday has intervals.
* A working day keeps its own weekday's intervals. One whose weekday has
  none (a transferred Saturday, an extra working Sunday) borrows the
  intervals of `Calendar.substitute_weekday`, Monday by default: Russian law
  works such a Saturday as the weekday it replaces, which on a Mon-Fri
  calendar has the same hours as any weekday, and `holidays` does not say
  reliably which weekday that was. Shortened pre-holiday days are not
  modelled.
* Intervals are half-open, [09:00, 18:00). Their bounds are local wall
  times converted with zoneinfo; working time is real elapsed time between
  those instants, so a 00:00-24:00 day lasts 23 h or 25 h on a DST change.
  A bound that falls in a DST gap means the moment the clock jumps past it;
  an ambiguous one means its first occurrence.
* Naive datetimes are taken in the calendar's zone; aware ones may be in any
  zone. Results are aware, in the calendar's zone.

Everything is interval arithmetic over per-year tables (each day's working
spans as UTC microseconds, prefix sums of working time, the working days),
built lazily per calendar and year, so a 90-day span costs a few bisections,
never a walk over minutes. Those tables live in desk.calendar_index.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from desk.calendar_index import (
    DAY_MINUTES,
    ONE_US,
    US_PER_MINUTE,
    CalendarIndex,
    CalendarRangeError,
    DayIntervals,
    Interval,
    YearTable,
    index_of,
)
from desk.errors import DeskError

__all__ = [
    "DEFAULT_CALENDARS",
    "WEEKDAY_NAMES",
    "Calendar",
    "CalendarRangeError",
    "DurationSpec",
    "InvalidCalendarError",
    "InvalidDurationSpecError",
    "UnknownCalendarError",
    "add_working_time",
    "get_calendar",
    "is_working_day",
    "next_working_moment",
    "parse_spec",
    "to_calendar_zone",
    "work_date_add",
    "working_hours",
    "working_time_between",
    "working_times_from_arrival",
]

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_TITLES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_HHMM = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_SPEC_PART = re.compile(r"([0-9]+)([dhm])")


class InvalidCalendarError(DeskError, ValueError):
    """A calendar definition is inconsistent (bad intervals, time zone, country or dates)."""

    def __init__(self, calendar: str, problem: str) -> None:
        self.calendar, self.problem = calendar, problem
        super().__init__(f"Calendar {calendar!r}: {problem}")


class UnknownCalendarError(DeskError, KeyError):
    """A calendar name is not in the registry the caller passed (or the defaults)."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name, self.known = name, tuple(sorted(known))
        self.message = (
            f"Unknown calendar {name!r} (known: {', '.join(self.known) or 'none'}). "
            f"Use one of those names, or define the calendar on the admin page first."
        )
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class InvalidDurationSpecError(DeskError, ValueError):
    """A working-time duration is malformed (a spec like "1d 4h 30m") or negative."""

    def __init__(self, spec: object, part: str, problem: str) -> None:
        self.spec, self.part = spec, part
        super().__init__(f"Duration spec {spec!r}: {problem}")


class DurationSpec(NamedTuple):
    """A parsed duration spec: whole working days, then working minutes."""

    days: int
    minutes: int


# -- calendar validation -----------------------------------------------------------------------------


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _normalize_week(name: str, raw: object) -> tuple[DayIntervals, ...]:
    if isinstance(raw, Mapping):  # {weekday: intervals}; weekdays left out are days off
        week: list[object] = [()] * 7
        for key, day in raw.items():
            week[_weekday_key(name, key)] = day
        raw = week
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence) or len(raw) != 7:
        raise InvalidCalendarError(
            name, "intervals must list 7 weekdays, Monday first (an empty list for a day off)."
        )
    return tuple(_normalize_day(name, w, day) for w, day in enumerate(raw))


def _normalize_day(name: str, weekday: int, raw: object) -> DayIntervals:
    title = _WEEKDAY_TITLES[weekday]
    if isinstance(raw, str | bytes) or not isinstance(raw, Iterable):
        raise InvalidCalendarError(name, f"{title} intervals must be a list of (start, end) pairs.")
    pairs: list[Interval] = []
    for item in raw:
        if isinstance(item, str | bytes) or not isinstance(item, Sequence) or len(item) != 2:
            raise InvalidCalendarError(
                name, f"{title} interval {item!r} must be a (start_minute, end_minute) pair."
            )
        start, end = item
        for bound in (start, end):
            if isinstance(bound, bool) or not isinstance(bound, int) or not 0 <= bound <= DAY_MINUTES:
                raise InvalidCalendarError(
                    name, f"{title} interval {item!r} has bound {bound!r}; use whole minutes 0 to 1440."
                )
        if end <= start:
            raise InvalidCalendarError(
                name,
                f"{title} interval {_hhmm(start)}-{_hhmm(end)} does not end after it starts; "
                f"give start < end (end may be 24:00).",
            )
        pairs.append((start, end))
    pairs.sort()
    for (s1, e1), (s2, e2) in zip(pairs, pairs[1:], strict=False):
        if s2 < e1:
            raise InvalidCalendarError(
                name,
                f"{title} intervals {_hhmm(s1)}-{_hhmm(e1)} and {_hhmm(s2)}-{_hhmm(e2)} overlap; "
                f"merge them or move one.",
            )
    return tuple(pairs)


def _check_zone(name: str, tz: object) -> None:
    try:
        ZoneInfo(tz)  # type: ignore[arg-type]
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidCalendarError(
            name, f"time zone {tz!r} is unknown; use an IANA name such as 'Europe/Moscow'."
        ) from None


@functools.cache
def _supported_countries() -> frozenset[str]:
    """The codes `holidays.country_holidays` accepts, read from the package's registry:
    `list_supported_countries()` imports all 250 country modules (~0.4 s of every command's start)
    just to name them."""
    from holidays import registry

    return frozenset(
        code
        for names in registry.COUNTRIES.values()
        for code in names[1:]
        if code.isupper() and len(code) <= 3
    )


def _check_country(name: str, country: object) -> None:
    if country is not None and country not in _supported_countries():
        raise InvalidCalendarError(
            name,
            f"holiday country {country!r} is not supported by the holidays package; "
            f"use an ISO 3166 code such as 'RU', or None for no public holidays.",
        )


def _date_set(name: str, field: str, raw: object) -> frozenset[date]:
    if isinstance(raw, str | bytes) or not isinstance(raw, Iterable):
        raise InvalidCalendarError(name, f"{field} must be a collection of dates.")
    dates = frozenset(raw)
    for d in dates:
        if isinstance(d, datetime) or not isinstance(d, date):
            raise InvalidCalendarError(name, f"{field} holds {d!r}; list plain dates (datetime.date).")
    return dates


def _week_from_data(name: str, raw: object) -> list[list[Interval]]:
    if isinstance(raw, Mapping):
        week: list[list[Interval]] = [[] for _ in range(7)]
        for key, day in raw.items():
            weekday = _weekday_key(name, key)
            week[weekday] = _day_from_data(name, weekday, day)
        return week
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence) or len(raw) != 7:
        raise InvalidCalendarError(
            name, "intervals must be 7 weekday lists (Monday first) or a mapping like {'mon': [...]}."
        )
    return [_day_from_data(name, w, day) for w, day in enumerate(raw)]


def _weekday_key(name: str, key: object) -> int:
    if isinstance(key, str) and key.lower() in WEEKDAY_NAMES:
        return WEEKDAY_NAMES.index(key.lower())
    if isinstance(key, str) and key.isdigit():
        key = int(key)
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key <= 6:
        return key
    raise InvalidCalendarError(
        name, f"weekday {key!r} is unknown; use one of {', '.join(WEEKDAY_NAMES)} or 0 (Monday) to 6."
    )


def _day_from_data(name: str, weekday: int, raw: object) -> list[Interval]:
    if isinstance(raw, str | bytes) or not isinstance(raw, Iterable):
        raise InvalidCalendarError(name, f"{_WEEKDAY_TITLES[weekday]} intervals must be a list of pairs.")
    day: list[Interval] = []
    for item in raw:
        if isinstance(item, str | bytes) or not isinstance(item, Sequence) or len(item) != 2:
            raise InvalidCalendarError(
                name, f"{_WEEKDAY_TITLES[weekday]} interval {item!r} must be a [start, end] pair."
            )
        day.append((_minute_from_data(name, weekday, item[0]), _minute_from_data(name, weekday, item[1])))
    return day


def _minute_from_data(name: str, weekday: int, raw: object) -> Any:
    if isinstance(raw, str):
        match = _HHMM.fullmatch(raw.strip())
        hours, minutes = (int(match.group(1)), int(match.group(2))) if match else (-1, -1)
        if match is None or minutes > 59 or hours * 60 + minutes > DAY_MINUTES:
            raise InvalidCalendarError(
                name, f"{_WEEKDAY_TITLES[weekday]} time {raw!r} is not HH:MM between 00:00 and 24:00."
            )
        return hours * 60 + minutes
    return raw  # minutes as a number; _normalize_day checks the range


def _dates_from_data(name: str, field: str, raw: object) -> list[Any]:
    if isinstance(raw, str | bytes) or not isinstance(raw, Iterable):
        raise InvalidCalendarError(name, f"{field} must be a list of ISO dates like '2026-12-31'.")
    dates: list[Any] = []
    for item in raw:
        if isinstance(item, str):
            try:
                item = date.fromisoformat(item)
            except ValueError:
                raise InvalidCalendarError(
                    name, f"{field} holds {item!r}, which is not an ISO date like '2026-12-31'."
                ) from None
        dates.append(item)
    return dates


@dataclass(frozen=True)
class Calendar:
    """A business calendar as plain, hashable data, so it can key caches and live in the DB.

    `intervals[w]` lists weekday w's (0 = Monday) working intervals as
    half-open (start_minute, end_minute) ranges of local wall time, sorted and
    non-overlapping; the end may be 1440 (midnight after). It may be given as
    7 lists or as a mapping {weekday: intervals} and is stored as a tuple. `country` is a
    `holidays` country code, or None for no public holidays. Extra holidays
    beat extra working days beat the country's calendar. A working day whose
    own weekday has no intervals uses `substitute_weekday`'s.
    """

    name: str
    tz: str
    intervals: tuple[DayIntervals, ...]
    country: str | None = "RU"
    extra_holidays: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()
    substitute_weekday: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidCalendarError(str(self.name), "the name must be a non-empty string.")
        object.__setattr__(self, "intervals", _normalize_week(self.name, self.intervals))
        _check_zone(self.name, self.tz)
        _check_country(self.name, self.country)
        extra_off = _date_set(self.name, "extra_holidays", self.extra_holidays)
        extra_on = _date_set(self.name, "extra_working_days", self.extra_working_days)
        object.__setattr__(self, "extra_holidays", extra_off)
        object.__setattr__(self, "extra_working_days", extra_on)
        both = sorted(extra_off & extra_on)
        if both:
            raise InvalidCalendarError(
                self.name,
                f"{', '.join(d.isoformat() for d in both)} listed both as extra holiday and as "
                f"extra working day; keep each date in one list only.",
            )
        if not any(self.intervals):
            raise InvalidCalendarError(
                self.name, "no weekday has working intervals; add at least one interval."
            )
        sub = self.substitute_weekday
        if isinstance(sub, bool) or not isinstance(sub, int) or not 0 <= sub <= 6:
            raise InvalidCalendarError(
                self.name, f"substitute_weekday {sub!r} must be a weekday number 0 (Monday) to 6 (Sunday)."
            )
        if not self.intervals[sub]:
            raise InvalidCalendarError(
                self.name,
                f"substitute_weekday {_WEEKDAY_TITLES[sub]} has no intervals, so a transferred working "
                f"day would have no hours; pick a weekday that has intervals (Monday by default).",
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calendar:
        """Build a calendar from stored or admin-edited plain data (the shape `to_dict` writes).

        Intervals may be a list of 7 weekday lists or a mapping keyed by
        weekday name ("mon") or number; bounds may be minutes or "HH:MM"
        ("24:00" allowed). Dates are ISO strings or `date`s.
        """
        name = data.get("name")
        if not isinstance(name, str):
            raise InvalidCalendarError(str(name), "'name' is missing or not a string; add a calendar name.")
        for key in ("tz", "intervals"):
            if key not in data:
                raise InvalidCalendarError(name, f"{key!r} is missing; add it to the calendar data.")
        sub = data.get("substitute_weekday", 0)
        if isinstance(sub, str) and sub.lower() in WEEKDAY_NAMES:
            sub = WEEKDAY_NAMES.index(sub.lower())
        return cls(
            name=name,
            tz=data["tz"],
            intervals=_week_from_data(name, data["intervals"]),
            country=data.get("country", "RU") or None,
            extra_holidays=_dates_from_data(name, "extra_holidays", data.get("extra_holidays", ())),
            extra_working_days=_dates_from_data(
                name, "extra_working_days", data.get("extra_working_days", ())
            ),
            substitute_weekday=sub,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready plain data that `from_dict` turns back into an equal calendar."""
        return {
            "name": self.name,
            "tz": self.tz,
            "intervals": {
                WEEKDAY_NAMES[w]: [[_hhmm(s), _hhmm(e)] for s, e in day]
                for w, day in enumerate(self.intervals)
            },
            "country": self.country,
            "extra_holidays": sorted(d.isoformat() for d in self.extra_holidays),
            "extra_working_days": sorted(d.isoformat() for d in self.extra_working_days),
            "substitute_weekday": WEEKDAY_NAMES[self.substitute_weekday],
        }


def _weekdays(day: DayIntervals) -> tuple[DayIntervals, ...]:
    return (day,) * 5 + ((), ())


DEFAULT_CALENDARS: Mapping[str, Calendar] = MappingProxyType(
    {
        "support": Calendar("support", "Europe/Moscow", _weekdays(((9 * 60, 18 * 60),))),
        "workdays": Calendar("workdays", "Europe/Moscow", _weekdays(((0, DAY_MINUTES),))),
    }
)


def get_calendar(name: str, registry: Mapping[str, Calendar] | None = None) -> Calendar:
    """Return the calendar called `name`, so BPMN properties and SLA policies can refer to it by name.

    `registry` is what the caller loaded (e.g. from the DB); without one the
    shipped `DEFAULT_CALENDARS` answer.
    """
    calendars = DEFAULT_CALENDARS if registry is None else registry
    try:
        return calendars[name]
    except (KeyError, TypeError):
        raise UnknownCalendarError(str(name), calendars.keys()) from None


# -- the public arithmetic ---------------------------------------------------------------------------


def parse_spec(spec: str) -> DurationSpec:
    """Parse "Nd Nh Nm" into (working days, working minutes).

    Parts are separated by whitespace and may come in any order, but each unit
    at most once and each part exactly a whole number plus d, h or m: a typo
    in an SLA policy must fail loudly, not become a different deadline.
    """
    days, minutes, _ = _parse(spec)
    return DurationSpec(days, minutes)


def work_date_add(start: datetime, spec: str, cal: Calendar) -> datetime:
    """Return the moment `spec` of working time after `start`, like Bitrix24's WorkDateAdd.

    SLA deadlines must not run overnight or at weekends, so the clock only
    moves inside the calendar's working intervals. With a day part ("0d",
    "2d 4h") the start first snaps to the next working moment (itself when
    inside an interval), then moves to the same local time of day on the N-th
    following working day; if that day does not work at that time (its
    weekday has other hours) it snaps again to that day's or the next
    opening. Hours and minutes then add working time and give the earliest
    moment at which that much has elapsed: 17:00 + 1h is 18:00 (the end of
    the interval, not the next opening), and "0h" returns `start` unchanged
    even off-hours.
    """
    days, minutes, has_days = _parse(spec)
    index = index_of(cal)
    u = index.to_us(start)
    year, i = index.locate(start, u)
    if has_days:
        year, i, u = index.snap(year, i, u)
        if days:
            year, i, u = index.add_days(year, i, u, days)
    if minutes:
        u = index.add(year, i, u, minutes * US_PER_MINUTE)
    return index.from_us(u)


def working_time_between(start: datetime, end: datetime, cal: Calendar) -> timedelta:
    """Return the working time inside [start, end): what processing-time and pickup reports count.

    Zero when `end` is not after `start`, so a reversed pair never yields
    negative working time.
    """
    index = index_of(cal)
    a, b = index.to_us(start), index.to_us(end)
    if b <= a:
        return timedelta(0)
    year_a, i_a = index.locate(start, a)
    year_b, i_b = index.locate(end, b)
    total = index.cum(year_b, i_b, b) - index.cum(year_a, i_a, a)
    for y in range(year_a.year, year_b.year):
        total += index.year(y).total
    return timedelta(microseconds=total)


def working_times_from_arrival(
    created: datetime, marks: Sequence[datetime], cal: Calendar
) -> tuple[datetime, list[timedelta]]:
    """The effective arrival of `created` and the working time of each leg arrival -> marks[0] -> marks[1]…

    Equal to `next_working_moment(created, cal)` and `working_time_between` of each consecutive
    pair (zero for a leg that runs backwards), computed on one calendar lookup with each moment
    located once: a request's pickup and processing legs share their ends, and the legacy import
    derives them for hundreds of thousands of rows.
    """
    index = index_of(cal)
    u = index.to_us(created)
    here = index.snap(*index.locate(created, u), u)
    arrival = index.from_us(here[2])
    legs: list[timedelta] = []
    for mark in marks:
        u = index.to_us(mark)
        there = (*index.locate(mark, u), u)
        legs.append(_between(index, here, there))
        here = there
    return arrival, legs


def _between(
    index: CalendarIndex, start: tuple[YearTable, int, int], end: tuple[YearTable, int, int]
) -> timedelta:
    """working_time_between on two located instants."""
    year_a, i_a, a = start
    year_b, i_b, b = end
    if b <= a:
        return timedelta(0)
    total = index.cum(year_b, i_b, b) - index.cum(year_a, i_a, a)
    for y in range(year_a.year, year_b.year):
        total += index.year(y).total
    return timedelta(microseconds=total)


def next_working_moment(t: datetime, cal: Calendar) -> datetime:
    """Return the earliest working moment at or after `t` (what "0d" does): a request's effective arrival."""
    index = index_of(cal)
    u = index.to_us(t)
    year, i = index.locate(t, u)
    return index.from_us(index.snap(year, i, u)[2])


def add_working_time(start: datetime, amount: timedelta, cal: Calendar) -> datetime:
    """Return the earliest moment at which `amount` of working time has passed since `start`.

    Business-time timers (ISO durations like PT30M) need sub-minute
    precision that the "Nh Nm" spec cannot express; the rule is the same as
    work_date_add's hours and minutes.
    """
    amount_us = amount // ONE_US
    if amount_us < 0:
        raise InvalidDurationSpecError(
            str(amount), str(amount), "working time cannot be negative; pass a duration of zero or more."
        )
    index = index_of(cal)
    u = index.to_us(start)
    if amount_us:
        year, i = index.locate(start, u)
        u = index.add(year, i, u, amount_us)
    return index.from_us(u)


def is_working_day(d: date, cal: Calendar) -> bool:
    """Tell whether `d` has working hours on `cal`, with holidays and transferred days applied."""
    return bool(working_hours(d, cal))


def working_hours(d: date, cal: Calendar) -> DayIntervals:
    """Return day `d`'s working intervals as (start_minute, end_minute) pairs; empty on a day off.

    Lets the UI show "today 09:00-18:00" with the same rules the arithmetic uses.
    """
    return index_of(cal).day(d).hours


def to_calendar_zone(t: datetime, cal: Calendar) -> datetime:
    """Return `t` as an aware datetime in the calendar's zone; a naive `t` is taken as local time there.

    One rule for naive input, shared by the SLA code's wall-clock figures.
    """
    zone = index_of(cal).zone
    return t.replace(tzinfo=zone) if t.tzinfo is None else t.astimezone(zone)


# -- spec parsing ------------------------------------------------------------------------------------


def _parse(spec: str) -> tuple[int, int, bool]:
    if not isinstance(spec, str):
        raise InvalidDurationSpecError(spec, "", "expected a string such as '2h' or '1d 4h 30m'.")
    return _parse_str(spec)


@functools.lru_cache(maxsize=1024)
def _parse_str(spec: str) -> tuple[int, int, bool]:
    parts = spec.split()
    if not parts:
        raise InvalidDurationSpecError(spec, "", "it is empty; write e.g. '2h', '1d 4h 30m' or '0d'.")
    amounts: dict[str, int] = {}
    for part in parts:
        match = _SPEC_PART.fullmatch(part)
        if match is None:
            raise InvalidDurationSpecError(
                spec,
                part,
                f"bad part {part!r}; each part is a whole number followed by d, h or m, "
                f"separated by spaces (e.g. '1d 4h 30m').",
            )
        unit = match.group(2)
        if unit in amounts:
            raise InvalidDurationSpecError(
                spec, part, f"part {part!r} repeats the unit {unit!r}; give each of d, h and m at most once."
            )
        amounts[unit] = int(match.group(1))
    minutes = amounts.get("h", 0) * 60 + amounts.get("m", 0)
    return amounts.get("d", 0), minutes, "d" in amounts
