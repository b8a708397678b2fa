"""Rewrite a Camunda diagram into the shape SpiffWorkflow runs the way Camunda 7 does.

Camunda 7 runs legal BPMN that SpiffWorkflow either refuses or runs differently. Rather
than patch SpiffWorkflow's parser, the copy of the tree it parses is normalised first;
the analyst's tree (which lint reads and the diagram shows) is never touched:

- sequence flows without an id get a stable generated one (SpiffWorkflow indexes flows by
  id and silently drops the others, so the instance never left the start event);
- ids SpiffWorkflow uses for its own specs ("Start", "End", "<process>.EndJoin", ...) are
  renamed in the copy, and the specs get their analyst id back after parsing;
- data stores, data objects and their associations are removed: Camunda 7 treats them as
  artifacts and ignores them at run time;
- a flow node with no outgoing flow gets a hidden end event: Camunda ends that path there
  (implicit end), SpiffWorkflow would leave it dangling; a parallel join with no outgoing flow
  too (Camunda joins, then ends: ParallelGatewayTest.testCompletingJoin), where SpiffWorkflow
  refused a subprocess ending that way ("A SubWorkflow Must contain an End event");
- several outgoing flows, conditional flows or a default flow straight out of an activity
  or event become a hidden gateway: a parallel one when no flow has a condition, an
  inclusive one otherwise (BpmnActivityBehavior.performOutgoingBehavior takes every flow
  whose condition holds, and the default flow only when none does);
- link events become a hidden flow from each link throw to the link catch of the same name
  in its scope (SpiffWorkflow knows no link events: the path ended at the throw); both
  events then pass straight through, as Camunda's link events do;
- a non-default flow out of an exclusive or inclusive gateway without a condition gets
  `${true}`: Camunda treats a missing condition as true (the first such flow wins at an
  exclusive gateway, all of them are taken at an inclusive one); SpiffWorkflow refused it;
- an errorEventDefinition whose errorRef names no <error> gets one with that code: Camunda
  7 then uses the errorRef itself as the error code (BpmnParse.parseErrorEventDefinition);
- a script task in JUEL (`scriptFormat="juel"`) becomes an expression service task: Camunda's
  JUEL script engine evaluates the script as one expression (its value to
  camunda:resultVariable), which the engine's sandboxed evaluator runs whether or not script
  tasks are enabled;
- a messageRef on a message throw or end event naming no <message> gets one: Camunda 7 does
  not look it up there (the event is service-task-like), SpiffWorkflow's parser failed;
- a reference written as a QName (`messageRef="tns:newInvoice"`, as older Camunda and
  Activiti examples do) names the local id: BpmnParse.resolveName drops the prefix, and
  SpiffWorkflow looked for an element with the whole text as its id.

Hidden elements get ids ending in HIDDEN_SUFFIX and have no analyst id after parsing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
B = f"{{{BPMN_NS}}}"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"
HIDDEN_SUFFIX = "__c7"

#: Task-spec names SpiffWorkflow gives its own steps; an element with such an id would replace them.
RESERVED_NAMES = frozenset({"Start", "End", "Root"})
RESERVED_SUFFIXES = (
    ".EndJoin",
    ".BoundaryEventSplit",
    ".BoundaryEventJoin",
    "StartEventSplit",
    "StartEventJoin",
)

_CONTAINERS = ("process", "subProcess", "transaction")
_GATEWAYS = ("exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway")
_ARTIFACTS = (
    "dataStoreReference",
    "dataObjectReference",
    "dataObject",
    "dataStore",
    "dataInputAssociation",
    "dataOutputAssociation",
)
_REF_ATTRIBUTES = ("sourceRef", "targetRef", "attachedToRef", "default", "bpmnElement")
_REF_TEXTS = ("incoming", "outgoing", "flowNodeRef", "sourceRef", "targetRef")


@dataclass
class Normalized:
    """The tree SpiffWorkflow parses, and how its ids map back to the analyst's."""

    tree: Any
    renamed: dict[str, str] = field(default_factory=dict)  # id in the copy -> analyst's id
    hidden: set[str] = field(default_factory=set)

    def analyst_id(self, spec_id: str | None) -> str | None:
        """The id the analyst gave an element, None for an element the normaliser added."""
        if spec_id is None or spec_id in self.hidden:
            return None
        return self.renamed.get(spec_id, spec_id)


def is_reserved(element_id: str) -> bool:
    return element_id in RESERVED_NAMES or element_id.endswith(RESERVED_SUFFIXES)


def _local(node: Any) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def normalize(tree: Any) -> Normalized:
    """Return a normalised copy of `tree` (an lxml tree or root); the input is left as it was."""
    root = copy.deepcopy(tree.getroot() if hasattr(tree, "getroot") else tree)
    result = Normalized(etree.ElementTree(root))
    taken = {n.get("id") for n in root.iter() if isinstance(n.tag, str) and n.get("id")}
    _remove_artifacts(root)
    _name_flows(root, taken)
    _rename_reserved(root, taken, result)
    _unprefix_refs(root)
    _declare_bare_error_refs(root, taken)
    _declare_thrown_message_refs(root, taken)
    _juel_scripts_as_expressions(root)
    for process in root.iter(f"{B}process"):
        for container in [process, *process.iter(f"{B}subProcess", f"{B}transaction")]:
            _join_links(container, taken, result)
            _split_outgoing(container, taken, result)
            _unconditional_gateway_flows_hold(container)
            _end_dangling_paths(container, taken, result)
    return result


def juel_script(node: Any) -> str | None:
    """The expression of a script task whose inline script is JUEL (an expression, not code);
    None for any other node."""
    script = node.find(f"{B}script")
    if (
        _local(node) != "scriptTask"
        or (node.get("scriptFormat") or "").strip().lower() != "juel"
        or node.get(f"{CAMUNDA}resource") is not None
        or script is None
    ):
        return None
    return (script.text or "").strip()


def _juel_scripts_as_expressions(root: Any) -> None:
    for node in list(root.iter(f"{B}scriptTask")):
        expression = juel_script(node)
        if expression is None:
            continue
        node.tag = f"{B}serviceTask"
        node.set(f"{CAMUNDA}expression", expression)
        del node.attrib["scriptFormat"]
        node.remove(node.find(f"{B}script"))


def _unique(base: str, taken: set[str]) -> str:
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    taken.add(candidate)
    return candidate


def _remove_artifacts(root: Any) -> None:
    for node in list(root.iter(*(f"{B}{tag}" for tag in _ARTIFACTS))):
        node.getparent().remove(node)
    # Camunda Modeler writes a placeholder property as the target of a data input association.
    for prop in list(root.iter(f"{B}property")):
        if prop.get("name") == "__targetRef_placeholder":
            prop.getparent().remove(prop)


_REFS = ("messageRef", "signalRef", "errorRef", "escalationRef")


def local_ref(node: Any, attribute: str) -> str | None:
    """A reference by id; a QName (`tns:newInvoice`) names the local id, as BpmnParse.resolveName."""
    value = node.get(attribute)
    return value.rpartition(":")[2] if value else value


def _unprefix_refs(root: Any) -> None:
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        for attribute in _REFS:
            if node.get(attribute):
                node.set(attribute, local_ref(node, attribute))


def _declare_bare_error_refs(root: Any, taken: set[str]) -> None:
    refs = [d.get("errorRef") for d in root.iter(f"{B}errorEventDefinition")]
    _declare(root, "error", refs, taken, code=True)


def _declare_thrown_message_refs(root: Any, taken: set[str]) -> None:
    """A message throw or end event runs as a service task (or passes through) in Camunda 7, which
    never looks its messageRef up; SpiffWorkflow's parser failed on one naming no <message>
    ("Expected 1 result"). Catch events are refused for it (engine.camunda_parse_rules)."""
    refs = [
        definition.get("messageRef")
        for tag in ("intermediateThrowEvent", "endEvent")
        for event in root.iter(f"{B}{tag}")
        for definition in event.findall(f"{B}messageEventDefinition")
    ]
    _declare(root, "message", refs, taken)


def _declare(root: Any, tag: str, refs: list[str | None], taken: set[str], *, code: bool = False) -> None:
    """A root-level <error>/<message> named after each ref that names none, before the first process."""
    declared = {e.get("id") for e in root.findall(f"{B}{tag}")}
    for ref in refs:
        if not ref or ref in declared:
            continue
        element = etree.Element(f"{B}{tag}", id=ref, name=ref, **({"errorCode": ref} if code else {}))
        first_process = root.find(f"{B}process")
        if first_process is not None:
            first_process.addprevious(element)
        else:
            root.append(element)
        declared.add(ref)
        taken.add(ref)


def link_name(event: Any) -> str | None:
    """The link name of a link throw or catch event, None for any other node."""
    definition = event.find(f"{B}linkEventDefinition")
    return None if definition is None else definition.get("name", "")


def _join_links(container: Any, taken: set[str], result: Normalized) -> None:
    catches = {
        link_name(node): node.get("id")
        for node in container.findall(f"{B}intermediateCatchEvent")
        if link_name(node) is not None
    }
    for tag in ("intermediateThrowEvent", "intermediateCatchEvent"):
        for event in container.findall(f"{B}{tag}"):
            name = link_name(event)
            if name is None:
                continue
            event.remove(event.find(f"{B}linkEventDefinition"))
            event.tag = f"{B}intermediateThrowEvent"
            if tag == "intermediateThrowEvent" and name in catches:
                flow_id = _unique(f"{event.get('id')}_link{HIDDEN_SUFFIX}", taken)
                _add_flow(container, flow_id, event.get("id"), catches[name])
                result.hidden.add(flow_id)


def _name_flows(root: Any, taken: set[str]) -> None:
    for flow in root.iter(f"{B}sequenceFlow"):
        if not flow.get("id"):
            flow.set("id", _unique(f"Flow_{flow.get('sourceRef')}_{flow.get('targetRef')}", taken))


def _rename_reserved(root: Any, taken: set[str], result: Normalized) -> None:
    renames = {}
    for node in root.iter():
        if (
            isinstance(node.tag, str)
            and node.tag.startswith(B)
            and node.get("id")
            and is_reserved(node.get("id"))
        ):
            if _local(node) in ("definitions", "process", "message", "error", "signal", "escalation"):
                continue
            old = node.get("id")
            new = _unique(f"{old.replace('.', '_')}{HIDDEN_SUFFIX}", taken)
            renames[old] = new
            result.renamed[new] = old
            node.set("id", new)
    if not renames:
        return
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        for attr in _REF_ATTRIBUTES:
            if node.get(attr) in renames:
                node.set(attr, renames[node.get(attr)])
        if _local(node) in _REF_TEXTS and (node.text or "").strip() in renames:
            node.text = renames[node.text.strip()]


def _flow_nodes(container: Any) -> list[Any]:
    nodes = []
    for node in container:
        if not isinstance(node.tag, str) or not node.tag.startswith(B):
            continue
        kind = _local(node)
        if kind in ("sequenceFlow", "laneSet", "extensionElements", "documentation", "textAnnotation"):
            continue
        if kind.endswith(("Task", "Event", "Gateway")) or kind in (
            "task",
            "subProcess",
            "callActivity",
            "transaction",
        ):
            nodes.append(node)
    return nodes


def _outgoing(container: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for flow in container.findall(f"{B}sequenceFlow"):
        out.setdefault(flow.get("sourceRef"), []).append(flow)
    return out


def _has_condition(flow: Any) -> bool:
    cond = flow.find(f"{B}conditionExpression")
    return cond is not None and bool((cond.text or "").strip())


def _add_flow(container: Any, flow_id: str, source: str, target: str) -> None:
    etree.SubElement(container, f"{B}sequenceFlow", id=flow_id, sourceRef=source, targetRef=target)


def _split_outgoing(container: Any, taken: set[str], result: Normalized) -> None:
    outgoing = _outgoing(container)
    for node in _flow_nodes(container):
        kind = _local(node)
        flows = outgoing.get(node.get("id"), [])
        if kind in _GATEWAYS or not flows:
            continue
        conditional = any(_has_condition(f) for f in flows)
        if len(flows) < 2 and not conditional:
            continue
        gateway_id = _unique(f"{node.get('id')}_split{HIDDEN_SUFFIX}", taken)
        tag = "inclusiveGateway" if conditional else "parallelGateway"
        gateway = etree.SubElement(container, f"{B}{tag}", id=gateway_id)
        if node.get("default"):
            gateway.set("default", node.get("default"))
            del node.attrib["default"]
        for flow in flows:
            flow.set("sourceRef", gateway_id)
        flow_id = _unique(f"{gateway_id}_in", taken)
        _add_flow(container, flow_id, node.get("id"), gateway_id)
        result.hidden |= {gateway_id, flow_id}


def _unconditional_gateway_flows_hold(container: Any) -> None:
    outgoing = _outgoing(container)
    for gateway in [*container.findall(f"{B}exclusiveGateway"), *container.findall(f"{B}inclusiveGateway")]:
        flows = outgoing.get(gateway.get("id"), [])
        if len(flows) < 2:
            continue
        for flow in flows:
            if flow.get("id") != gateway.get("default") and not _has_condition(flow):
                for empty in flow.findall(f"{B}conditionExpression"):
                    flow.remove(empty)
                condition = etree.SubElement(flow, f"{B}conditionExpression")
                condition.set(f"{{{XSI_NS}}}type", "bpmn:tFormalExpression")
                condition.text = "${true}"


def _needs_implicit_end(node: Any) -> bool:
    kind = _local(node)
    if kind == "parallelGateway":
        return True  # a join with nowhere to go ends its joined path (Camunda's testCompletingJoin)
    if kind in _GATEWAYS or kind == "endEvent":
        return False
    if node.get("triggeredByEvent") == "true" or node.get("isForCompensation") == "true":
        return False
    if kind == "intermediateThrowEvent" and node.find(f"{B}linkEventDefinition") is not None:
        return False
    if kind == "boundaryEvent" and node.find(f"{B}compensateEventDefinition") is not None:
        return False
    return True


def _end_dangling_paths(container: Any, taken: set[str], result: Normalized) -> None:
    outgoing = _outgoing(container)
    for node in _flow_nodes(container):
        if outgoing.get(node.get("id")) or not _needs_implicit_end(node):
            continue
        end_id = _unique(f"{node.get('id')}_end{HIDDEN_SUFFIX}", taken)
        flow_id = _unique(f"{end_id}_in", taken)
        etree.SubElement(container, f"{B}endEvent", id=end_id)
        _add_flow(container, flow_id, node.get("id"), end_id)
        result.hidden |= {end_id, flow_id}
