"""SLA rules: resolution deadlines, the pickup KPI, processing-time buckets and time in stage.

Management reports count working time, not wall time: a request that
arrives on Saturday and is taken on Monday at 09:10 was picked up in ten
minutes, not two days. Every rule here is a pure function over the business
calendars of `desk.calendar` (DESIGN §4); the caller passes "now", the
policies and the calendars it loaded, so the same code serves the engine's
service tasks, the web reports and tests.
"""

from __future__ import annotations

import functools
import math
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from desk.calendar import (
    Calendar,
    InvalidDurationSpecError,
    get_calendar,
    next_working_moment,
    parse_spec,
    to_calendar_zone,
    work_date_add,
    working_time_between,
    working_times_from_arrival,
)
from desk.errors import DeskError

__all__ = [
    "ANY",
    "DEFAULT_BUCKETS",
    "DEFAULT_POLICIES",
    "PICKUP_CALENDAR",
    "PICKUP_TARGET_MINUTES",
    "PROCESSING_CALENDAR",
    "InvalidBucketsError",
    "InvalidSlaPolicyError",
    "NoSlaPolicyError",
    "Pickup",
    "Priority",
    "SlaPolicy",
    "StageTime",
    "StageTotals",
    "bucket",
    "bucket_labels",
    "Handling",
    "find_policy",
    "handling",
    "pickup",
    "processing_minutes",
    "record_status_change",
    "resolve_by",
    "working_minutes_left",
]

ANY = "*"
PICKUP_CALENDAR = "support"
PICKUP_TARGET_MINUTES = 15
PROCESSING_CALENDAR = "support"
DEFAULT_BUCKETS: tuple[float, ...] = (30, 60, 180, 480, 1440)
_MINUTE = timedelta(minutes=1)


class Priority(StrEnum):
    """The request priorities the default policies know; policies may name others."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class InvalidSlaPolicyError(DeskError, ValueError):
    """An SLA policy is malformed (its resolve_within is not a duration spec, or a field is empty)."""

    def __init__(self, category: str, priority: str, problem: str) -> None:
        self.category, self.priority = category, priority
        super().__init__()
        self.say(
            "SLA policy for category %(category)r, priority %(priority)r: %(problem)s Fix the policy "
            "on the admin page.",
            category=category,
            priority=priority,
            problem=problem,
        )


class NoSlaPolicyError(DeskError, LookupError):
    """No policy covers a request's category and priority, not even a "*" default."""

    def __init__(self, category: str, priority: str, known: Iterable[tuple[str, str]]) -> None:
        self.category, self.priority = category, priority
        pairs = ", ".join(f"{c}/{p}" for c, p in sorted(set(known)))
        super().__init__()
        self.say(
            "No SLA policy covers category %(category)r with priority %(priority)r (policies exist "
            "for: %(pairs)s). Add a policy for that priority, or a '*' default.",
            category=category,
            priority=priority,
            pairs=pairs or "—",
        )


class InvalidBucketsError(DeskError, ValueError):
    """Processing-time bucket boundaries or labels do not fit together."""

    def __init__(self, template: str, **values: Any) -> None:
        super().__init__()
        self.say(template, **values)


@dataclass(frozen=True)
class SlaPolicy:
    """How long requests of one category and priority may take, in working time of one calendar.

    `category` "*" is the default for categories without their own policy;
    `priority` "*" covers every priority of that category. `resolve_within`
    is a `desk.calendar` duration spec ("24h", "2d", "1d 4h"), checked here
    so a typo fails when the policy is saved, not when a request arrives.
    """

    category: str
    priority: str
    resolve_within: str
    calendar: str = "workdays"

    def __post_init__(self) -> None:
        for field, value in (("category", self.category), ("priority", self.priority)):
            if not isinstance(value, str) or not value:
                raise InvalidSlaPolicyError(
                    str(self.category), str(self.priority), f"{field} must be a non-empty string."
                )
        try:
            parse_spec(self.resolve_within)
        except InvalidDurationSpecError as err:
            raise InvalidSlaPolicyError(
                self.category, self.priority, f"resolve_within is invalid. {err}"
            ) from err


DEFAULT_POLICIES: tuple[SlaPolicy, ...] = (
    SlaPolicy(ANY, Priority.HIGH.value, "24h"),
    SlaPolicy(ANY, Priority.NORMAL.value, "48h"),
    SlaPolicy(ANY, Priority.LOW.value, "72h"),
)


def find_policy(
    category: str | None, priority: str, policies: Iterable[SlaPolicy] = DEFAULT_POLICIES
) -> SlaPolicy:
    """Return the policy for a request: its category's own policy beats the "*" default.

    Lookup order: (category, priority), (category, "*"), ("*", priority),
    ("*", "*"). Later entries replace earlier ones with the same category and
    priority, so `DEFAULT_POLICIES + (override,)` overrides a default.
    """
    table = _policy_table(policies) if isinstance(policies, tuple) else _table(policies)
    category = category or ANY
    for key in ((category, priority), (category, ANY), (ANY, priority), (ANY, ANY)):
        if key in table:
            return table[key]
    raise NoSlaPolicyError(category, priority, table)


def _table(policies: Iterable[SlaPolicy]) -> dict[tuple[str, str], SlaPolicy]:
    return {(p.category, p.priority): p for p in policies}


@functools.lru_cache(maxsize=64)
def _policy_table(policies: tuple[SlaPolicy, ...]) -> dict[tuple[str, str], SlaPolicy]:
    """The lookup table of a policy tuple, built once: a legacy import asks for every row."""
    return _table(policies)


def resolve_by(
    created: datetime,
    category: str | None,
    priority: str,
    policies: Iterable[SlaPolicy] = DEFAULT_POLICIES,
    calendars: Mapping[str, Calendar] | None = None,
) -> datetime:
    """Return when a request must be resolved: `resolve_within` of working time after creation.

    On `workdays` "24h" is 24 working hours, i.e. one whole working day, so
    a request created on Saturday is due at the end of Monday (Tuesday
    00:00), and one created on Friday 10:00 on Monday 10:00.
    """
    policy = find_policy(category, priority, policies)
    return work_date_add(created, policy.resolve_within, get_calendar(policy.calendar, calendars))


@dataclass(frozen=True)
class Pickup:
    """How fast a request was taken into work, in working minutes from its effective arrival."""

    minutes: float
    late: bool
    overrun_minutes: float


def pickup(
    created: datetime,
    taken: datetime,
    calendars: Mapping[str, Calendar] | None = None,
    target_minutes: float = PICKUP_TARGET_MINUTES,
) -> Pickup:
    """Measure the pickup KPI: over `target_minutes` of support working time is a late pickup.

    The clock starts at the effective arrival (the next support working
    moment, "0d"), so nobody is late for a request that came in at night. A
    `taken` before the arrival counts as zero minutes, not as an error, so
    one skewed clock cannot break a report.
    """
    cal = get_calendar(PICKUP_CALENDAR, calendars)
    arrival = next_working_moment(created, cal)
    minutes = working_time_between(arrival, taken, cal) / _MINUTE
    return Pickup(minutes, minutes > target_minutes, max(0.0, minutes - target_minutes))


@dataclass(frozen=True)
class Handling:
    """A request's effective arrival, pickup KPI (None before pickup) and processing minutes (None open)."""

    arrival: datetime
    pickup: Pickup | None
    processing_minutes: float | None


def handling(
    created: datetime,
    taken: datetime | None,
    done: datetime | None,
    calendars: Mapping[str, Calendar] | None = None,
    target_minutes: float = PICKUP_TARGET_MINUTES,
) -> Handling:
    """Arrival, `pickup` and `processing_minutes` of one request in one pass, as live handling records them.

    The same figures as those three functions (processing runs from taken, or from the arrival
    of a request closed without pickup), but the legs arrival -> taken -> done share their ends
    on the one support calendar, so each moment is located once: the legacy import derives them
    for every historical request.
    """
    if PICKUP_CALENDAR != PROCESSING_CALENDAR:  # pragma: no cover - both are "support" today
        arrival = next_working_moment(created, get_calendar(PICKUP_CALENDAR, calendars))
        return Handling(
            arrival,
            pickup(created, taken, calendars, target_minutes) if taken is not None else None,
            processing_minutes(taken or arrival, done, calendars) if done is not None else None,
        )
    marks = [moment for moment in (taken, done) if moment is not None]
    arrival, legs = working_times_from_arrival(created, marks, get_calendar(PICKUP_CALENDAR, calendars))
    measured = None
    if taken is not None:
        minutes = legs[0] / _MINUTE
        measured = Pickup(minutes, minutes > target_minutes, max(0.0, minutes - target_minutes))
    return Handling(arrival, measured, legs[-1] / _MINUTE if done is not None else None)


def processing_minutes(
    taken: datetime, done: datetime, calendars: Mapping[str, Calendar] | None = None
) -> float:
    """Return the support working minutes between taken-into-work and done: what reports bucket."""
    return working_time_between(taken, done, get_calendar(PROCESSING_CALENDAR, calendars)) / _MINUTE


def bucket(
    minutes: float, boundaries: Sequence[float] = DEFAULT_BUCKETS, labels: Sequence[str] | None = None
) -> str:
    """Return the report bucket of a processing time: "< 30 min", "30 min – 1 h", ... "> 24 h".

    Buckets are half-open, [30, 60) and so on: exactly 30 minutes is
    "30 min – 1 h". Without `labels` they are derived from the boundaries
    (whole hours from 60 minutes up, minutes below).
    """
    bounds = tuple(boundaries)
    names = bucket_labels(bounds) if labels is None else tuple(labels)
    if len(names) != len(bounds) + 1:
        raise InvalidBucketsError(
            "%(boundaries)d bucket boundaries need %(needed)d labels, got %(given)d; "
            "give one label per bucket or leave labels out.",
            boundaries=len(bounds),
            needed=len(bounds) + 1,
            given=len(names),
        )
    return names[bisect_right(bounds, minutes)]


@functools.lru_cache(maxsize=32)
def bucket_labels(boundaries: tuple[float, ...] = DEFAULT_BUCKETS) -> tuple[str, ...]:
    """Return every bucket's label in order: the columns of the processing-time report."""
    _check_boundaries(boundaries)
    amounts = [_amount(b) for b in boundaries]
    labels = [f"< {amounts[0][0]} {amounts[0][1]}"]
    for (low, low_unit), (high, high_unit) in zip(amounts, amounts[1:], strict=False):
        labels.append(
            f"{low} – {high} {high_unit}"
            if low_unit == high_unit
            else f"{low} {low_unit} – {high} {high_unit}"
        )
    labels.append(f"> {amounts[-1][0]} {amounts[-1][1]}")
    return tuple(labels)


def _check_boundaries(boundaries: tuple[float, ...]) -> None:
    if not boundaries:
        raise InvalidBucketsError("Bucket boundaries are empty; give at least one, e.g. (30, 60, 180).")
    for b in boundaries:
        if isinstance(b, bool) or not isinstance(b, int | float) or not math.isfinite(b) or b < 0:
            raise InvalidBucketsError(
                "Bucket boundary %(value)r is not a number of minutes >= 0; fix it.", value=b
            )
    if any(high <= low for low, high in zip(boundaries, boundaries[1:], strict=False)):
        raise InvalidBucketsError(
            "Bucket boundaries %(boundaries)s must increase strictly; sort them and drop repeats.",
            boundaries=list(boundaries),
        )


def _amount(minutes: float) -> tuple[str, str]:
    if minutes >= 60 and minutes % 60 == 0:
        return f"{minutes / 60:g}", "h"
    return f"{minutes:g}", "min"


class StageTime(NamedTuple):
    """Time a request spent in one status: working minutes (on the calendar) and wall minutes."""

    working_minutes: float
    wall_minutes: float


class StageTotals(Mapping[str, StageTime]):
    """Read-only totals per status, so a recorded history cannot be changed by accident.

    Build one from stored data (`StageTotals({"new": (12.0, 30.0)})`, or
    empty), update it with `record_status_change`, store `to_dict()`.
    """

    __slots__ = ("_times",)

    def __init__(self, times: Mapping[str, Iterable[float]] | None = None) -> None:
        self._times = {
            status: StageTime(*(float(x) for x in value)) for status, value in (times or {}).items()
        }

    def __getitem__(self, status: str) -> StageTime:
        return self._times[status]

    def __iter__(self) -> Iterator[str]:
        return iter(self._times)

    def __len__(self) -> int:
        return len(self._times)

    def __repr__(self) -> str:
        return f"StageTotals({self._times!r})"

    def to_dict(self) -> dict[str, list[float]]:
        """Return JSON-ready data: status -> [working_minutes, wall_minutes]."""
        return {status: list(time) for status, time in self._times.items()}


def record_status_change(
    totals: Mapping[str, Iterable[float]],
    previous_status: str,
    entered_at: datetime,
    changed_at: datetime,
    cal: Calendar,
) -> StageTotals:
    """Return new totals with the time spent in `previous_status` added, working and wall.

    Called on every status change, so "time in stage" reports are sums, not
    replays of the history. Naive times are taken in the calendar's zone;
    wall minutes are real elapsed time. A change stamped before its entry (a
    skewed clock) adds nothing rather than failing the status change.
    """
    working = working_time_between(entered_at, changed_at, cal) / _MINUTE
    wall = (_utc(changed_at, cal) - _utc(entered_at, cal)) / _MINUTE
    times = dict(StageTotals(totals))
    before = times.get(previous_status, StageTime(0.0, 0.0))
    times[previous_status] = StageTime(before.working_minutes + working, before.wall_minutes + max(0.0, wall))
    return StageTotals(times)


def working_minutes_left(now: datetime, due: datetime, cal: Calendar) -> float:
    """Return the working minutes until `due`, for "due in 3 working hours" displays.

    Negative when overdue: minus the working minutes since `due`. Zero can
    mean "due now" or "only off-hours remain before the deadline"; compare
    `now >= due` when the difference matters.
    """
    if to_calendar_zone(due, cal) >= to_calendar_zone(now, cal):
        return working_time_between(now, due, cal) / _MINUTE
    return -(working_time_between(due, now, cal) / _MINUTE)


def _utc(t: datetime, cal: Calendar) -> datetime:
    return to_calendar_zone(t, cal).astimezone(UTC)
