"""Desk domain benchmarks: business-calendar arithmetic, the classifier and decision tables.

Every SLA deadline, pickup KPI, report row and business-time timer calls the
calendar, so it must stay cheap over long spans (interval arithmetic, never
minute stepping). Run `.venv/bin/python bench/desk.py`; figures are printed,
never asserted. `calendar_figures()` is importable for other scripts.
"""

import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

# This script is bench/desk.py: put the project root first so `desk` is the package, not this file.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from desk.calendar import (  # noqa: E402
    Calendar,
    get_calendar,
    work_date_add,
    working_time_between,
)

SEED = 20261123
SAMPLES = 20_000
REPEATS = 3
MAX_SPAN_DAYS = 90
MSK = ZoneInfo("Europe/Moscow")


def calendar_figures(samples: int = SAMPLES, seed: int = SEED) -> dict[str, float]:
    """Measure warm ops/s of work_date_add and working_time_between on both default calendars.

    Starts are random moments of 2024-2026 (seconds included), spans and
    specs reach up to 90 calendar days; the same seeded inputs every run, so
    figures compare across commits. Also reports the cold cost of a first
    call on a calendar whose per-year tables are not built yet.
    """
    rng = random.Random(seed)
    figures: dict[str, float] = {}
    for name in ("support", "workdays"):
        cal = get_calendar(name)
        starts = [
            datetime(2024, 1, 1, tzinfo=MSK) + timedelta(seconds=rng.randrange(3 * 365 * 86400))
            for _ in range(samples)
        ]
        specs = [_random_spec(rng, cal) for _ in range(samples)]
        ends = [s + timedelta(seconds=rng.randrange(MAX_SPAN_DAYS * 86400)) for s in starts]
        figures[f"work_date_add {name} ops/s"] = _ops_per_second(
            work_date_add, [(s, spec, cal) for s, spec in zip(starts, specs, strict=True)]
        )
        figures[f"working_time_between {name} ops/s"] = _ops_per_second(
            working_time_between, [(s, e, cal) for s, e in zip(starts, ends, strict=True)]
        )
        cold = Calendar.from_dict({**cal.to_dict(), "name": f"{name}-cold"})
        began = time.perf_counter()
        working_time_between(datetime(2024, 1, 1, tzinfo=MSK), datetime(2026, 12, 31, tzinfo=MSK), cold)
        figures[f"first call {name}, 3 years cold (ms)"] = (time.perf_counter() - began) * 1000
    return figures


def _random_spec(rng: random.Random, cal: Calendar) -> str:
    """A spec of up to ~90 calendar days: days, hours, minutes or all three."""
    hours_per_day = sum(end - start for start, end in cal.intervals[0]) // 60
    max_hours = 62 * hours_per_day  # about 62 working days in 90 calendar days
    shape = rng.randrange(4)
    if shape == 0:
        return f"{rng.randrange(63)}d"
    if shape == 1:
        return f"{rng.randrange(max_hours + 1)}h"
    if shape == 2:
        return f"{rng.randrange(max_hours * 60 + 1)}m"
    return f"{rng.randrange(40)}d {rng.randrange(hours_per_day)}h {rng.randrange(60)}m"


def _ops_per_second(operation: Callable[..., object], calls: Sequence[tuple[object, ...]]) -> float:
    """Best of REPEATS timed passes over `calls`, after one pass that builds the per-year tables."""
    best = float("inf")
    for attempt in range(REPEATS + 1):
        began = time.perf_counter()
        for args in calls:
            operation(*args)
        if attempt:
            best = min(best, time.perf_counter() - began)
    return len(calls) / best


def _print_table(title: str, rows: Sequence[tuple[str, object]]) -> None:
    width = max((len(name) for name, _ in rows), default=0)
    print(title)
    for name, value in rows:
        print(f"  {name:<{width}}  {_shown(value):>12}")
    print()


def _shown(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.4g}"


def main() -> None:
    """Print calendar figures, then the classifier's and the decision tables' (bench/*_figures.py)."""
    _print_table("Business calendar (warm, random spans up to 90 days)", list(calendar_figures().items()))
    from bench.classify_figures import classifier_figures

    _print_table("Classifier", list(classifier_figures().items()))
    from bench.decision_figures import decision_figures

    _print_table("Decision table (engine.dmn, 2 inputs x 2 outputs)", list(decision_figures().items()))


if __name__ == "__main__":
    main()
