"""Per-day report facts: what one request adds to the reports' daily counters, as pure values.

The reports page used to count 25,000 done requests and unnest each one's `stage_totals` on
every view. Instead every request contributes fixed amounts to a few (day, dimension, value)
counters -- opened on its creation day, closed with its SLA/pickup/processing figures on its
done day, per category, executor, channel and priority -- and the writer that changes a request
adds the difference between its old and new contribution in the same transaction
(desk/report_store.py). The reports then sum ~100-1,000 counter rows.

Days are calendar days in the desk's zone (the reports' date range is in that zone). Keys hold
'' where the request's value is None (a primary key cannot be NULL); `value_of` maps it back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, tzinfo
from typing import Any, NamedTuple

# The request columns a contribution depends on: a change to any other column changes no report.
FACT_FIELDS = (
    "created_at",
    "done_at",
    "category",
    "assignee",
    "channel",
    "priority",
    "processing_bucket",
    "processing_minutes",
    "pickup_minutes",
    "pickup_late",
    "sla_met",
    "stage_totals",
)
ALL = "all"
# Report group-by name -> the request column it groups on.
DIMENSIONS = {"category": "category", "executor": "assignee", "channel": "channel", "priority": "priority"}
MEASURES = (
    "opened",
    "closed",
    "minutes_count",
    "minutes_sum",
    "pickup_measured",
    "pickup_late",
    "pickup_on_time",
    "sla_measured",
    "sla_met",
)
STAGE_MEASURES = ("working_minutes", "wall_minutes", "requests")


class DayKey(NamedTuple):
    """One counter row of `report_day`: a day, a dimension ('all' or a group-by) and its value.

    `bucket` is the processing bucket of the closed requests counted there ('' on 'all' rows
    and for requests without one), so the histogram per group is a sum, not a scan.
    """

    day: date
    dimension: str
    value: str
    bucket: str


class StageKey(NamedTuple):
    """One counter row of `report_stage_day`: time in one status of requests done that day."""

    day: date
    status: str


Facts = dict[DayKey, list[float]]
StageFacts = dict[StageKey, list[float]]


def local_day(moment: datetime, zone: tzinfo) -> date:
    """The desk's calendar day of a stored moment (naive moments are UTC, as SQLite returns them)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).date()


def key_value(value: Any) -> str:
    return "" if value is None else str(value)


def value_of(stored: str) -> str | None:
    """The request's value from a key: '' stood for None."""
    return stored or None


def contribution(values: Mapping[str, Any] | None, zone: tzinfo) -> tuple[Facts, StageFacts]:
    """What one request (its FACT_FIELDS) adds to the counters; nothing for None (no request)."""
    facts: Facts = {}
    stages: StageFacts = {}
    accumulate(facts, stages, values, zone)
    return facts, stages


_WIDTH = len(MEASURES)


def _row(facts: Facts, key: DayKey) -> list[float]:
    acc = facts.get(key)
    if acc is None:
        acc = facts[key] = [0] * _WIDTH
    return acc


def accumulate(
    facts: Facts, stages: StageFacts, values: Mapping[str, Any] | None, zone: tzinfo, sign: int = 1
) -> None:
    """Add `sign` x one request's contribution into `facts`/`stages` in place (a batch, a rebuild,
    or -1 to take a request's old figures out). Positions follow MEASURES."""
    if values is None or values.get("created_at") is None:
        return
    _row(facts, DayKey(local_day(values["created_at"], zone), ALL, "", ""))[0] += sign  # opened
    done_at = values.get("done_at")
    if done_at is None:
        return
    day = local_day(done_at, zone)
    minutes = values.get("processing_minutes")
    pickup = values.get("pickup_minutes")
    late = values.get("pickup_late")
    sla_met = values.get("sla_met")
    overall = _row(facts, DayKey(day, ALL, "", ""))
    overall[1] += sign  # closed
    if pickup is not None:
        overall[4] += sign  # pickup_measured
        if late is True:
            overall[5] += sign  # pickup_late
        elif late is False:
            overall[6] += sign  # pickup_on_time
    if sla_met is not None:
        overall[7] += sign  # sla_measured
        if sla_met is True:
            overall[8] += sign  # sla_met
    bucket = key_value(values.get("processing_bucket"))
    for dimension, column in DIMENSIONS.items():
        acc = _row(facts, DayKey(day, dimension, key_value(values.get(column)), bucket))
        acc[1] += sign  # closed
        if minutes is not None:
            acc[2] += sign  # minutes_count
            acc[3] += sign * float(minutes)  # minutes_sum
    for status, times in (values.get("stage_totals") or {}).items():
        working, wall = _stage_time(times)
        key = StageKey(day, str(status))
        acc = stages.get(key)
        if acc is None:
            acc = stages[key] = [0.0, 0.0, 0]
        acc[0] += sign * working
        acc[1] += sign * wall
        acc[2] += sign


def _stage_time(times: Any) -> tuple[float, float]:
    """[working, wall] as stored in `stage_totals` (a dict form is read too)."""
    if isinstance(times, Mapping):
        return float(times.get("working_minutes") or 0.0), float(times.get("wall_minutes") or 0.0)
    working, wall = (list(times) + [0.0, 0.0])[:2]
    return float(working or 0.0), float(wall or 0.0)


def total(contributions: Iterable[tuple[Facts, StageFacts]]) -> tuple[Facts, StageFacts]:
    """The counters of many requests summed (a rebuild, a batch of imported rows)."""
    facts: Facts = {}
    stages: StageFacts = {}
    for f, s in contributions:
        _merge(facts, f, 1, len(MEASURES))
        _merge(stages, s, 1, len(STAGE_MEASURES))
    return facts, stages


def difference(old: tuple[Facts, StageFacts], new: tuple[Facts, StageFacts]) -> tuple[Facts, StageFacts]:
    """new - old, without the counters a change left alone (the common case: a status change of an
    open request changes no counter at all)."""
    facts: Facts = {}
    stages: StageFacts = {}
    _merge(facts, new[0], 1, len(MEASURES))
    _merge(facts, old[0], -1, len(MEASURES))
    _merge(stages, new[1], 1, len(STAGE_MEASURES))
    _merge(stages, old[1], -1, len(STAGE_MEASURES))
    return _nonzero(facts), _nonzero(stages)


def _merge(into: dict, part: Mapping, sign: int, width: int) -> None:
    for key, row in part.items():
        acc = into.setdefault(key, [0] * width)
        for i, amount in enumerate(row):
            acc[i] += sign * amount


def _nonzero(counters: dict) -> dict:
    return {k: v for k, v in counters.items() if any(v)}
