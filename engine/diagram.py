"""BPMN DI -> self-contained SVG, with instance states and counts painted on top.

The web UI shows where an instance is (completed, active, failed elements) and, for a
definition, how many instances wait at each element, the way Camunda Cockpit does. It has
no JavaScript and no CDN, so the server draws the diagram itself from the BPMN DI: shape
bounds, edge waypoints and label bounds, in the visual language of bpmn.io / Camunda
Modeler so analysts recognise their own drawing.

Parsing and layout are cached per document (the bytes are the key), and everything that
does not depend on the instance is pre-rendered, so a page with a diagram only pays for
joining strings.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache

from lxml import etree

from engine.errors import EngineError
from engine.parser import UnsafeXmlError, load_xml

__all__ = ["STATES", "DiagramError", "render_svg"]

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BIOC_NS = "http://bpmn.io/schema/bpmn/biocolor/1.0"
OMG_COLOR_NS = "http://www.omg.org/spec/BPMN/non-normative/color/1.0"

STATES = ("completed", "active", "failed")
"""The element states the UI can highlight; anything else is a caller bug."""

INK = "#22242a"
PAPER = "#ffffff"
FONT = "Arial, sans-serif"
EMBEDDED_FONT = 12.0
EXTERNAL_FONT = 11.0
LINE_HEIGHT = 1.2
MARGIN = 24.0
EXTERNAL_LABEL_WIDTH = 90.0


class DiagramError(EngineError):
    """The document cannot be drawn: unparseable XML, no DI for the process, broken bounds."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"Cannot draw the diagram: {reason}")


# --------------------------------------------------------------------------- public API


def render_svg(
    bpmn_xml: bytes | str,
    *,
    process_id: str | None = None,
    states: Mapping[str, str] | None = None,
    counts: Mapping[str, int] | None = None,
    labels: Mapping[str, str] | None = None,
) -> str:
    """Return a standalone SVG of the process diagram with states and counts painted on.

    The UI embeds the result inline, so the markup is self-contained (styles included, no
    ids that could clash between two diagrams on one page). `states` maps element ids to
    one of STATES; `counts` puts a Cockpit-style pill on an element (zero draws nothing);
    `labels` replaces an element's displayed name (e.g. a translated one). Ids that the
    diagram does not show are ignored: an instance may know elements of called processes.
    """
    if isinstance(bpmn_xml, str):
        bpmn_xml = _XML_DECLARATION.sub("", bpmn_xml, count=1).encode("utf-8")
    states = states or {}
    for element_id, state in states.items():
        if state not in STATES:
            raise DiagramError(f"element {element_id!r} has state {state!r}; use one of {', '.join(STATES)}")
    counts = counts or {}
    for element_id, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise DiagramError(f"element {element_id!r} has count {count!r}; counts are whole numbers >= 0")
    model = _model(bytes(bpmn_xml), process_id)
    return model.render(states, counts, labels or {})


# --------------------------------------------------------------------------- text


_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SAFE_COLOR = re.compile(r"^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}|rgba?\([0-9.,%\s]{5,40}\))$")

# Arial advance widths (1/1000 em) for printable ASCII 32..126; labels are wrapped with
# these so the lines break close to where the browser would.
_ASCII_WIDTHS = (
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
)  # fmt: skip


def _esc(text: str) -> str:
    """Escape for both text and attribute values; drop characters XML 1.0 forbids."""
    text = _INVALID_XML_CHARS.sub("", text)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def _char_width(char: str) -> float:
    code = ord(char)
    if 32 <= code <= 126:
        return _ASCII_WIDTHS[code - 32] / 1000
    if unicodedata.east_asian_width(char) in ("W", "F"):
        return 1.0
    if unicodedata.combining(char):
        return 0.0
    if 0x400 <= code <= 0x4FF:  # Cyrillic: capitals are wide, lower case close to Latin
        return 0.68 if char.isupper() else 0.56
    return 0.6


def _text_width(text: str, size: float) -> float:
    return sum(_char_width(c) for c in text) * size


def _wrap(text: str, max_width: float, size: float) -> list[str]:
    """Break text into lines no wider than max_width, splitting over-long words too."""
    max_width = max(max_width, size)
    lines: list[str] = []
    for paragraph in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        current = ""
        for word in paragraph.split():
            candidate = f"{current} {word}" if current else word
            if _text_width(candidate, size) <= max_width:
                current = candidate
                continue
            if current:
                lines.append(current)
            current = ""
            while _text_width(word, size) > max_width and len(word) > 1:
                cut = 1
                while cut < len(word) and _text_width(word[: cut + 1], size) <= max_width:
                    cut += 1
                lines.append(word[:cut])
                word = word[cut:]
            current = word
        lines.append(current)
    while lines and not lines[-1]:
        lines.pop()
    return lines


@dataclass(frozen=True, slots=True)
class _LabelBox:
    """Where a label goes: a box, an alignment and a font size; `vertical` turns it 90°."""

    x: float
    y: float
    width: float
    height: float
    align: str  # "center-middle" | "center-top" | "left-top"
    size: float
    padding: float = 0.0
    vertical: bool = False
    color: str = INK

    def render(self, text: str) -> str:
        if not text.strip():
            return ""
        size = self.size
        line_height = size * LINE_HEIGHT
        if self.vertical:
            # Laid out horizontally in a box as long as the band, then turned to read bottom-up.
            box_w, box_h = self.height, self.width
        else:
            box_w, box_h = self.width, self.height
        lines = _wrap(text, box_w - 2 * self.padding, size)
        total = len(lines) * line_height
        if self.align == "center-middle":
            top = (box_h - total) / 2
        else:
            top = self.padding
        if self.align == "left-top":
            anchor, tx = "start", self.padding
        else:
            anchor, tx = "middle", box_w / 2
        spans = "".join(
            f'<tspan x="{_n(tx)}" y="{_n(top + i * line_height + size * 0.96)}">{_esc(line)}</tspan>'
            for i, line in enumerate(lines)
        )
        if self.vertical:
            transform = f"translate({_n(self.x)} {_n(self.y + self.height)}) rotate(-90)"
        else:
            transform = f"translate({_n(self.x)} {_n(self.y)})"
        return (
            f'<text class="bpmn-text" transform="{transform}" font-size="{_n(size)}" fill="{self.color}" '
            f'text-anchor="{anchor}">{spans}</text>'
        )


# --------------------------------------------------------------------------- geometry


def _n(value: float) -> str:
    """Compact number formatting: SVG size matters when a page shows many diagrams."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


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


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True, slots=True)
class _Item:
    """One drawable element, pre-rendered except for its state, count and label text."""

    element_id: str
    kind: str  # "shape" | "edge"
    bpmn_type: str
    name: str
    body: str
    x: float  # shapes: translate origin; edges: 0
    y: float
    bbox: tuple[float, float, float, float]
    embedded: _LabelBox | None
    external: _LabelBox | None
    embedded_svg: str
    external_svg: str


@dataclass(frozen=True, slots=True)
class _Model:
    """A laid-out diagram: items in paint order and the view box around them."""

    title: str
    diagram_id: str
    items: tuple[_Item, ...]
    view: tuple[float, float, float, float]

    def render(self, states: Mapping[str, str], counts: Mapping[str, int], labels: Mapping[str, str]) -> str:
        vx, vy, vw, vh = self.view
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="bpmn-diagram" '
            f'viewBox="{_n(vx)} {_n(vy)} {_n(vw)} {_n(vh)}" width="{_n(vw)}" height="{_n(vh)}" '
            f'role="img" aria-label="{_esc(self.title)}" data-diagram-id="{_esc(self.diagram_id)}" '
            f'font-family="{FONT}">',
            _STYLE,
        ]
        external: list[str] = []
        overlays: list[str] = []
        for item in self.items:
            eid = item.element_id
            state = states.get(eid)
            name = labels.get(eid, item.name)
            classes = f"bpmn-element bpmn-{item.kind} bpmn-{item.bpmn_type}"
            state_attr = ""
            if state:
                classes += f" bpmn-state-{state}"
                state_attr = f' data-state="{state}"'
            title = name.strip() or _human(item.bpmn_type)
            if state:
                title += f" ({state})"
            transform = f' transform="translate({_n(item.x)} {_n(item.y)})"' if item.kind == "shape" else ""
            if eid in labels:
                embedded = item.embedded.render(name) if item.embedded else ""
                ext = item.external.render(name) if item.external else ""
            else:
                embedded, ext = item.embedded_svg, item.external_svg
            out.append(
                f'<g class="{classes}" data-element-id="{_esc(eid)}"{state_attr}{transform}>'
                f"<title>{_esc(title)}</title>{item.body}{embedded}</g>"
            )
            if ext:
                external.append(f'<g class="bpmn-label" data-label-for="{_esc(eid)}">{ext}</g>')
            count = counts.get(eid)
            if count:
                overlays.append(_count_badge(eid, count, item.bbox))
            if state == "failed":
                overlays.append(_failed_badge(eid, item.bbox))
        if external:
            out.append('<g class="bpmn-labels">' + "".join(external) + "</g>")
        if overlays:
            out.append('<g class="bpmn-overlays">' + "".join(overlays) + "</g>")
        out.append("</svg>")
        return "".join(out)


_STYLE = (
    "<style>"
    ".bpmn-diagram .bpmn-text{font-family:" + FONT + "}"
    ".bpmn-diagram .bpmn-state-completed .bpmn-body{stroke:#2f8f46;fill:#e7f5ea}"
    ".bpmn-diagram .bpmn-edge.bpmn-state-completed .bpmn-body{fill:none}"
    ".bpmn-diagram .bpmn-state-completed .bpmn-arrow{stroke:#2f8f46}"
    ".bpmn-diagram .bpmn-state-completed .bpmn-arrow-solid{fill:#2f8f46}"
    ".bpmn-diagram .bpmn-state-active .bpmn-body{stroke:#1f6fd1;fill:#e6f0fc;stroke-width:4px}"
    ".bpmn-diagram .bpmn-edge.bpmn-state-active .bpmn-body{fill:none;stroke-width:3px}"
    ".bpmn-diagram .bpmn-state-active .bpmn-arrow{stroke:#1f6fd1}"
    ".bpmn-diagram .bpmn-state-active .bpmn-arrow-solid{fill:#1f6fd1}"
    ".bpmn-diagram .bpmn-state-failed .bpmn-body{stroke:#d0021b;fill:#fdeaea}"
    ".bpmn-diagram .bpmn-edge.bpmn-state-failed .bpmn-body{fill:none}"
    ".bpmn-diagram .bpmn-state-failed .bpmn-arrow{stroke:#d0021b}"
    ".bpmn-diagram .bpmn-state-failed .bpmn-arrow-solid{fill:#d0021b}"
    ".bpmn-diagram .bpmn-overlay text{font-family:" + FONT + ";font-weight:bold}"
    "</style>"
)


def _human(bpmn_type: str) -> str:
    """'userTask' -> 'User task', for titles of unnamed elements."""
    words = re.sub(r"(?<!^)([A-Z])", r" \1", bpmn_type).lower()
    return words[:1].upper() + words[1:] if words else "Element"


def _count_badge(element_id: str, count: int, bbox: tuple[float, float, float, float]) -> str:
    x, y, _w, h = bbox
    text = str(count)
    width = max(20.0, _text_width(text, 11) * 1.1 + 12)
    left, top = x - 8, y + h - 10
    return (
        f'<g class="bpmn-overlay bpmn-count" data-overlay-for="{_esc(element_id)}">'
        f"<title>{count}</title>"
        f'<rect x="{_n(left)}" y="{_n(top)}" width="{_n(width)}" height="18" rx="9" ry="9" '
        f'fill="#1f6fd1" stroke="{PAPER}" stroke-width="1.5"/>'
        f'<text x="{_n(left + width / 2)}" y="{_n(top + 13)}" font-size="11" text-anchor="middle" '
        f'fill="{PAPER}">{text}</text></g>'
    )


def _failed_badge(element_id: str, bbox: tuple[float, float, float, float]) -> str:
    x, y, w, _h = bbox
    cx, cy = x + w, y
    return (
        f'<g class="bpmn-overlay bpmn-badge-failed" data-overlay-for="{_esc(element_id)}">'
        f"<title>failed</title>"
        + _circle(cx, cy, 9, f'fill="#d0021b" stroke="{PAPER}" stroke-width="1.5"')
        + f'<text x="{_n(cx)}" y="{_n(cy + 4.5)}" font-size="13" text-anchor="middle" '
        f'fill="{PAPER}">!</text></g>'
    )


# --------------------------------------------------------------------------- building


def _local(node: etree._Element) -> str:
    tag = node.tag
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def _ns(node: etree._Element) -> str:
    tag = node.tag
    return tag[1:].partition("}")[0] if isinstance(tag, str) and tag.startswith("{") else ""


def _bool(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.strip().lower() in ("true", "1")


def _float(node: etree._Element, attr: str, what: str) -> float:
    raw = node.get(attr)
    try:
        value = float(raw) if raw is not None else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise DiagramError(f"{what} has {attr}={raw!r}; DI coordinates must be finite numbers")
    return value


_ACTIVITIES = {
    "task", "userTask", "serviceTask", "scriptTask", "sendTask", "receiveTask", "manualTask",
    "businessRuleTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
    "callChoreography", "choreographyTask", "subChoreography",
}  # fmt: skip
_CONTAINERS = {"subProcess", "transaction", "adHocSubProcess"}
_EVENTS = {
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "implicitThrowEvent",
}  # fmt: skip
_GATEWAYS = {
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "eventBasedGateway",
    "complexGateway",
    "gateway",
}
_DATA = {"dataObjectReference", "dataObject", "dataInput", "dataOutput", "dataStoreReference", "dataStore"}
_EVENT_KINDS = {
    "messageEventDefinition": "message", "timerEventDefinition": "timer",
    "conditionalEventDefinition": "conditional", "linkEventDefinition": "link",
    "signalEventDefinition": "signal", "errorEventDefinition": "error",
    "escalationEventDefinition": "escalation", "compensateEventDefinition": "compensate",
    "cancelEventDefinition": "cancel", "terminateEventDefinition": "terminate",
}  # fmt: skip


class _Document:
    """The parsed definitions with an id index; lives only while a model is built."""

    def __init__(self, root: etree._Element) -> None:
        self.root = root
        self.by_id: dict[str, etree._Element] = {}
        others: list[etree._Element] = []
        for node in root.iter():
            if not isinstance(node.tag, str) or not node.get("id"):
                continue
            if _ns(node) == BPMN_NS:
                self.by_id.setdefault(node.get("id"), node)
            else:
                others.append(node)
        # Vendor extensions may reuse an id; the BPMN element wins.
        for node in others:
            self.by_id.setdefault(node.get("id"), node)

    def get(self, ref: str | None) -> etree._Element | None:
        if not ref:
            return None
        node = self.by_id.get(ref)
        if node is None and ":" in ref:
            node = self.by_id.get(ref.rpartition(":")[2])
        return node

    def name(self, node: etree._Element | None) -> str:
        if node is None:
            return ""
        kind = _local(node)
        if kind == "textAnnotation":
            text = next((c for c in node if _local(c) == "text"), None)
            return (text.text or "") if text is not None else ""
        if kind == "group":
            value = self.get(node.get("categoryValueRef"))
            return (value.get("value") or "") if value is not None else (node.get("name") or "")
        return node.get("name") or ""

    def event_kinds(self, node: etree._Element) -> list[str]:
        kinds = [_EVENT_KINDS[_local(c)] for c in node if _local(c) in _EVENT_KINDS]
        for child in node:
            if _local(child) == "eventDefinitionRef":
                ref = self.get((child.text or "").strip())
                if ref is not None and _local(ref) in _EVENT_KINDS:
                    kinds.append(_EVENT_KINDS[_local(ref)])
        return kinds


def _parse(content: bytes) -> etree._Element:
    try:
        tree = load_xml(content, "BPMN document")
    except UnsafeXmlError as err:
        raise DiagramError(str(err)) from err
    except etree.XMLSyntaxError as err:
        raise DiagramError(f"the XML is not well-formed: {err}") from err
    root = tree.getroot()
    if _local(root) != "definitions":
        raise DiagramError(f"the root element is <{_local(root)}>, not a BPMN <definitions>")
    return root


def _choose_plane(doc: _Document, process_id: str | None) -> tuple[etree._Element, etree._Element]:
    """Pick the diagram to draw: the plane of the process, of its collaboration, or the main one."""
    diagrams = [d for d in doc.root.iter() if _local(d) == "BPMNDiagram"]
    planes = [(d, p) for d in diagrams for p in d if _local(p) == "BPMNPlane"]
    if not planes:
        raise DiagramError("the document has no BPMNDiagram (no layout); open and save it in Camunda Modeler")

    def has_shapes(plane: etree._Element) -> bool:
        return any(_local(c) in ("BPMNShape", "BPMNEdge") for c in plane)

    def is_top_level(plane: etree._Element) -> bool:
        target = doc.get(plane.get("bpmnElement"))
        return target is not None and _local(target) in ("process", "collaboration")

    if process_id is None:
        main = [pair for pair in planes if has_shapes(pair[1]) and is_top_level(pair[1])]
        drawn = [pair for pair in planes if has_shapes(pair[1])]
        return (main or drawn or planes)[0]
    exact = [pair for pair in planes if pair[1].get("bpmnElement") == process_id]
    for pair in exact:
        if has_shapes(pair[1]):
            return pair
    participants = {
        p.get("id")
        for p in doc.root.iter()
        if _local(p) == "participant" and p.get("processRef") == process_id
    }
    for pair in planes:
        target = doc.get(pair[1].get("bpmnElement"))
        if target is not None and _local(target) == "collaboration":
            if any(_local(p) == "participant" and p.get("id") in participants for p in target):
                return pair
    for pair in planes:
        if any(_local(c) == "BPMNShape" and c.get("bpmnElement") in participants for c in pair[1]):
            return pair
    if exact:
        raise DiagramError(f"the diagram of {process_id!r} is empty; nothing has been drawn inside it")
    known = sorted(p.get("id") or "" for p in doc.root.iter() if _local(p) == "process" and _ns(p) == BPMN_NS)
    if process_id not in known:
        raise DiagramError(
            f"the document has no process {process_id!r} (processes: {', '.join(known) or 'none'})"
        )
    raise DiagramError(
        f"no BPMNDiagram shows process {process_id!r}; draw it in Camunda Modeler and save again"
    )


def _bounds(node: etree._Element, what: str) -> tuple[float, float, float, float] | None:
    for child in node:
        if _local(child) == "Bounds":
            x, y = _float(child, "x", what), _float(child, "y", what)
            w, h = _float(child, "width", what), _float(child, "height", what)
            if w < 0 or h < 0:
                raise DiagramError(f"{what} has a negative size ({w} x {h})")
            return x, y, w, h
    return None


def _label_bounds(di: etree._Element, what: str) -> tuple[float, float, float, float] | None:
    for child in di:
        if _local(child) == "BPMNLabel":
            return _bounds(child, f"the label of {what}")
    return None


def _colors(di: etree._Element) -> tuple[str | None, str | None]:
    """bpmn.io / OMG colour extensions an analyst set in the modeler (stroke, fill)."""
    stroke = di.get(f"{{{BIOC_NS}}}stroke") or di.get(f"{{{OMG_COLOR_NS}}}border-color")
    fill = di.get(f"{{{BIOC_NS}}}fill") or di.get(f"{{{OMG_COLOR_NS}}}background-color")
    ok = _SAFE_COLOR.match
    return (stroke if stroke and ok(stroke) else None, fill if fill and ok(fill) else None)


def _body_attrs(
    stroke_width: float, colors: tuple[str | None, str | None], fill: str = PAPER, extra: str = ""
) -> str:
    stroke = colors[0] or INK
    fill = colors[1] or fill
    return f'class="bpmn-body" fill="{fill}" stroke="{stroke}" stroke-width="{_n(stroke_width)}"{extra}'


class _Builder:
    """Turns the chosen plane's DI into pre-rendered items in paint order."""

    def __init__(self, doc: _Document, plane: etree._Element) -> None:
        self.doc = doc
        self.plane = plane
        self.referenced = {c.get("bpmnElement") for c in plane if _local(c) == "BPMNShape"}
        self.layers: dict[int, list[tuple[int, _Item]]] = {}
        self.extent: list[tuple[float, float, float, float]] = []

    def add(self, layer: int, order: int, item: _Item) -> None:
        self.layers.setdefault(layer, []).append((order, item))

    def build(self, title: str, diagram_id: str) -> _Model:
        for index, di in enumerate(self.plane):
            kind = _local(di)
            if kind == "BPMNShape":
                self.shape(index, di)
            elif kind == "BPMNEdge":
                self.edge(index, di)
        items = tuple(
            item
            for layer in sorted(self.layers)
            for _, item in sorted(self.layers[layer], key=lambda p: p[0])
        )
        if self.extent:
            x0 = min(b[0] for b in self.extent)
            y0 = min(b[1] for b in self.extent)
            x1 = max(b[0] + b[2] for b in self.extent)
            y1 = max(b[1] + b[3] for b in self.extent)
        else:
            x0 = y0 = 0.0
            x1 = y1 = 100.0
        view = (x0 - MARGIN, y0 - MARGIN, x1 - x0 + 2 * MARGIN, y1 - y0 + 2 * MARGIN)
        return _Model(title=title, diagram_id=diagram_id, items=items, view=view)

    # ---- shapes

    def shape(self, index: int, di: etree._Element) -> None:
        ref = di.get("bpmnElement")
        what = f"BPMNShape {di.get('id') or ref!r}"
        bounds = _bounds(di, what)
        if bounds is None:
            raise DiagramError(f"{what} has no dc:Bounds; every shape needs a position and size")
        node = self.doc.get(ref)
        bpmn_type = _local(node) if node is not None else "unknown"
        x, y, w, h = bounds
        self.extent.append(bounds)
        colors = _colors(di)
        name = self.doc.name(node)
        label_bounds = _label_bounds(di, what)
        embedded: _LabelBox | None = None
        external: _LabelBox | None = None
        layer = 30
        if node is None:
            body = f'<rect width="{_n(w)}" height="{_n(h)}" rx="4" {_body_attrs(1, colors, extra=_DASHED)}/>'
            name = ref or ""
            embedded = _LabelBox(0, 0, w, h, "center-middle", EMBEDDED_FONT, 5)
        elif bpmn_type == "participant":
            layer = 0
            body, embedded = self.participant(node, di, w, h, colors)
        elif bpmn_type == "lane":
            layer = 10 + min(self.depth(node, ("lane",)), 9)
            body = f'<rect width="{_n(w)}" height="{_n(h)}" {_body_attrs(1.5, colors, fill="none")}/>'
            horizontal = _bool(di.get("isHorizontal"), w >= h)
            embedded = (
                _LabelBox(0, 0, 30, h, "center-middle", EMBEDDED_FONT, 2, vertical=True)
                if horizontal
                else _LabelBox(0, 0, w, 30, "center-middle", EMBEDDED_FONT, 2)
            )
        elif bpmn_type in _ACTIVITIES:
            expanded = self.is_expanded(node, di, bpmn_type)
            if expanded:
                layer = 20 + min(self.depth(node, tuple(_CONTAINERS)), 9)
            body, embedded = self.activity(node, bpmn_type, w, h, expanded, colors)
        elif bpmn_type in _EVENTS:
            if bpmn_type == "boundaryEvent":
                layer = 50
            body = self.event(node, bpmn_type, w, h, colors)
            external = self.external_label(bounds, label_bounds)
        elif bpmn_type in _GATEWAYS:
            body = self.gateway(node, bpmn_type, di, w, h, colors)
            external = self.external_label(bounds, label_bounds)
        elif bpmn_type in _DATA:
            body = self.data(node, bpmn_type, w, h, colors)
            external = self.external_label(bounds, label_bounds)
        elif bpmn_type == "textAnnotation":
            layer = 60
            stroke = colors[0] or INK
            body = (
                f'<rect width="{_n(w)}" height="{_n(h)}" class="bpmn-body" fill="none" stroke="none"/>'
                f'<path d="M15 0H0V{_n(h)}H15" fill="none" stroke="{stroke}" stroke-width="2"/>'
            )
            embedded = _LabelBox(0, 0, w, h, "left-top", EMBEDDED_FONT, 7)
        elif bpmn_type == "group":
            layer = 60
            body = (
                f'<rect width="{_n(w)}" height="{_n(h)}" rx="10" ry="10" '
                f"{_body_attrs(2, colors, fill='none', extra=_DASH_DOT)}/>"
            )
            if label_bounds:
                external = self.external_label(bounds, label_bounds)
            else:
                external = _LabelBox(x, y + 5, w, 30, "center-top", EXTERNAL_FONT)
        elif bpmn_type in ("conversation", "callConversation", "subConversation"):
            pts = [(w * 0.25, 0), (w * 0.75, 0), (w, h / 2), (w * 0.75, h), (w * 0.25, h), (0, h / 2)]
            body = _polygon(pts, _body_attrs(5 if bpmn_type == "callConversation" else 2, colors))
            external = self.external_label(bounds, label_bounds)
        elif bpmn_type == "message":
            body = (
                f'<rect width="{_n(w)}" height="{_n(h)}" {_body_attrs(1.5, colors)}/>'
                f'<polyline points="{_pts([(0, 0), (w / 2, h * 0.55), (w, 0)])}" '
                f'fill="none" stroke="{INK}" stroke-width="1.5"/>'
            )
            external = self.external_label(bounds, label_bounds)
        else:
            body = f'<rect width="{_n(w)}" height="{_n(h)}" rx="4" {_body_attrs(1, colors, extra=_DASHED)}/>'
            embedded = _LabelBox(0, 0, w, h, "center-middle", EMBEDDED_FONT, 5)
        if external is not None:
            lines = _wrap(name, external.width, external.size) if name.strip() else []
            if lines:
                self.extent.append(
                    (external.x, external.y, external.width, len(lines) * external.size * LINE_HEIGHT)
                )
        body, embedded, external = _recolor(colors[0], body, embedded, external)
        item = _Item(
            element_id=ref or di.get("id") or f"shape-{index}",
            kind="shape",
            bpmn_type=bpmn_type,
            name=name,
            body=body,
            x=x,
            y=y,
            bbox=bounds,
            embedded=embedded,
            external=external,
            embedded_svg=embedded.render(name) if embedded else "",
            external_svg=external.render(name) if external else "",
        )
        self.add(layer, index, item)

    def depth(self, node: etree._Element, kinds: tuple[str, ...]) -> int:
        return sum(1 for a in node.iterancestors() if _local(a) in kinds)

    def is_expanded(self, node: etree._Element, di: etree._Element, bpmn_type: str) -> bool:
        if bpmn_type not in _CONTAINERS and bpmn_type not in ("callActivity", "subChoreography"):
            return False
        flag = di.get("isExpanded")
        if flag is not None:
            return _bool(flag, False)
        if bpmn_type == "callActivity":
            return False
        return any(child.get("id") in self.referenced for child in node)

    def participant(
        self,
        node: etree._Element,
        di: etree._Element,
        w: float,
        h: float,
        colors: tuple[str | None, str | None],
    ) -> tuple[str, _LabelBox]:
        body = f'<rect width="{_n(w)}" height="{_n(h)}" {_body_attrs(2, colors)}/>'
        black_box = not node.get("processRef") or di.get("isExpanded") == "false"
        if black_box:
            return body, _LabelBox(0, 0, w, h, "center-middle", EMBEDDED_FONT, 5)
        if _bool(di.get("isHorizontal"), w >= h):
            body += _line(30, 0, 30, h, f'stroke="{colors[0] or INK}" stroke-width="1.5"')
            return body, _LabelBox(0, 0, 30, h, "center-middle", EMBEDDED_FONT, 5, vertical=True)
        body += _line(0, 30, w, 30, f'stroke="{colors[0] or INK}" stroke-width="1.5"')
        return body, _LabelBox(0, 0, w, 30, "center-middle", EMBEDDED_FONT, 5)

    def activity(
        self,
        node: etree._Element,
        bpmn_type: str,
        w: float,
        h: float,
        expanded: bool,
        colors: tuple[str | None, str | None],
    ) -> tuple[str, _LabelBox]:
        stroke_width = 5.0 if bpmn_type == "callActivity" else 2.0
        extra = ""
        if bpmn_type == "subProcess" and _bool(node.get("triggeredByEvent"), False):
            # bpmn-js draws event sub-processes with a row of round dots.
            stroke_width = 2.5
            extra = ' stroke-dasharray="0 5.5" stroke-linecap="round"'
        attrs = _body_attrs(stroke_width, colors, extra=extra)
        body = f'<rect width="{_n(w)}" height="{_n(h)}" rx="10" ry="10" {attrs}/>'
        if bpmn_type == "transaction":
            body += (
                f'<rect x="3" y="3" width="{_n(max(w - 6, 0))}" height="{_n(max(h - 6, 0))}" rx="8" ry="8" '
                f'fill="none" stroke="{colors[0] or INK}" stroke-width="1.5"/>'
            )
        body += _task_icon(bpmn_type)
        markers: list[str] = []
        if _bool(node.get("isForCompensation"), False):
            markers.append("compensation")
        for child in node:
            kind = _local(child)
            if kind == "multiInstanceLoopCharacteristics":
                markers.append("sequential" if _bool(child.get("isSequential"), False) else "parallel")
            elif kind == "standardLoopCharacteristics":
                markers.append("loop")
        if bpmn_type == "adHocSubProcess":
            markers.append("adhoc")
        if not expanded and bpmn_type in ("subProcess", "transaction", "adHocSubProcess", "callActivity"):
            markers.insert(len(markers) // 2 if len(markers) > 1 else len(markers), "collapsed")
        body += _activity_markers(markers, w, h)
        if expanded:
            label = _LabelBox(0, 0, w, h, "center-top", EMBEDDED_FONT, 5)
        else:
            bottom = 18.0 if markers else 0.0
            has_icon = bpmn_type in ("userTask", "serviceTask", "scriptTask", "sendTask", "receiveTask",
                                     "manualTask", "businessRuleTask")  # fmt: skip
            label = _LabelBox(
                0, 0, w, max(h - bottom, 10), "center-middle", EMBEDDED_FONT, 5 if not has_icon else 6
            )
        return body, label

    def event(
        self, node: etree._Element, bpmn_type: str, w: float, h: float, colors: tuple[str | None, str | None]
    ) -> str:
        r = min(w, h) / 2
        cx, cy = w / 2, h / 2
        dashed = ""
        if (bpmn_type == "boundaryEvent" and not _bool(node.get("cancelActivity"), True)) or (
            bpmn_type == "startEvent" and not _bool(node.get("isInterrupting"), True)
        ):
            dashed = ' stroke-dasharray="5.5 2.5"'
        if bpmn_type == "startEvent":
            body = _circle(cx, cy, r, _body_attrs(2, colors, extra=dashed))
        elif bpmn_type == "endEvent":
            body = _circle(cx, cy, r, _body_attrs(4, colors))
        else:
            body = _circle(cx, cy, r, _body_attrs(1.5, colors, extra=dashed)) + _circle(
                cx, cy, r - 3, f'fill="none" stroke="{colors[0] or INK}" stroke-width="1.5"{dashed}'
            )
        kinds = self.doc.event_kinds(node)
        if len(kinds) > 1:
            kind = "parallelMultiple" if _bool(node.get("parallelMultiple"), False) else "multiple"
        else:
            kind = kinds[0] if kinds else ""
        filled = bpmn_type in ("endEvent", "intermediateThrowEvent", "implicitThrowEvent")
        return body + _event_icon(kind, cx, cy, r, filled)

    def gateway(
        self, node: etree._Element, bpmn_type: str, di: etree._Element, w: float, h: float,
        colors: tuple[str | None, str | None],
    ) -> str:  # fmt: skip
        cx, cy = w / 2, h / 2
        body = _polygon([(cx, 0), (w, cy), (cx, h), (0, cy)], _body_attrs(2, colors))
        s = min(w, h)
        solid = f'fill="{INK}" stroke="{INK}" stroke-width="1"'
        if bpmn_type == "exclusiveGateway" and _bool(di.get("isMarkerVisible"), False):
            body += _polygon(_cross(cx, cy, s * 0.25, s * 0.045, 45), solid)
        elif bpmn_type == "parallelGateway":
            body += _polygon(_cross(cx, cy, s * 0.3, s * 0.05, 0), solid)
        elif bpmn_type == "inclusiveGateway":
            body += _circle(cx, cy, s * 0.24, f'fill="none" stroke="{INK}" stroke-width="{_n(s * 0.05)}"')
        elif bpmn_type == "complexGateway":
            body += _polygon(_cross(cx, cy, s * 0.3, s * 0.045, 0), solid)
            body += _polygon(_cross(cx, cy, s * 0.3, s * 0.045, 45), solid)
        elif bpmn_type == "eventBasedGateway":
            ring = f'fill="none" stroke="{INK}" stroke-width="1"'
            body += _circle(cx, cy, s * 0.3, ring)
            if not _bool(node.get("instantiate"), False):
                body += _circle(cx, cy, s * 0.25, ring)
            if node.get("eventGatewayType") == "Parallel":
                body += _polygon(_cross(cx, cy, s * 0.16, s * 0.045, 0), f'{_WHITE} stroke-width="1"')
            else:
                body += _polygon(_regular(cx, cy, s * 0.15, 5), f'{_WHITE} stroke-width="1.5"')
        return body

    def data(
        self, node: etree._Element, bpmn_type: str, w: float, h: float, colors: tuple[str | None, str | None]
    ) -> str:
        if bpmn_type in ("dataStoreReference", "dataStore"):
            rx, ry = w / 2, min(h * 0.12, 8.0)
            outline = (
                f"M0 {_n(ry)}A{_n(rx)} {_n(ry)} 0 0 1 {_n(w)} {_n(ry)}V{_n(h - ry)}"
                f"A{_n(rx)} {_n(ry)} 0 0 1 0 {_n(h - ry)}Z"
            )
            rims = "".join(
                f"M0 {_n(ry + off)}A{_n(rx)} {_n(ry)} 0 0 0 {_n(w)} {_n(ry + off)}" for off in (0, 4, 8)
            )
            return (
                f'<path d="{outline}" {_body_attrs(2, colors)}/>'
                f'<path d="{rims}" fill="none" stroke="{colors[0] or INK}" stroke-width="2"/>'
            )
        fold = min(w, h) * 0.3
        outline = f"M0 0H{_n(w - fold)}L{_n(w)} {_n(fold)}V{_n(h)}H0Z"
        body = (
            f'<path d="{outline}" {_body_attrs(1.5, colors)} stroke-linejoin="round"/>'
            f'<path d="M{_n(w - fold)} 0V{_n(fold)}H{_n(w)}" fill="none" '
            f'stroke="{colors[0] or INK}" stroke-width="1.5"/>'
        )
        target = node
        if bpmn_type == "dataObjectReference":
            referenced = self.doc.get(node.get("dataObjectRef"))
            target = node if referenced is None else referenced
        if _bool(target.get("isCollection"), False):
            body += "".join(
                _line(w / 2 - 4 + 4 * i, h - 12, w / 2 - 4 + 4 * i, h - 3, f'stroke="{INK}" stroke-width="2"')
                for i in range(3)
            )
        if bpmn_type in ("dataInput", "dataOutput"):
            arrow = [(4, 7), (10, 7), (10, 4), (15, 9.5), (10, 15), (10, 12), (4, 12)]
            body += _polygon(arrow, _SOLID if bpmn_type == "dataOutput" else f'{_WHITE} stroke-width="1"')
        return body

    def external_label(
        self, bounds: tuple[float, float, float, float], label: tuple[float, float, float, float] | None
    ) -> _LabelBox:
        """bpmn-js wraps external labels at 90 px and centres them on the DI label position."""
        if label is not None and label[2] > 1:
            lx, ly, lw, _lh = label
            width = max(lw, EXTERNAL_LABEL_WIDTH)
            return _LabelBox(lx + lw / 2 - width / 2, ly, width, 0, "center-top", EXTERNAL_FONT)
        x, y, w, h = bounds
        return _LabelBox(
            x + w / 2 - EXTERNAL_LABEL_WIDTH / 2,
            y + h + 5,
            EXTERNAL_LABEL_WIDTH,
            0,
            "center-top",
            EXTERNAL_FONT,
        )

    # ---- edges

    def edge(self, index: int, di: etree._Element) -> None:
        ref = di.get("bpmnElement")
        what = f"BPMNEdge {di.get('id') or ref!r}"
        points = [(_float(p, "x", what), _float(p, "y", what)) for p in di if _local(p) == "waypoint"]
        if len(points) < 2:
            raise DiagramError(f"{what} has {len(points)} waypoint(s); an edge needs at least two")
        node = self.doc.get(ref)
        bpmn_type = _local(node) if node is not None else "unknown"
        colors = _colors(di)
        stroke = colors[0] or INK
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        bbox = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
        self.extent.append(bbox)
        d = _rounded_path(points)
        line_attrs = (
            f'class="bpmn-body bpmn-edge-line" d="{d}" fill="none" stroke="{stroke}" stroke-linejoin="round"'
        )
        body = ""
        if bpmn_type == "sequenceFlow":
            body = f'<path {line_attrs} stroke-width="2"/>'
            solid = f'class="bpmn-arrow bpmn-arrow-solid" fill="{stroke}" stroke="{stroke}" stroke-width="1"'
            body += _arrowhead(points, 10, 5, solid, closed=True)
            source = self.doc.get(node.get("sourceRef")) if node is not None else None
            source_type = _local(source) if source is not None else ""
            if source is not None and source.get("default") == ref:
                body += _default_marker(points)
            elif (
                node is not None
                and any(_local(c) == "conditionExpression" for c in node)
                and source_type in _ACTIVITIES
            ):
                body += _condition_marker(points, stroke)
        elif bpmn_type == "messageFlow":
            body = f'<path {line_attrs} stroke-width="1.5" stroke-dasharray="10 11"/>'
            start = points[0]
            hollow = f'class="bpmn-arrow" fill="{PAPER}" stroke="{stroke}" stroke-width="1.5"'
            body += _circle(start[0], start[1], 5, hollow)
            body += _arrowhead(points, 11, 5, hollow, closed=True)
            kind = di.get("messageVisibleKind")
            if kind in ("initiating", "non_initiating") and node is not None and node.get("messageRef"):
                mx, my = _midpoint(points)
                body += _envelope(mx, my, 20, 14, kind == "non_initiating", 1.5)
        elif bpmn_type in ("association", "dataInputAssociation", "dataOutputAssociation"):
            body = f'<path {line_attrs} stroke-width="2" stroke-dasharray="0 5" stroke-linecap="round"/>'
            arrow_attrs = f'class="bpmn-arrow" fill="none" stroke="{stroke}" stroke-width="1.5"'
            direction = node.get("associationDirection") if node is not None else None
            if bpmn_type != "association" or direction in ("One", "Both"):
                body += _arrowhead(points, 10, 5, arrow_attrs, closed=False)
            if bpmn_type == "association" and direction == "Both":
                body += _arrowhead(points[::-1], 10, 5, arrow_attrs, closed=False)
        elif bpmn_type == "conversationLink":
            body = f'<path {line_attrs} stroke-width="5"/>'
            body += f'<path d="{d}" fill="none" stroke="{PAPER}" stroke-width="2"/>'
        else:
            body = f'<path {line_attrs} stroke-width="1.5" stroke-dasharray="4 3"/>'
        name = self.doc.name(node)
        label_bounds = _label_bounds(di, what)
        if label_bounds is not None and label_bounds[2] > 1:
            external = self.external_label(bbox, label_bounds)
        else:
            mx, my = _midpoint(points)
            lines = max(len(_wrap(name, EXTERNAL_LABEL_WIDTH, EXTERNAL_FONT)), 1)
            external = _LabelBox(
                mx - EXTERNAL_LABEL_WIDTH / 2, my - lines * EXTERNAL_FONT * LINE_HEIGHT - 4,
                EXTERNAL_LABEL_WIDTH, 0, "center-top", EXTERNAL_FONT,
            )  # fmt: skip
        if name.strip():
            lines = len(_wrap(name, external.width, external.size))
            self.extent.append((external.x, external.y, external.width, lines * external.size * LINE_HEIGHT))
        body, _, external = _recolor(colors[0], body, None, external)
        item = _Item(
            element_id=ref or di.get("id") or f"edge-{index}",
            kind="edge",
            bpmn_type=bpmn_type,
            name=name,
            body=body,
            x=0.0,
            y=0.0,
            bbox=bbox,
            embedded=None,
            external=external,
            embedded_svg="",
            external_svg=external.render(name),
        )
        self.add(40, index, item)


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


@lru_cache(maxsize=64)
def _model(content: bytes, process_id: str | None) -> _Model:
    """Parse and lay out once per document; render_svg only paints states onto the result."""
    root = _parse(content)
    doc = _Document(root)
    diagram, plane = _choose_plane(doc, process_id)
    title = diagram.get("name") or doc.name(doc.get(plane.get("bpmnElement"))) or "BPMN diagram"
    return _Builder(doc, plane).build(title, diagram.get("id") or "")
