"""Shapes of drawn diagrams: numbers and points as SVG, BPMN icons and markers, edge paths.

Pure string building from geometry; engine/diagram.py lays the document out and calls these.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace

from engine.diagram_text import INK, PAPER, _LabelBox, _n


def _pts(points: Iterable[tuple[float, float]]) -> str:
    return " ".join(f"{_n(x)},{_n(y)}" for x, y in points)


def _polygon(points: Iterable[tuple[float, float]], attrs: str) -> str:
    return f'<polygon points="{_pts(points)}" {attrs}/>'


def _circle(cx: float, cy: float, r: float, attrs: str) -> str:
    return f'<circle cx="{_n(cx)}" cy="{_n(cy)}" r="{_n(max(r, 0.5))}" {attrs}/>'


def _line(x1: float, y1: float, x2: float, y2: float, attrs: str) -> str:
    return f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" {attrs}/>'


def _cross(cx: float, cy: float, length: float, half: float, angle: float) -> list[tuple[float, float]]:
    """A plus sign as one polygon (arms `length` from the centre), turned by `angle` degrees."""
    raw = [
        (-half, -length), (half, -length), (half, -half), (length, -half), (length, half),
        (half, half), (half, length), (-half, length), (-half, half), (-length, half),
        (-length, -half), (-half, -half),
    ]  # fmt: skip
    a = math.radians(angle)
    ca, sa = math.cos(a), math.sin(a)
    return [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in raw]


def _regular(cx: float, cy: float, r: float, corners: int, start: float = -90.0) -> list[tuple[float, float]]:
    return [
        (cx + r * math.cos(math.radians(start + i * 360 / corners)),
         cy + r * math.sin(math.radians(start + i * 360 / corners)))
        for i in range(corners)
    ]  # fmt: skip


def _scaled(
    cx: float, cy: float, u: float, points: Iterable[tuple[float, float]]
) -> list[tuple[float, float]]:
    return [(cx + x * u, cy + y * u) for x, y in points]


# --------------------------------------------------------------------------- icons

_STROKE = f'fill="none" stroke="{INK}"'
_DASHED = ' stroke-dasharray="4 3"'
_DASH_DOT = ' stroke-dasharray="10 6 0 6" stroke-linecap="round"'
_WHITE = f'fill="{PAPER}" stroke="{INK}"'
_SOLID = f'fill="{INK}" stroke="{INK}"'


def _envelope(cx: float, cy: float, w: float, h: float, filled: bool, width: float = 1.0) -> str:
    x, y = cx - w / 2, cy - h / 2
    body = _SOLID if filled else _WHITE
    flap = PAPER if filled else INK
    return (
        f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}" {body} stroke-width="{width}"/>'
        f'<polyline points="{_pts([(x, y), (cx, cy + h * 0.12), (x + w, y)])}" fill="none" '
        f'stroke="{flap}" stroke-width="{width}"/>'
    )


def _event_icon(kind: str, cx: float, cy: float, r: float, filled: bool) -> str:
    """Draw an event-definition icon centred in an event of radius r (bpmn-js shapes)."""
    u = r / 18
    fill = _SOLID if filled else _WHITE
    sw = f'stroke-width="{_n(1.2 * u + 0.3)}" stroke-linejoin="round"'
    if kind == "message":
        return _envelope(cx, cy, 20 * u, 14 * u, filled)
    if kind == "timer":
        rt = 0.6 * r
        ticks = "".join(
            _line(
                cx + rt * 0.78 * math.cos(a), cy + rt * 0.78 * math.sin(a),
                cx + rt * 0.95 * math.cos(a), cy + rt * 0.95 * math.sin(a),
                f'stroke="{INK}" stroke-width="1"',
            )
            for a in (math.radians(k * 30) for k in range(12))
        )  # fmt: skip
        hand_points = _pts([(cx, cy - rt * 0.7), (cx, cy), (cx + rt * 0.5, cy - rt * 0.25)])
        hands = f'<polyline points="{hand_points}" {_STROKE} stroke-width="{_n(1.5 * u)}"/>'
        return _circle(cx, cy, rt, f'{_WHITE} stroke-width="{_n(2 * u)}"') + ticks + hands
    if kind == "conditional":
        w, h = 14 * u, 17 * u
        x, y = cx - w / 2, cy - h / 2
        rows = "".join(
            _line(x + 2.5 * u, row, x + w - 2.5 * u, row, f'stroke="{INK}" stroke-width="1"')
            for row in (y + (3.2 + 2.7 * i) * u for i in range(5))
        )
        return (
            f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}" {_WHITE} stroke-width="1"/>'
            + rows
        )
    if kind == "link":
        pts = [(-9, -3), (2, -3), (2, -8), (9.5, 0), (2, 8), (2, 3), (-9, 3)]
        return _polygon(_scaled(cx, cy, u, pts), f"{fill} {sw}")
    if kind == "signal":
        return _polygon(_scaled(cx, cy, u, [(0, -10), (9, 6), (-9, 6)]), f"{fill} {sw}")
    if kind == "error":
        pts = [(-8.5, 9.5), (-3, -6.5), (2, 2), (8.5, -9.5), (4, 7), (-1, -1.5)]
        return _polygon(_scaled(cx, cy, u, pts), f"{fill} {sw}")
    if kind == "escalation":
        return _polygon(_scaled(cx, cy, u, [(0, -10), (7, 9), (0, 1.5), (-7, 9)]), f"{fill} {sw}")
    if kind == "compensate":
        left = _scaled(cx, cy, u, [(-9.5, 0), (-0.5, -6.5), (-0.5, 6.5)])
        right = _scaled(cx, cy, u, [(-0.5, 0), (8.5, -6.5), (8.5, 6.5)])
        return _polygon(left, f"{fill} {sw}") + _polygon(right, f"{fill} {sw}")
    if kind == "cancel":
        return _polygon(_cross(cx, cy, 9.5 * u, 2.2 * u, 45), f"{fill} {sw}")
    if kind == "terminate":
        return _circle(cx, cy, 0.58 * r, _SOLID)
    if kind == "multiple":
        return _polygon(_regular(cx, cy, 9.5 * u, 5), f"{fill} {sw}")
    if kind == "parallelMultiple":
        return _polygon(_cross(cx, cy, 9.5 * u, 2.6 * u, 0), f"{_WHITE} {sw}")
    return ""


def _gear(cx: float, cy: float, r: float) -> str:
    outer, inner, teeth = r, r * 0.7, 8
    pts: list[tuple[float, float]] = []
    for i in range(teeth):
        base = i * 360 / teeth
        for angle, radius in ((base - 16, inner), (base - 10, outer), (base + 10, outer), (base + 16, inner)):
            pts.append(
                (cx + radius * math.cos(math.radians(angle)), cy + radius * math.sin(math.radians(angle)))
            )
    return _polygon(pts, f'{_WHITE} stroke-width="1"') + _circle(
        cx, cy, r * 0.32, f'{_WHITE} stroke-width="1"'
    )


_HAIR = "M10.4 10.4c0-3.4 2-5.2 4.6-5.2s4.6 1.8 4.6 5.2c-1.4-1.8-3.6-1.6-4.6-3-1 1.4-3.2 1.2-4.6 3z"


def _task_icon(kind: str) -> str:
    """The type marker in a task's top-left corner, in task-local coordinates."""
    if kind == "userTask":
        return (
            f'<path d="M6.5 25.5v-3.5c0-4 3.6-6.2 8.5-6.2s8.5 2.2 8.5 6.2v3.5z" {_WHITE} stroke-width="1"/>'
            f'<path d="M11.5 17.2l3.5 4 3.5-4" {_STROKE} stroke-width="1"/>'
            + _circle(15, 10.5, 4.6, f'{_WHITE} stroke-width="1"')
            + f'<path d="{_HAIR}" {_SOLID} stroke-width="0.8"/>'
        )
    if kind == "serviceTask":
        return _gear(18.5, 18.5, 6.5) + _gear(12.5, 12.5, 8)
    if kind == "scriptTask":
        return (
            f'<path d="M9 6h12c-3 3-3 6 0 9s3 6 0 9H9c3-3 3-6 0-9s-3-6 0-9z" {_WHITE} stroke-width="1"/>'
            f'<path d="M10.5 10h7M11.5 14h7M12 18h7M11 22h7" {_STROKE} stroke-width="1"/>'
        )
    if kind == "sendTask":
        return _envelope(16, 14, 20, 14, True)
    if kind == "receiveTask":
        return _envelope(16, 14, 20, 14, False)
    if kind == "manualTask":
        return (
            f'<path d="M5 13.5c2-2.5 4.5-3.5 7.5-3.5h10c1.6 0 1.6 2.6 0 2.6h-7h9c1.6 0 1.6 2.6 0 2.6h-9'
            f'h8c1.6 0 1.6 2.6 0 2.6h-8h6.5c1.6 0 1.6 2.6 0 2.6h-12c-2.5 0-4-.8-5-1.6z" {_WHITE} '
            f'stroke-width="1" stroke-linejoin="round"/>'
        )
    if kind == "businessRuleTask":
        return (
            f'<rect x="7" y="8" width="19" height="13" {_WHITE} stroke-width="1"/>'
            f'<rect x="7" y="8" width="19" height="4" {_SOLID} stroke-width="1"/>'
            f'<path d="M7 16.5h19M12.5 12v9" {_STROKE} stroke-width="1"/>'
        )
    return ""


def _activity_markers(markers: list[str], w: float, h: float) -> str:
    """Bottom-centre markers (sub-process +, loop, multi-instance, compensation, ad hoc)."""
    if not markers:
        return ""
    size, gap = 14.0, 4.0
    total = len(markers) * size + (len(markers) - 1) * gap
    x = w / 2 - total / 2
    y = h - size - 4
    out = []
    stroke = f'fill="none" stroke="{INK}" stroke-width="1.5"'
    bar = f'stroke="{INK}" stroke-width="2"'
    for marker in markers:
        cx, cy = x + size / 2, y + size / 2
        if marker == "collapsed":
            out.append(
                f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(size)}" height="{_n(size)}" '
                f'{_WHITE} stroke-width="1"/>'
                + _line(cx, y + 3, cx, y + size - 3, f'stroke="{INK}" stroke-width="1.5"')
                + _line(x + 3, cy, x + size - 3, cy, f'stroke="{INK}" stroke-width="1.5"')
            )
        elif marker == "parallel":
            out.append(
                "".join(_line(x + 3 + 4 * i, y + 1, x + 3 + 4 * i, y + size - 1, bar) for i in range(3))
            )
        elif marker == "sequential":
            out.append(
                "".join(_line(x + 1, y + 3 + 4 * i, x + size - 1, y + 3 + 4 * i, bar) for i in range(3))
            )
        elif marker == "loop":
            # An arc open at the bottom left, arrowhead on its end following the tangent.
            r = size / 2 - 1.5
            start, end = math.radians(60), math.radians(140)
            sx, sy = cx + r * math.cos(start), cy + r * math.sin(start)
            ex, ey = cx + r * math.cos(end), cy + r * math.sin(end)
            tx, ty = math.sin(end), -math.cos(end)  # travelling towards smaller angles
            nx, ny = -ty, tx
            head = [(ex + tx * 4, ey + ty * 4), (ex + nx * 3, ey + ny * 3), (ex - nx * 3, ey - ny * 3)]
            out.append(
                f'<path d="M{_n(sx)} {_n(sy)}A{_n(r)} {_n(r)} 0 1 0 {_n(ex)} {_n(ey)}" {stroke}/>'
                + _polygon(head, f'fill="{INK}" stroke="{INK}" stroke-width="1"')
            )
        elif marker == "compensation":
            out.append(
                _polygon([(x, cy), (cx, y + 2), (cx, y + size - 2)], f'{_WHITE} stroke-width="1"')
                + _polygon(
                    [(cx, cy), (x + size, y + 2), (x + size, y + size - 2)], f'{_WHITE} stroke-width="1"'
                )
            )
        elif marker == "adhoc":
            out.append(f'<path d="M{_n(x)} {_n(cy + 1)}c2.5-5 5-5 7 -1s4.5 4 7-1" {stroke}/>')
        x += size + gap
    return "".join(out)


# --------------------------------------------------------------------------- edges


def _recolor(
    stroke: str | None, body: str, embedded: _LabelBox | None, external: _LabelBox | None
) -> tuple[str, _LabelBox | None, _LabelBox | None]:
    """Apply an analyst's stroke colour to markers and labels too, as bpmn-js does."""
    if not stroke:
        return body, embedded, external
    return (
        body.replace(INK, stroke),
        replace(embedded, color=stroke) if embedded else None,
        replace(external, color=stroke) if external else None,
    )


def _dedupe(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = [points[0]]
    for p in points[1:]:
        if abs(p[0] - out[-1][0]) > 1e-6 or abs(p[1] - out[-1][1]) > 1e-6:
            out.append(p)
    return out


def _rounded_path(points: list[tuple[float, float]], radius: float = 5.0) -> str:
    """A polyline with softly rounded bends, like bpmn-js draws connections."""
    pts = _dedupe(points)
    if len(pts) < 2:
        x, y = pts[0]
        return f"M{_n(x)} {_n(y)}L{_n(x)} {_n(y)}"
    parts = [f"M{_n(pts[0][0])} {_n(pts[0][1])}"]
    for i in range(1, len(pts) - 1):
        (ax, ay), (bx, by), (cx, cy) = pts[i - 1], pts[i], pts[i + 1]
        d1 = math.hypot(bx - ax, by - ay)
        d2 = math.hypot(cx - bx, cy - by)
        r = min(radius, d1 / 2, d2 / 2)
        if r < 0.5:
            parts.append(f"L{_n(bx)} {_n(by)}")
            continue
        p1 = (bx - (bx - ax) / d1 * r, by - (by - ay) / d1 * r)
        p2 = (bx + (cx - bx) / d2 * r, by + (cy - by) / d2 * r)
        parts.append(f"L{_n(p1[0])} {_n(p1[1])}Q{_n(bx)} {_n(by)} {_n(p2[0])} {_n(p2[1])}")
    parts.append(f"L{_n(pts[-1][0])} {_n(pts[-1][1])}")
    return "".join(parts)


def _direction(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Unit vector of the last non-empty segment, so arrowheads point the right way."""
    pts = _dedupe(points)
    if len(pts) < 2:
        return 1.0, 0.0
    (ax, ay), (bx, by) = pts[-2], pts[-1]
    d = math.hypot(bx - ax, by - ay)
    return (bx - ax) / d, (by - ay) / d


def _arrowhead(
    points: list[tuple[float, float]], length: float, half: float, attrs: str, closed: bool
) -> str:
    """An arrowhead whose tip is the last waypoint, pointing along the last segment."""
    ux, uy = _direction(points)
    tx, ty = points[-1]
    bx, by = tx - ux * length, ty - uy * length
    left = (bx - uy * half, by + ux * half)
    right = (bx + uy * half, by - ux * half)
    d = f"M{_n(left[0])} {_n(left[1])}L{_n(tx)} {_n(ty)}L{_n(right[0])} {_n(right[1])}"
    return f'<path d="{d}{"Z" if closed else ""}" {attrs}/>'


def _start_direction(points: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    pts = _dedupe(points)
    (ax, ay) = pts[0]
    (bx, by) = pts[1] if len(pts) > 1 else (ax + 1, ay)
    d = math.hypot(bx - ax, by - ay)
    return ax, ay, (bx - ax) / d, (by - ay) / d


def _default_marker(points: list[tuple[float, float]]) -> str:
    """The slash bpmn-js puts across a gateway's or activity's default flow near its source."""
    ax, ay, ux, uy = _start_direction(points)
    cx, cy = ax + ux * 10, ay + uy * 10
    # A slash tilted 60° off the line, 12 px long.
    a = math.radians(60)
    dx = ux * math.cos(a) - uy * math.sin(a)
    dy = ux * math.sin(a) + uy * math.cos(a)
    return _line(
        cx - dx * 6,
        cy - dy * 6,
        cx + dx * 6,
        cy + dy * 6,
        f'class="bpmn-arrow" stroke="{INK}" stroke-width="2"',
    )


def _condition_marker(points: list[tuple[float, float]], stroke: str) -> str:
    """The small diamond at the source of a conditional flow leaving an activity."""
    ax, ay, ux, uy = _start_direction(points)
    length, half = 16.0, 4.5
    nx, ny = -uy, ux
    pts = [
        (ax, ay),
        (ax + ux * length / 2 + nx * half, ay + uy * length / 2 + ny * half),
        (ax + ux * length, ay + uy * length),
        (ax + ux * length / 2 - nx * half, ay + uy * length / 2 - ny * half),
    ]
    return _polygon(pts, f'class="bpmn-arrow" fill="{PAPER}" stroke="{stroke}" stroke-width="1.5"')


def _midpoint(points: list[tuple[float, float]]) -> tuple[float, float]:
    """The point halfway along the polyline (by length), where unplaced flow labels go."""
    lengths = [math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in zip(points, points[1:], strict=False)]
    half = sum(lengths) / 2
    for (a, b), seg in zip(zip(points, points[1:], strict=False), lengths, strict=True):
        if seg >= half and seg > 0:
            t = half / seg
            return a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t
        half -= seg
    return points[0]
