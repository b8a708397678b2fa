"""Management reports over closed requests: processing-time buckets, pickup KPI, SLA breaches, time in status.

Pure aggregation over rows the caller selected (live and imported history alike), so
the web view, CSV export and tests share one computation.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
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
