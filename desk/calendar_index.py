"""The per-year tables behind desk.calendar's arithmetic: each day's working spans as UTC
microseconds, prefix sums of working time and the working days, built lazily per calendar and
year, so a 90-day span costs a few bisections, never a walk over minutes.

desk.calendar holds what a calendar is and its public functions; this module only answers
"where does working time lie" for one `Calendar`, and is private to it.
"""

from __future__ import annotations

import functools
from bisect import bisect_left, bisect_right
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

from desk.errors import DeskError

if TYPE_CHECKING:
    from desk.calendar import Calendar

Interval = tuple[int, int]
DayIntervals = tuple[Interval, ...]

DAY_MINUTES = 1440
ONE_US = timedelta(microseconds=1)
US_PER_MINUTE = 60_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_ORDINAL = EPOCH.toordinal()
DAY_US = 86_400_000_000


class CalendarRangeError(DeskError, OverflowError):
    """A working-time computation left the years a datetime (and its time zone shift) can hold."""

    def __init__(self, calendar: str, year: int) -> None:
        self.calendar, self.year = calendar, year
        super().__init__(
            f"Calendar {calendar!r}: the computation reaches the year {year}, outside the years 2-9998 "
            f"it supports; use a shorter duration or a nearer date."
        )


class _Day(NamedTuple):
    """One local day: its working hours (local minutes), their instants (UTC microseconds), and
    its UTC offset in microseconds when that is the same all day (None on a DST change day)."""

    hours: DayIntervals
    spans: tuple[tuple[int, int], ...]
    offset: int | None


class YearTable:
    """Lookup tables for one calendar year; day i is date.fromordinal(first + i)."""

    __slots__ = ("year", "first", "days", "starts", "pref", "total", "workdays")

    def __init__(self, year: int, first: int, days: list[_Day], starts: list[int]) -> None:
        self.year, self.first, self.days, self.starts = year, first, days, starts
        pref = [0]
        for day in days:
            pref.append(pref[-1] + sum(e - s for s, e in day.spans))
        self.pref = pref  # working microseconds before day i
        self.total = pref[-1]
        self.workdays = [i for i, day in enumerate(days) if day.hours]


class CalendarIndex:
    """Lazily built per-year tables of one calendar; all arithmetic is on UTC microseconds."""

    def __init__(self, cal: Calendar) -> None:
        self.cal = cal
        self.zone: tzinfo = ZoneInfo(cal.tz)
        if cal.country:
            import holidays

            self.holidays = holidays.country_holidays(cal.country)
        else:
            self.holidays = None
        self.years: dict[int, YearTable] = {}

    # conversions

    def to_us(self, t: datetime) -> int:
        if t.tzinfo is None:
            t = t.replace(tzinfo=self.zone)
        return (t - EPOCH) // ONE_US

    def from_us(self, u: int) -> datetime:
        return (EPOCH + timedelta(microseconds=u)).astimezone(self.zone)

    def wall_to_us(self, wall: datetime) -> int:
        """Naive local wall time -> instant; a wall time skipped by DST maps to the jump itself."""
        u = (wall.replace(tzinfo=self.zone) - EPOCH) // ONE_US
        if self.from_us(u).replace(tzinfo=None) == wall:
            return u
        # In a gap: fold=1 maps it before the jump, fold=0 after; bisect for the jump (whole seconds).
        lo = (wall.replace(tzinfo=self.zone, fold=1) - EPOCH) // ONE_US // 1_000_000
        hi = -(-u // 1_000_000)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.from_us(mid * 1_000_000).replace(tzinfo=None) >= wall:
                hi = mid
            else:
                lo = mid
        return hi * 1_000_000

    # tables

    def year(self, y: int) -> YearTable:
        table = self.years.get(y)
        if table is None:
            if not 2 <= y <= 9998:
                raise CalendarRangeError(self.cal.name, y)
            table = self.years[y] = self._build(y)
        return table

    def next_year(self, table: YearTable) -> YearTable:
        return self.year(table.year + 1)

    def day(self, d: date) -> _Day:
        table = self.year(d.year)
        return table.days[d.toordinal() - table.first]

    def _build(self, y: int) -> YearTable:
        if self.holidays is not None:
            # Substitutions may refer to a neighbouring year: load those first.
            for neighbour in (y - 1, y, y + 1):
                _ = date(neighbour, 6, 1) in self.holidays
        first = date(y, 1, 1).toordinal()
        last = date(y, 12, 31).toordinal()
        midnights = [self._midnight(o) for o in range(first, last + 2)]
        days = []
        for i, ordinal in enumerate(range(first, last + 1)):
            d = date.fromordinal(ordinal)
            hours = self._hours(d)
            spans = []
            for start, end in hours:
                s = midnights[i] if start == 0 else self.wall_to_us(_wall(d, start))
                e = midnights[i + 1] if end == DAY_MINUTES else self.wall_to_us(_wall(d, end))
                if e > s:
                    spans.append((s, e))
            days.append(_Day(hours, tuple(spans), self._steady_offset(midnights[i], midnights[i + 1])))
        return YearTable(y, first, days, midnights)

    def _steady_offset(self, start: int, end: int) -> int | None:
        if end - start != DAY_US:
            return None
        offset = self.from_us(start).utcoffset()
        if offset is None or offset != self.from_us(end - 1).utcoffset():
            return None
        return offset // ONE_US

    def _midnight(self, ordinal: int) -> int:
        return self.wall_to_us(datetime.fromordinal(ordinal))

    def _hours(self, d: date) -> DayIntervals:
        cal = self.cal
        if d in cal.extra_holidays:
            return ()
        own = cal.intervals[d.weekday()]
        substitute = cal.intervals[cal.substitute_weekday]
        if d in cal.extra_working_days:
            return own or substitute
        if self.holidays is not None:
            if d in self.holidays:
                return ()
            if d in self.holidays.weekend_workdays:
                return own or substitute
        return own

    # arithmetic

    def locate(self, t: datetime, u: int) -> tuple[YearTable, int]:
        """The table and day index of instant u (t is the same instant, used for a cheap first guess)."""
        if t.tzinfo is not None and t.tzinfo is not self.zone:
            t = t.astimezone(self.zone)
        table = self.year(t.year)
        i = t.toordinal() - table.first
        starts = table.starts
        while u < starts[i]:
            if i == 0:
                table = self.year(table.year - 1)
                i = len(table.days)
                starts = table.starts
            i -= 1
        while u >= starts[i + 1]:
            i += 1
            if i == len(table.days):
                table, i = self.next_year(table), 0
                starts = table.starts
        return table, i

    @staticmethod
    def cum(table: YearTable, i: int, u: int) -> int:
        """Working microseconds from the start of the year to instant u on day i."""
        total = table.pref[i]
        for s, e in table.days[i].spans:
            if u <= s:
                break
            total += (e if u > e else u) - s
        return total

    def snap(self, table: YearTable, i: int, u: int) -> tuple[YearTable, int, int]:
        while True:
            for s, e in table.days[i].spans:
                if u < e:
                    return table, i, s if u < s else u
            k = bisect_right(table.workdays, i)
            while k >= len(table.workdays):
                table, k = self.next_year(table), 0
            i = table.workdays[k]

    def add_days(self, table: YearTable, i: int, u: int, n: int) -> tuple[YearTable, int, int]:
        """Same local time of day on the n-th following working day, snapped to working time."""
        # Local time of day in microseconds: integer arithmetic unless the day has a DST change.
        offset = table.days[i].offset
        if offset is not None:
            time_of_day = u + offset - (table.first + i - EPOCH_ORDINAL) * DAY_US
        else:
            local = self.from_us(u)
            time_of_day = (local - local.replace(hour=0, minute=0, second=0, microsecond=0)) // ONE_US
        k = bisect_right(table.workdays, i) + n - 1
        while k >= len(table.workdays):
            k -= len(table.workdays)
            table = self.next_year(table)
        i = table.workdays[k]
        offset = table.days[i].offset
        if offset is not None:
            u = (table.first + i - EPOCH_ORDINAL) * DAY_US + time_of_day - offset
        else:
            u = self.wall_to_us(datetime.fromordinal(table.first + i) + timedelta(microseconds=time_of_day))
        return self.snap(table, i, u)

    def add(self, table: YearTable, i: int, u: int, amount: int) -> int:
        """The earliest instant at which `amount` (> 0) working microseconds have passed since u."""
        target = self.cum(table, i, u) + amount
        while target > table.total:
            target -= table.total
            table = self.next_year(table)
        day = bisect_left(table.pref, target) - 1
        left = target - table.pref[day]
        for s, e in table.days[day].spans:
            if left <= e - s:
                return s + left
            left -= e - s
        raise AssertionError("prefix sums and day spans disagree")  # unreachable: pref sums these spans


def _wall(d: date, minute: int) -> datetime:
    return datetime(d.year, d.month, d.day, minute // 60, minute % 60)


@functools.lru_cache(maxsize=64)
def index_of(cal: Calendar) -> CalendarIndex:
    return CalendarIndex(cal)
