"""Management reports over closed requests: processing-time buckets, pickup KPI, SLA breaches, time in status.

Pure aggregation over rows the caller selected (live and imported history alike), so
the web view, CSV export and tests share one computation.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from desk.sla import DEFAULT_BUCKETS, bucket_labels


@dataclass
class ProcessingReport:
    """Counts of done requests per processing-time bucket, overall and per group (category, executor…)."""

    labels: tuple[str, ...]
    totals: Counter = field(default_factory=Counter)
    by_group: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    minutes: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(self.totals.values())

    @property
    def average_minutes(self) -> float | None:
        return sum(self.minutes) / len(self.minutes) if self.minutes else None


def processing_report(rows: Iterable[Any], group_by: str = "category") -> ProcessingReport:
    report = ProcessingReport(bucket_labels(DEFAULT_BUCKETS))
    for row in rows:
        if row.processing_bucket is None:
            continue
        report.totals[row.processing_bucket] += 1
        report.by_group[str(getattr(row, group_by) or "—")][row.processing_bucket] += 1
        report.minutes.append(row.processing_minutes or 0.0)
    return report


@dataclass
class PickupReport:
    total: int
    on_time: int
    late: list[Any]

    @property
    def share_on_time(self) -> float | None:
        return self.on_time / self.total if self.total else None


def pickup_report(rows: Iterable[Any]) -> PickupReport:
    measured = [r for r in rows if r.pickup_minutes is not None]
    late = sorted((r for r in measured if r.pickup_late), key=lambda r: -(r.pickup_overrun_minutes or 0))
    return PickupReport(len(measured), len(measured) - len(late), late)


def sla_breaches(rows: Iterable[Any]) -> list[Any]:
    return [r for r in rows if r.sla_met is False]


def time_in_status(rows: Iterable[Any]) -> dict[str, tuple[float, float]]:
    """Average working and wall minutes per status across requests that passed through it."""
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for row in rows:
        for status, (working, wall) in (row.stage_totals or {}).items():
            acc = sums[status]
            acc[0] += working
            acc[1] += wall
            acc[2] += 1
    return {s: (w / n, wall / n) for s, (w, wall, n) in sums.items() if n}


def bar_chart_svg(labels: tuple[str, ...], values: list[int], *, width: int = 640, height: int = 240) -> str:
    """A server-rendered bar chart (no JavaScript, no CDN), labels escaped."""
    from markupsafe import escape

    top = max(values) if values and max(values) > 0 else 1
    bar_w = width / max(len(values), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height + 40}" role="img" '
        f'class="chart" width="{width}" height="{height + 40}">'
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = (height - 20) * value / top
        x = i * bar_w + 8
        parts.append(
            f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{bar_w - 16:.1f}" height="{h:.1f}" '
            f'fill="#1f6feb"><title>{escape(label)}: {value}</title></rect>'
        )
        parts.append(
            f'<text x="{x + (bar_w - 16) / 2:.1f}" y="{height - h - 4:.1f}" text-anchor="middle" '
            f'font-size="12">{value}</text>'
        )
        parts.append(
            f'<text x="{x + (bar_w - 16) / 2:.1f}" y="{height + 16}" text-anchor="middle" '
            f'font-size="12">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


# ------------------------------------------------------------------ flow, backlog, shares, charts


STEPS = ("day", "week")


def period_start(day: date, step: str) -> date:
    """The first day of the period `day` falls in: itself for "day", that week's Monday for "week"."""
    return day - timedelta(days=day.weekday()) if step == "week" else day


@dataclass(frozen=True)
class FlowPoint:
    """One period of the desk's flow: requests opened, requests closed, and the backlog at its end."""

    start: date
    opened: int
    closed: int
    backlog: int


def flow(
    opened: Mapping[date, int],
    closed: Mapping[date, int],
    start: date,
    end: date,
    step: str,
    backlog_before: int,
) -> list[FlowPoint]:
    """Opened vs closed per period from `start` to `end` (inclusive), with the open backlog after each.

    `opened`/`closed` count requests per local day; `backlog_before` is how many were open
    when `start` began. A period without requests is a zero, not a gap, so the trend is honest.
    """
    if step not in STEPS:
        raise ValueError(f"step must be one of {', '.join(STEPS)}, not {step!r}")
    points: list[FlowPoint] = []
    backlog = backlog_before
    day = start
    while day <= end:
        first = period_start(day, step)
        o = c = 0
        while day <= end and period_start(day, step) == first:
            o += opened.get(day, 0)
            c += closed.get(day, 0)
            day += timedelta(days=1)
        backlog += o - c
        points.append(FlowPoint(first, o, c, backlog))
    return points


def share(part: int, total: int) -> float | None:
    """part/total as a fraction; None when there is nothing to measure (not 0 %, not 100 %)."""
    return part / total if total else None


@dataclass(frozen=True)
class GroupTime:
    """Average processing time of one group (a category, an executor, a channel) in working hours."""

    group: Any
    count: int
    hours: float


def _esc(text: Any) -> str:
    from markupsafe import escape

    return str(escape(str(text)))


PALETTE = ("#1f6feb", "#2e7d32", "#c62828", "#9a6700")


def line_chart_svg(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    width: int = 640,
    height: int = 220,
    percent: bool = False,
) -> str:
    """Lines over periods (opened, closed, backlog, a share in %), drawn on the server as inline SVG.

    Each point carries a <title> with its exact value, so the chart reads without JavaScript;
    the table under it has the same numbers.
    """
    left, bottom, top_pad = 40, 36, 12
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    values = [v for _, vs in series for v in vs if v is not None]
    top = 100.0 if percent else max(max(values, default=0), 1)
    n = max(len(labels), 1)
    suffix = "%" if percent else ""

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top_pad + plot_h - plot_h * v / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height + 22}" role="img" '
        f'class="chart line" width="{width}" height="{height + 22}">'
    ]
    for frac in (0, 0.5, 1):
        v = top * frac
        parts.append(
            f'<line x1="{left}" x2="{width - 10}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#d9dee4"/>'
            f'<text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11">'
            f"{v:.0f}{'%' if percent else ''}</text>"
        )
    every = max(1, -(-n // 8))
    for i, text in enumerate(labels):
        if i % every == 0 or i == n - 1:
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                f'font-size="11">{_esc(text)}</text>'
            )
    for k, (name, vs) in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        points = [(x(i), y(v)) for i, v in enumerate(vs) if v is not None]
        if points:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        for i, v in enumerate(vs):
            if v is not None:
                parts.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}">'
                    f"<title>{_esc(name)} · {_esc(labels[i])}: {v:.0f}{suffix}</title></circle>"
                )
        parts.append(
            f'<rect x="{left + 150 * k}" y="{height + 8}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{left + 150 * k + 14}" y="{height + 17}" font-size="12">{_esc(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart_svg(labels: Sequence[str], values: Sequence[float], unit: str, *, width: int = 640) -> str:
    """Horizontal bars, one per group (long category and people's names fit on the left)."""
    row, label_w = 22, 200
    height = row * max(len(values), 1) + 8
    top = max(max(values, default=0), 1e-9)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'class="chart hbar" width="{width}" height="{height}">'
    ]
    for i, (text, v) in enumerate(zip(labels, values, strict=True)):
        w = (width - label_w - 120) * v / top
        yy = 4 + i * row
        parts.append(
            f'<text x="{label_w - 6}" y="{yy + 14}" text-anchor="end" font-size="12">{_esc(text)}</text>'
            f'<rect x="{label_w}" y="{yy + 3}" width="{w:.1f}" height="{row - 8}" fill="#1f6feb">'
            f"<title>{_esc(text)}: {v:.1f} {_esc(unit)}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{yy + 14}" font-size="12">{v:.1f} {_esc(unit)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def per_period(
    daily: Mapping[date, Mapping[str, int]], start: date, end: date, step: str
) -> list[tuple[date, dict[str, int]]]:
    """Daily counters summed per period (day or week) from `start` to `end`, empty periods included."""
    if step not in STEPS:
        raise ValueError(f"step must be one of {', '.join(STEPS)}, not {step!r}")
    periods: dict[date, Counter] = {}
    day = start
    while day <= end:
        bucket = periods.setdefault(period_start(day, step), Counter())
        bucket.update(daily.get(day, {}))
        day += timedelta(days=1)
    return [(first, dict(counts)) for first, counts in periods.items()]


def percent(part: int, total: int) -> float | None:
    """A share in per cent for charts and tables; None when nothing was measured."""
    value = share(part, total)
    return None if value is None else 100 * value


@dataclass(frozen=True)
class ElementTime:
    """How long work waited at one diagram element: tasks counted and their average minutes there."""

    element_id: str
    count: int
    average_minutes: float


def element_times(rows: Iterable[tuple[str, Any, Any]], now: Any) -> dict[str, ElementTime]:
    """Average time per element from (element_id, created_at, completed_at or None) task rows.

    An open task counts until `now`: the heat map shows where instances wait today, not only
    where they waited in the past.
    """
    sums: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for element_id, created, completed in rows:
        acc = sums[element_id]
        acc[0] += 1
        acc[1] += max(((completed or now) - created).total_seconds() / 60, 0.0)
    return {e: ElementTime(e, int(n), total / n) for e, (n, total) in sums.items() if n}


def element_times_from_sums(rows: Iterable[tuple[str, int, float | None]]) -> dict[str, ElementTime]:
    """ElementTime per element from (element_id, tasks, total minutes) sums a database computed."""
    return {e: ElementTime(e, int(n), max(float(total or 0.0), 0.0) / n) for e, n, total in rows if n}


def heat(times: Mapping[str, ElementTime]) -> dict[str, float]:
    """Each element's average time as 0..1 of the slowest element's (the heat map's intensity)."""
    top = max((t.average_minutes for t in times.values()), default=0.0)
    return {e: (t.average_minutes / top if top else 0.0) for e, t in times.items()}
