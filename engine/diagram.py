"""BPMN DI -> self-contained SVG, with instance states and counts painted on top.

The web UI shows where an instance is (completed, active, failed elements) and, for a
definition, how many instances wait at each element, the way Camunda Cockpit does. It has
no JavaScript and no CDN, so the server draws the diagram itself from the BPMN DI: shape
bounds, edge waypoints and label bounds, in the visual language of bpmn.io / Camunda
Modeler so analysts recognise their own drawing.

Parsing and layout are cached per document (the bytes are the key), and everything that
does not depend on the instance is pre-rendered, so a page with a diagram only pays for
joining strings. This module parses and lays out; the pieces it draws with live beside it:
diagram_text (escaping, widths, wrapped labels), diagram_shapes (icons, markers, edge paths)
and diagram_overlays (state colours, counts, failed badges, the heat map).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from engine.diagram_document import (
    _ACTIVITIES,
    _CONTAINERS,
    _DATA,
    _EVENTS,
    _GATEWAYS,
    DiagramError,
    _bool,
    _bounds,
    _choose_plane,
    _colors,
    _Document,
    _float,
    _label_bounds,
    _local,
    _parse,
)
from engine.diagram_overlays import _STYLE, _count_badge, _failed_badge, _heat_overlay, _human
from engine.diagram_shapes import (
    _DASH_DOT,
    _DASHED,
    _SOLID,
    _WHITE,
    _activity_markers,
    _arrowhead,
    _circle,
    _condition_marker,
    _cross,
    _default_marker,
    _envelope,
    _event_icon,
    _line,
    _midpoint,
    _polygon,
    _pts,
    _recolor,
    _regular,
    _rounded_path,
    _task_icon,
)
from engine.diagram_text import (
    _XML_DECLARATION,
    EMBEDDED_FONT,
    EXTERNAL_FONT,
    EXTERNAL_LABEL_WIDTH,
    FONT,
    INK,
    LINE_HEIGHT,
    PAPER,
    _esc,
    _LabelBox,
    _n,
    _wrap,
)

__all__ = ["STATES", "DiagramError", "render_svg"]

STATES = ("completed", "active", "failed")
"""The element states the UI can highlight; anything else is a caller bug."""

MARGIN = 24.0


# --------------------------------------------------------------------------- public API


def render_svg(
    bpmn_xml: bytes | str,
    *,
    process_id: str | None = None,
    states: Mapping[str, str] | None = None,
    counts: Mapping[str, int] | None = None,
    labels: Mapping[str, str] | None = None,
    heat: Mapping[str, tuple[float, str]] | None = None,
) -> str:
    """Return a standalone SVG of the process diagram with states and counts painted on.

    `heat` maps element ids to (intensity 0..1, caption): a heat map of where instances wait,
    painted as a translucent yellow-to-red wash with the caption (e.g. "4.5 h") under the element.

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
    for element_id, (intensity, _caption) in (heat or {}).items():
        if not 0 <= intensity <= 1:
            raise DiagramError(f"element {element_id!r} has heat {intensity!r}; use a value from 0 to 1")
    return model.render(states, counts, labels or {}, heat or {})


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

    def render(
        self,
        states: Mapping[str, str],
        counts: Mapping[str, int],
        labels: Mapping[str, str],
        heat: Mapping[str, tuple[float, str]] | None = None,
    ) -> str:
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
            if heat and eid in heat and item.kind == "shape":
                overlays.insert(0, _heat_overlay(eid, *heat[eid], item.bbox))
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


# --------------------------------------------------------------------------- building


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


@lru_cache(maxsize=64)
def _model(content: bytes, process_id: str | None) -> _Model:
    """Parse and lay out once per document; render_svg only paints states onto the result."""
    root = _parse(content)
    doc = _Document(root)
    diagram, plane = _choose_plane(doc, process_id)
    title = diagram.get("name") or doc.name(doc.get(plane.get("bpmnElement"))) or "BPMN diagram"
    return _Builder(doc, plane).build(title, diagram.get("id") or "")
