"""engine.diagram: BPMN DI drawn as SVG with instance states, counts and escaped labels."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from engine.diagram import DiagramError, render_svg
from engine.errors import EngineError

PEERS = Path(__file__).resolve().parents[2] / "shared" / "peers"
SVG = "http://www.w3.org/2000/svg"
NS = {"s": SVG}

TRICKY_NAME = 'Проверить <заявку> & "ответ"'

# start -> user task -> exclusive gateway -(default)-> service task -> end
#                                    \--(condition "yes")-> end
SMALL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
    id="defs" targetNamespace="http://example.com/bpmn">
  <bpmn:process id="triage" name="Triage" isExecutable="true">
    <bpmn:startEvent id="start" name="Request in"/>
    <bpmn:userTask id="review" name="Проверить &lt;заявку&gt; &amp; &quot;ответ&quot;"/>
    <bpmn:exclusiveGateway id="ok" name="Approved?" default="to_notify"/>
    <bpmn:serviceTask id="notify" name="Notify the client"/>
    <bpmn:endEvent id="end" name="Done"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="ok"/>
    <bpmn:sequenceFlow id="to_notify" sourceRef="ok" targetRef="notify"/>
    <bpmn:sequenceFlow id="yes" name="yes" sourceRef="ok" targetRef="end">
      <bpmn:conditionExpression>${approved}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="notify" targetRef="end">
      <bpmn:conditionExpression>${sent}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagram">
    <bpmndi:BPMNPlane id="plane" bpmnElement="triage">
      <bpmndi:BPMNShape id="start_di" bpmnElement="start">
        <dc:Bounds x="100" y="100" width="36" height="36"/>
        <bpmndi:BPMNLabel><dc:Bounds x="90" y="143" width="56" height="14"/></bpmndi:BPMNLabel>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="review_di" bpmnElement="review">
        <dc:Bounds x="190" y="78" width="100" height="80"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="ok_di" bpmnElement="ok" isMarkerVisible="true">
        <dc:Bounds x="345" y="93" width="50" height="50"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="notify_di" bpmnElement="notify">
        <dc:Bounds x="450" y="78" width="100" height="80"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_di" bpmnElement="end">
        <dc:Bounds x="612" y="100" width="36" height="36"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="f1_di" bpmnElement="f1">
        <di:waypoint x="136" y="118"/><di:waypoint x="190" y="118"/>
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f2_di" bpmnElement="f2">
        <di:waypoint x="290" y="118"/><di:waypoint x="345" y="118"/>
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="to_notify_di" bpmnElement="to_notify">
        <di:waypoint x="395" y="118"/><di:waypoint x="450" y="118"/>
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="yes_di" bpmnElement="yes">
        <di:waypoint x="370" y="143"/><di:waypoint x="370" y="220"/>
        <di:waypoint x="630" y="220"/><di:waypoint x="630" y="136"/>
        <bpmndi:BPMNLabel><dc:Bounds x="490" y="225" width="20" height="14"/></bpmndi:BPMNLabel>
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f4_di" bpmnElement="f4">
        <di:waypoint x="550" y="118"/><di:waypoint x="612" y="118"/>
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""

ELEMENTS = ["start", "review", "ok", "notify", "end"]
FLOWS = ["f1", "f2", "to_notify", "yes", "f4"]

POOLS = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="d" targetNamespace="x">
  <collaboration id="collab">
    <participant id="desk" name="Service desk" processRef="desk_process"/>
    <participant id="client" name="Client"/>
    <messageFlow id="mail" sourceRef="client" targetRef="intake"/>
  </collaboration>
  <process id="desk_process">
    <laneSet id="ls">
      <lane id="operators" name="Operators"><flowNodeRef>intake</flowNodeRef></lane>
    </laneSet>
    <startEvent id="intake"><messageEventDefinition/></startEvent>
  </process>
  <process id="undrawn"/>
  <bpmndi:BPMNDiagram id="main">
    <bpmndi:BPMNPlane id="p" bpmnElement="collab">
      <bpmndi:BPMNShape id="desk_di" bpmnElement="desk" isHorizontal="true">
        <dc:Bounds x="0" y="200" width="600" height="150"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="operators_di" bpmnElement="operators" isHorizontal="true">
        <dc:Bounds x="30" y="200" width="570" height="150"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="client_di" bpmnElement="client" isHorizontal="true">
        <dc:Bounds x="0" y="0" width="600" height="60"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="intake_di" bpmnElement="intake">
        <dc:Bounds x="100" y="257" width="36" height="36"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="mail_di" bpmnElement="mail">
        <di:waypoint x="118" y="60"/><di:waypoint x="118" y="257"/>
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</definitions>
"""


def parse(svg: str) -> etree._Element:
    """Parse the SVG back strictly: it must be well-formed XML in the SVG namespace."""
    root = etree.fromstring(svg.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True))
    assert root.tag == f"{{{SVG}}}svg"
    return root


def group(root: etree._Element, element_id: str) -> etree._Element:
    found = root.xpath("//s:g[@data-element-id=$id]", namespaces=NS, id=element_id)
    assert len(found) == 1, f"expected one group for {element_id}, found {len(found)}"
    return found[0]


def classes(node: etree._Element) -> set[str]:
    return set((node.get("class") or "").split())


def text_of(node: etree._Element) -> str:
    return " ".join(t.strip() for t in node.xpath(".//s:tspan/text()", namespaces=NS))


# --------------------------------------------------------------------------- unit


def test_every_element_and_flow_gets_one_group_with_its_id_and_type():
    root = parse(render_svg(SMALL.encode()))
    for element_id, kind in zip(
        ELEMENTS, ["startEvent", "userTask", "exclusiveGateway", "serviceTask", "endEvent"], strict=True
    ):
        assert {"bpmn-shape", f"bpmn-{kind}"} <= classes(group(root, element_id))
    for flow in FLOWS:
        node = group(root, flow)
        assert {"bpmn-edge", "bpmn-sequenceFlow"} <= classes(node)
        assert len(node.xpath("s:path[contains(@class, 'bpmn-edge-line')]", namespaces=NS)) == 1


def test_shapes_are_placed_at_their_di_bounds():
    root = parse(render_svg(SMALL.encode()))
    assert group(root, "review").get("transform") == "translate(190 78)"
    body = group(root, "review").xpath("s:rect[contains(@class, 'bpmn-body')]", namespaces=NS)[0]
    assert (body.get("width"), body.get("height"), body.get("rx")) == ("100", "80", "10")


def test_every_sequence_flow_ends_in_an_arrowhead_at_its_last_waypoint():
    root = parse(render_svg(SMALL.encode()))
    tips = {"f1": "190 118", "f2": "345 118", "to_notify": "450 118", "yes": "630 136", "f4": "612 118"}
    for flow, tip in tips.items():
        arrows = group(root, flow).xpath("s:path[contains(@class, 'bpmn-arrow-solid')]", namespaces=NS)
        assert len(arrows) == 1, flow
        assert f"L{tip}L" in arrows[0].get("d"), (flow, arrows[0].get("d"))


def test_default_flow_gets_a_slash_and_conditional_flow_from_a_task_a_diamond():
    root = parse(render_svg(SMALL.encode()))
    assert group(root, "to_notify").xpath("s:line[contains(@class, 'bpmn-arrow')]", namespaces=NS)
    assert group(root, "f4").xpath("s:polygon[contains(@class, 'bpmn-arrow')]", namespaces=NS)
    # A condition leaving a gateway has no diamond: the gateway already says "decision".
    assert not group(root, "yes").xpath("s:polygon", namespaces=NS)


def test_task_type_and_gateway_markers_are_drawn():
    root = parse(render_svg(SMALL.encode()))
    assert group(root, "review").xpath("s:circle", namespaces=NS), "user task icon (head)"
    assert len(group(root, "notify").xpath("s:polygon", namespaces=NS)) == 2, "service task gears"
    assert group(root, "ok").xpath("s:polygon[not(contains(@class, 'bpmn-body'))]", namespaces=NS), "X marker"
    assert group(root, "end").xpath("s:circle[@stroke-width='4']", namespaces=NS), "thick end event"


def test_names_with_markup_quotes_and_cyrillic_are_escaped_and_kept():
    svg = render_svg(SMALL.encode())
    assert "<заявку>" not in svg
    root = parse(svg)
    review = group(root, "review")
    assert text_of(review).replace(" ", "") == TRICKY_NAME.replace(" ", "")
    assert review.find("s:title", NS).text == TRICKY_NAME


def test_event_gateway_and_flow_names_are_external_labels_at_their_di_bounds():
    root = parse(render_svg(SMALL.encode()))
    labels = {g.get("data-label-for"): g for g in root.xpath("//s:g[@class='bpmn-label']", namespaces=NS)}
    assert text_of(labels["start"]) == "Request in"
    assert text_of(labels["yes"]) == "yes"
    assert text_of(labels["ok"]) == "Approved?"
    # BPMNLabel bounds x=90 width=56: the text is centred on x=118 and starts at the label's top.
    assert labels["start"].find("s:text", NS).get("transform") == "translate(73 143)"


def test_states_become_classes_data_attributes_and_titles():
    states = {"start": "completed", "f1": "completed", "review": "active", "notify": "failed"}
    root = parse(render_svg(SMALL.encode(), states=states))
    for element_id, state in states.items():
        node = group(root, element_id)
        assert f"bpmn-state-{state}" in classes(node)
        assert node.get("data-state") == state
    assert group(root, "review").find("s:title", NS).text == f"{TRICKY_NAME} (active)"
    assert group(root, "ok").get("data-state") is None
    style = root.find("s:style", NS).text
    assert ".bpmn-state-active .bpmn-body" in style and ".bpmn-state-failed .bpmn-body" in style


def test_failed_element_gets_a_warning_badge():
    root = parse(render_svg(SMALL.encode(), states={"notify": "failed", "review": "active"}))
    badges = root.xpath("//s:g[contains(@class, 'bpmn-badge-failed')]", namespaces=NS)
    assert [b.get("data-overlay-for") for b in badges] == ["notify"]


def test_counts_are_pills_at_the_bottom_left_and_zero_draws_nothing():
    root = parse(render_svg(SMALL.encode(), counts={"review": 12, "notify": 0}))
    pills = root.xpath("//s:g[contains(@class, 'bpmn-count')]", namespaces=NS)
    assert [p.get("data-overlay-for") for p in pills] == ["review"]
    assert pills[0].find("s:text", NS).text == "12"
    rect = pills[0].find("s:rect", NS)
    # review is at x=190..290, y=78..158: the pill straddles its bottom-left corner.
    assert float(rect.get("x")) < 190 < float(rect.get("x")) + float(rect.get("width"))
    assert float(rect.get("y")) < 158 < float(rect.get("y")) + float(rect.get("height"))


def test_labels_replace_displayed_names_and_are_escaped():
    root = parse(render_svg(SMALL.encode(), labels={"notify": "Уведомить <клиента>", "yes": "да & ok"}))
    assert text_of(group(root, "notify")) == "Уведомить <клиента>"
    label = root.xpath("//s:g[@data-label-for='yes']", namespaces=NS)[0]
    assert text_of(label) == "да & ok"


def test_view_box_covers_every_shape_and_sets_a_pixel_size():
    root = parse(render_svg(SMALL.encode()))
    x, y, w, h = (float(v) for v in root.get("viewBox").split())
    assert x < 100 and y < 78 and x + w > 648 and y + h > 239
    assert (float(root.get("width")), float(root.get("height"))) == (w, h)


def test_text_input_and_repeated_calls_give_the_same_svg():
    first = render_svg(SMALL.encode())
    assert render_svg(SMALL) == first
    assert render_svg(SMALL.encode()) == first


def test_pools_lanes_and_message_flows():
    root = parse(render_svg(POOLS.encode()))
    assert root.get("data-diagram-id") == "main"
    assert text_of(group(root, "desk")) == "Service desk"
    assert text_of(group(root, "operators")) == "Operators"
    assert "rotate(-90)" in group(root, "desk").find("s:text", NS).get("transform")
    mail = group(root, "mail")
    assert mail.xpath("s:path[contains(@class, 'bpmn-edge-line')]/@stroke-dasharray", namespaces=NS) == [
        "10 11"
    ]
    assert mail.xpath("s:circle[contains(@class, 'bpmn-arrow')]", namespaces=NS), "open circle at the source"
    # Pools are painted first, so the elements inside them stay visible.
    ids = [g.get("data-element-id") for g in root.xpath("//s:g[@data-element-id]", namespaces=NS)]
    assert ids.index("desk") < ids.index("operators") < ids.index("intake") < ids.index("mail")


def test_process_id_selects_the_collaboration_that_contains_it():
    root = parse(render_svg(POOLS.encode(), process_id="desk_process"))
    assert root.get("data-diagram-id") == "main"


def test_unknown_or_undrawn_process_is_a_diagram_error_naming_it():
    with pytest.raises(DiagramError, match="nope.*desk_process"):
        render_svg(POOLS.encode(), process_id="nope")
    with pytest.raises(DiagramError, match="no BPMNDiagram shows process 'undrawn'"):
        render_svg(POOLS.encode(), process_id="undrawn")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"<definitions", "not well-formed"),
        (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>', "DOCTYPE"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "not a BPMN <definitions>"),
        (b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"/>', "no BPMNDiagram"),
    ],
)
def test_unusable_documents_raise_diagram_error(content, reason):
    with pytest.raises(DiagramError, match=reason) as caught:
        render_svg(content)
    assert isinstance(caught.value, EngineError)


def test_broken_di_is_a_diagram_error_naming_the_element():
    broken = SMALL.replace('<dc:Bounds x="190" y="78" width="100" height="80"/>', '<dc:Bounds x="a" y="78"/>')
    with pytest.raises(DiagramError, match="review_di"):
        render_svg(broken)
    one_point = SMALL.replace('<di:waypoint x="136" y="118"/><di:waypoint x="190" y="118"/>', "")
    with pytest.raises(DiagramError, match="f1_di.*0 waypoint"):
        render_svg(one_point)


def test_unknown_state_or_bad_count_is_refused():
    with pytest.raises(DiagramError, match="running"):
        render_svg(SMALL, states={"review": "running"})
    with pytest.raises(DiagramError, match="count"):
        render_svg(SMALL, counts={"review": -1})


def test_ids_the_diagram_does_not_show_are_ignored():
    root = parse(render_svg(SMALL, states={"elsewhere": "active"}, counts={"elsewhere": 3}))
    assert not root.xpath("//*[@data-element-id='elsewhere' or @data-overlay-for='elsewhere']")


# --------------------------------------------------------------------------- conformance


def peer_files() -> list:
    folders = [
        PEERS / "miwg" / "reference",
        PEERS / "miwg" / "camunda-modeler-18.6.1",
        PEERS / "camunda-examples",
    ]
    files = [f for folder in folders if folder.is_dir() for f in sorted(folder.glob("*.bpmn"))]
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"peer material not found at {PEERS}"))]
    return [pytest.param(f, id=f"{f.parent.name}/{f.name}") for f in files]


@pytest.mark.conformance
@pytest.mark.parametrize("path", peer_files())
def test_peer_diagram_renders_one_shape_per_di_shape_and_one_line_per_di_edge(path):
    content = path.read_bytes()
    try:
        svg = render_svg(content)
    except DiagramError as err:
        assert err.reason, f"{path.name}: DiagramError without a reason"
        return
    root = parse(svg)
    source = etree.fromstring(content, etree.XMLParser(resolve_entities=False, no_network=True))
    diagram_id = root.get("data-diagram-id")
    planes = [
        p for d in source.iter("{*}BPMNDiagram") if d.get("id") == diagram_id for p in d.iter("{*}BPMNPlane")
    ]
    assert len(planes) == 1, f"{path.name}: chosen diagram {diagram_id!r} not found once"
    plane = planes[0]
    di_shapes = [s.get("bpmnElement") for s in plane.iter("{*}BPMNShape")]
    di_edges = [e.get("bpmnElement") for e in plane.iter("{*}BPMNEdge")]
    shapes = root.xpath("//s:g[contains(concat(' ', @class, ' '), ' bpmn-shape ')]", namespaces=NS)
    lines = root.xpath("//s:path[contains(concat(' ', @class, ' '), ' bpmn-edge-line ')]", namespaces=NS)
    assert len(shapes) == len(di_shapes)
    assert len(lines) == len(di_edges)
    assert sorted(s.get("data-element-id") for s in shapes) == sorted(di_shapes)


@pytest.mark.conformance
def test_main_diagram_is_chosen_over_a_collapsed_subprocess_plane():
    path = PEERS / "miwg" / "camunda-modeler-18.6.1" / "C.3.0-export.bpmn"
    if not path.exists():
        pytest.skip(f"peer material not found at {path}")
    root = parse(render_svg(path.read_bytes()))
    assert root.get("data-diagram-id") == "Bpmndi_BPMNDiagram_jcwkwO_bEeSGoscwBjzAjw"


@pytest.mark.conformance
def test_process_id_picks_its_own_diagram_among_several():
    path = PEERS / "miwg" / "reference" / "C.4.0.bpmn"
    if not path.exists():
        pytest.skip(f"peer material not found at {path}")
    content = path.read_bytes()
    it = parse(render_svg(content, process_id="_f0035388-f829-470c-b82b-0b15c3da3399"))
    payroll = parse(render_svg(content, process_id="_da743a6f-d9e5-4fcf-8a96-d2fd5cfb73d4"))
    assert it.get("data-diagram-id") == "_2197e5f3-4fb0-4665-aeb8-338e750d4939"
    assert payroll.get("data-diagram-id") == "_a90a886a-6aa2-4cce-9593-8729f9f15e12"
