"""Reading a BPMN document for drawing: its DI plane, element kinds, bounds and colours.

engine/diagram.py lays out what this finds; a document that cannot be drawn is a DiagramError
naming what is wrong.
"""

from __future__ import annotations

import math

from lxml import etree

from engine.diagram_text import _SAFE_COLOR
from engine.errors import EngineError
from engine.parser import UnsafeXmlError, load_xml

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BIOC_NS = "http://bpmn.io/schema/bpmn/biocolor/1.0"
OMG_COLOR_NS = "http://www.omg.org/spec/BPMN/non-normative/color/1.0"


class DiagramError(EngineError):
    """The document cannot be drawn: unparseable XML, no DI for the process, broken bounds."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"Cannot draw the diagram: {reason}")


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
