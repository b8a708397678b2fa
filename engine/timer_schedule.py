"""When a timer start event fires: pure functions over its timeDate, timeDuration or timeCycle.

Camunda 7 schedules a timer start event when the definition is deployed, not when an
instance runs, so these rules take the deploy moment (or the previous firing) and the
zone a cron or a zone-less date is read in, and return moments; no clock, no database.

Camunda 7.24 reads a `timeCycle` that does not start with "R" as a cron expression in
Spring 5.3 syntax (cron-utils' SPRING53: six fields, seconds first, `?`, `L`, `W`, `#`,
day-of-week 0-7 or MON-SUN, and the `@daily`-style macros). croniter evaluates it; the
few forms croniter cannot read (`THUL`, `L-3`) are refused at deploy rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from croniter import CroniterError, croniter
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

KINDS = ("timeDate", "timeDuration", "timeCycle")
UNBOUNDED = -1
_MACROS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
_ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


def server_zone() -> tzinfo:
    """The zone a cron or a zone-less date is read in: the server's, as Camunda uses the JVM's."""
    return datetime.now().astimezone().tzinfo


def is_cron(text: str) -> bool:
    """A timeCycle that is a cron expression rather than an ISO 8601 repetition (R…)."""
    return not text.strip().upper().startswith("R")


class TimerSpecError(ValueError):
    """A timer's date, duration or cycle cannot be read; the message says what form is expected."""


@dataclass(frozen=True)
class StartSchedule:
    """One timer start event's definition: `kind` is timeDate, timeDuration or timeCycle."""

    kind: str
    text: str

    @property
    def is_cron(self) -> bool:
        return self.kind == "timeCycle" and is_cron(self.text)

    def repeats(self) -> int:
        """How many instances the timer starts in all; UNBOUNDED (-1) for R/… and cron."""
        if self.kind != "timeCycle":
            return 1
        if self.is_cron:
            return UNBOUNDED
        count = self.text.split("/", 1)[0][1:]
        return int(count) if count else UNBOUNDED

    def first_due(self, deployed_at: datetime, zone: tzinfo) -> datetime:
        """The first firing after a deploy at `deployed_at` (a past timeDate fires at once)."""
        if self.kind == "timeDate":
            return parse_date(self.text, zone)
        if self.kind == "timeDuration":
            return add_duration(deployed_at, self.text)
        if self.is_cron:
            return cron_next(self.text, deployed_at, zone)
        start, period = _cycle_parts(self.text, zone)
        if start is None:
            return add_duration(deployed_at, period)
        due = start
        while due < deployed_at:  # a series that began before the deploy continues from now on
            due = add_duration(due, period)
        return due

    def next_due(self, previous: datetime, now: datetime, zone: tzinfo) -> datetime:
        """The firing after `previous`, skipping those missed while nothing ran (no burst of starts)."""
        if self.is_cron:
            return cron_next(self.text, max(previous, now), zone)
        _, period = _cycle_parts(self.text, zone)
        due = add_duration(previous, period)
        while due <= now:
            due = add_duration(due, period)
        return due


def check(kind: str, text: str, zone: tzinfo) -> StartSchedule:
    """The schedule for `text`, or TimerSpecError saying which form Camunda expects."""
    text = (text or "").strip()
    if kind not in KINDS:
        raise TimerSpecError(f"{kind} is not a timer definition; use one of {', '.join(KINDS)}")
    if not text:
        raise TimerSpecError(f"{kind} is empty")
    schedule = StartSchedule(kind, text)
    if kind == "timeDate":
        parse_date(text, zone)
    elif kind == "timeDuration":
        parse_duration(text)
    elif schedule.is_cron:
        check_cron(text)
    else:
        _cycle_parts(text, zone)
    return schedule


def parse_date(text: str, zone: tzinfo) -> datetime:
    """An ISO 8601 moment; without an offset it is read in `zone` (Camunda: the server's zone)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as err:
        raise TimerSpecError(
            f"{text!r} is not an ISO 8601 date and time; write it like 2026-12-07T10:00:00+03:00"
        ) from err
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def parse_duration(text: str) -> dict[str, float]:
    """An ISO 8601 duration (P1D, PT5M, P1Y2M) as SpiffWorkflow's parts."""
    if not _ISO_DURATION.match(text.strip().upper()):
        raise TimerSpecError(f"{text!r} is not an ISO 8601 duration; write it like PT5M, PT2H or P1D")
    return TimerEventDefinition.parse_iso_duration(text.strip().upper())


def add_duration(start: datetime, text: str) -> datetime:
    """`start` plus an ISO duration; months and years are calendar months and years."""
    return start + TimerEventDefinition.get_timedelta_from_start(parse_duration(text), start)


def parse_due(text: str, now: datetime) -> datetime:
    """An ISO 8601 date (UTC when it has no offset) or a duration after `now`; TimerSpecError
    names what is wrong with anything else."""
    try:
        if text.strip().upper().startswith("P"):
            return add_duration(now, text)
        return parse_date(text, UTC)
    except TimerSpecError:
        raise TimerSpecError(
            f"{text!r} is neither an ISO 8601 date (2026-12-07T10:00:00+03:00) nor a duration "
            "(PT5M, PT4H, P2D)"
        ) from None


def _cycle_parts(text: str, zone: tzinfo) -> tuple[datetime | None, str]:
    parts = text.strip().split("/")
    head = parts[0].upper()
    if not re.fullmatch(r"R\d*", head) or len(parts) not in (2, 3):
        raise TimerSpecError(
            f"{text!r} is neither an ISO 8601 repetition (R3/PT10M, R/2026-12-07T10:00:00+03:00/P1D) "
            "nor a cron expression (0 0/5 * * * ?)"
        )
    if len(parts) == 2:
        parse_duration(parts[1])
        return None, parts[1]
    if parts[1].upper().startswith("P"):
        raise TimerSpecError(
            f"{text!r} ends the repetition at a date, which this engine does not support; "
            "write the start instead: R/<start>/<period>"
        )
    parse_duration(parts[2])
    return parse_date(parts[1], zone), parts[2]


def check_cron(text: str) -> None:
    """Refuse what Camunda 7.24 (Spring 5.3 cron) would refuse, and what croniter cannot evaluate."""
    fields = text.split()
    if len(fields) == 1 and fields[0].lower() in _MACROS:
        return
    if len(fields) != 6:
        raise TimerSpecError(
            f"cron expression {text!r} has {len(fields)} fields; Camunda 7 expects six: "
            "second minute hour day-of-month month day-of-week, e.g. 0 0/5 * * * ? "
            "(a seventh year field is not accepted)"
        )
    if not croniter.is_valid(text, second_at_beginning=True):
        raise TimerSpecError(
            f"cron expression {text!r} cannot be read: check each field's range "
            "(seconds and minutes 0-59, hours 0-23, days 1-31, months 1-12 or JAN-DEC, "
            "weekdays 0-7 or MON-SUN, ? for 'any'); L-n and THUL forms are not supported"
        )


def cron_next(text: str, after: datetime, zone: tzinfo) -> datetime:
    """The first moment strictly after `after` that the cron expression names, read in `zone`."""
    check_cron(text)
    expression = text.strip()
    if expression.lower() in _MACROS:
        expression = {"@annually": "@yearly", "@midnight": "@daily"}.get(
            expression.lower(), expression.lower()
        )
    try:
        moment = croniter(expression, after.astimezone(zone), second_at_beginning=True).get_next(datetime)
    except (CroniterError, ValueError) as err:
        raise TimerSpecError(f"cron expression {text!r} names no future moment: {err}") from err
    return moment
