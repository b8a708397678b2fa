"""Deploy-time lint of a BPMN diagram: the modelling mistakes an engine only finds at run time.

Each rule is a pure function over one parsed process (`lxml` element) that yields
`Finding`s naming the element; `RULES` maps its id to the function and its severity.
Errors refuse the deploy (the diagram cannot run as drawn), warnings are reported in the
deploy report, the deployments page and `/engine-rest` and do not block it. The rule ids
are what docs/analyst-guide.md explains.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from engine.expressions import ExpressionError, ExpressionEvaluationError, compile_expression, is_expression
from engine.forms import FormSchema
from engine.handlers import TopicMeta
from engine.parser import CAMUNDA, parse_service_call
from engine.variables import BPMN, unknown_reads

ERROR, WARNING = "error", "warning"
#: Largest number of variable assignments tried when looking for a gap in gateway conditions.
MAX_ASSIGNMENTS = 4096

_GATEWAYS = ("exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway")
_CONTAINERS = ("process", "subProcess", "transaction", "adHocSubProcess")
_ACTIVITIES = {"task", "subProcess", "transaction", "adHocSubProcess", "callActivity"}


@dataclass(frozen=True)
class Finding:
    """One rule broken by one element."""

    rule: str
    severity: str
    node: Any  # the element at fault (its id and line locate the finding)
    message: str


@dataclass(frozen=True)
class LintContext:
    """What rules need besides the XML: the handler catalog and the deployed forms."""

    topics: Mapping[str, TopicMeta | None] = field(default_factory=dict)
    forms: Mapping[str, FormSchema] = field(default_factory=dict)


Rule = Callable[[Any, LintContext], Iterable[Finding]]


@dataclass(frozen=True)
class RuleInfo:
    id: str
    severity: str
    check: Rule
    summary: str


RULES: dict[str, RuleInfo] = {}


def rule(rule_id: str, severity: str) -> Callable[[Rule], Rule]:
    """Register a rule under its id; its docstring's first line is the summary the guide shows."""

    def register(check: Rule) -> Rule:
        summary = (check.__doc__ or "").strip().splitlines()[0]
        RULES[rule_id] = RuleInfo(rule_id, severity, check, summary)
        return check

    return register


def lint_tree(tree: Any, context: LintContext) -> list[Finding]:
    """Run every rule on every process of a diagram; the order is stable (rule, then document)."""
    root = tree.getroot() if hasattr(tree, "getroot") else tree
    findings: list[Finding] = []
    processes = [p for p in root.iter(f"{BPMN}process") if p.get("isExecutable") != "false"]
    for info in RULES.values():
        for process in processes:
            findings.extend(info.check(process, context))
    return findings


# ---------------------------------------------------------------------------- graph helpers


def _local(node: Any) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def _is_flow_node(node: Any) -> bool:
    if not isinstance(node.tag, str) or not node.tag.startswith(BPMN):
        return False
    kind = _local(node)
    return kind in _ACTIVITIES or kind.endswith(("Event", "Task", "Gateway"))


def _flow_nodes(container: Any) -> list[Any]:
    return [n for n in container if _is_flow_node(n)]


def _flows(container: Any) -> list[Any]:
    return container.findall(f"{BPMN}sequenceFlow")


def _outgoing(container: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for flow in _flows(container):
        out.setdefault(flow.get("sourceRef"), []).append(flow)
    return out


def _incoming(container: Any) -> dict[str, list[Any]]:
    into: dict[str, list[Any]] = {}
    for flow in _flows(container):
        into.setdefault(flow.get("targetRef"), []).append(flow)
    return into


def _containers(process: Any) -> Iterator[Any]:
    yield process
    for tag in _CONTAINERS[1:]:
        yield from process.iter(f"{BPMN}{tag}")


def _has_event(node: Any, definition: str) -> bool:
    return node.find(f"{BPMN}{definition}") is not None


def _name(node: Any) -> str:
    return node.get("name") or node.get("id")


# ---------------------------------------------------------------------------- rules


@rule("no-start-event", ERROR)
def no_start_event(process: Any, context: LintContext) -> Iterable[Finding]:
    """A process without a start event cannot be started."""
    if process.find(f"{BPMN}startEvent") is None:
        yield Finding(
            "no-start-event",
            ERROR,
            process,
            "the process has no start event, so it can never start; draw a start event at its beginning",
        )


@rule("no-end-event", WARNING)
def no_end_event(process: Any, context: LintContext) -> Iterable[Finding]:
    """A process without an end event has no visible way to finish."""
    if process.find(f"{BPMN}endEvent") is None and _flow_nodes(process):
        yield Finding(
            "no-end-event",
            WARNING,
            process,
            "the process has no end event; draw one where each path finishes so readers see how it ends",
        )


def _roots(container: Any) -> list[Any]:
    roots = []
    for node in _flow_nodes(container):
        kind = _local(node)
        if kind == "startEvent" or node.get("isForCompensation") == "true":
            roots.append(node)
        elif kind == "subProcess" and node.get("triggeredByEvent") == "true":
            roots.append(node)
        elif kind == "intermediateCatchEvent" and _has_event(node, "linkEventDefinition"):
            roots.append(node)
    return roots


@rule("unreachable-element", WARNING)
def unreachable_element(process: Any, context: LintContext) -> Iterable[Finding]:
    """An element no path from a start event reaches never runs."""
    for container in _containers(process):
        nodes = {n.get("id"): n for n in _flow_nodes(container)}
        if not any(_local(n) == "startEvent" for n in nodes.values()):
            continue  # a subprocess without a start event is refused by the parser with its own message
        outgoing = _outgoing(container)
        attached: dict[str, list[Any]] = {}
        for node in nodes.values():
            if node.get("attachedToRef"):
                attached.setdefault(node.get("attachedToRef"), []).append(node)
        seen: set[str] = set()
        stack = [n.get("id") for n in _roots(container)]
        while stack:
            current = stack.pop()
            if current in seen or current not in nodes:
                continue
            seen.add(current)
            stack.extend(f.get("targetRef") for f in outgoing.get(current, ()))
            stack.extend(b.get("id") for b in attached.get(current, ()))
        for node_id, node in nodes.items():
            if node_id in seen or node.get("attachedToRef"):
                continue  # a boundary event is as reachable as its activity, which is reported itself
            yield Finding(
                "unreachable-element",
                WARNING,
                node,
                f"{_name(node)!r} cannot be reached from any start event, so it never runs; "
                "connect it with a sequence flow or delete it",
            )


@rule("gateway-without-split", WARNING)
def gateway_without_split(process: Any, context: LintContext) -> Iterable[Finding]:
    """A gateway with one way in and one way out neither splits nor joins."""
    for container in _containers(process):
        outgoing, incoming = _outgoing(container), _incoming(container)
        for node in _flow_nodes(container):
            if _local(node) not in _GATEWAYS:
                continue
            outs, ins = len(outgoing.get(node.get("id"), ())), len(incoming.get(node.get("id"), ()))
            if outs == 1 and ins <= 1:
                yield Finding(
                    "gateway-without-split",
                    WARNING,
                    node,
                    f"gateway {_name(node)!r} has one outgoing flow and does not join flows either; "
                    "give it a second outgoing flow or remove it",
                )
            elif outs == 0:
                yield Finding(
                    "gateway-without-split",
                    WARNING,
                    node,
                    f"gateway {_name(node)!r} has no outgoing flow, so every path through it stops there",
                )


def _candidates(expressions: list[Any]) -> dict[str, list[Any]]:
    """Values worth trying per variable: each literal it is compared with and its neighbours;
    true and false for a variable used as a flag."""
    values: dict[str, list[Any]] = {}
    for expr in expressions:
        tree = ast.parse(expr.python, mode="eval")
        for name in expr.names:
            values.setdefault(name, [])
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            operands = [node.left, *node.comparators]
            names = [o.id for o in operands if isinstance(o, ast.Name) and o.id in expr.names]
            constants = [o.value for o in operands if isinstance(o, ast.Constant)]
            for name in names:
                for value in constants:
                    if isinstance(value, bool) or value is None:
                        values[name].append(value)
                    elif isinstance(value, int | float):
                        values[name].extend([value, value - 1, value + 1, value - 0.5, value + 0.5])
                    elif isinstance(value, str):
                        values[name].extend([value, value + "\u2060other"])
    return {name: list(dict.fromkeys(vals or [True, False], None)) for name, vals in values.items()}


def all_false_example(conditions: list[str]) -> dict[str, Any] | None:
    """Variable values that make every condition false, if a small search finds some; else None.

    The search tries the literals the conditions compare with (and their neighbours), so
    `${amount > 1000}` / `${amount < 1000}` yields amount = 1000. Assignments on which a
    condition cannot be evaluated (wrong types) prove nothing and are skipped.
    """
    try:
        expressions = [compile_expression(c) for c in conditions]
    except ExpressionError:
        return None
    if any(expr.calls - {"is_empty"} for expr in expressions):
        return None
    candidates = _candidates(expressions)
    names = sorted(candidates)
    total = 1
    for name in names:
        total *= len(candidates[name])
    if total > MAX_ASSIGNMENTS:
        return None
    for values in itertools.product(*(candidates[n] for n in names)):
        variables = dict(zip(names, values, strict=True))
        try:
            if not any(expr.test(variables) for expr in expressions):
                return variables
        except ExpressionEvaluationError:
            continue
    return None


def _describe(example: Mapping[str, Any]) -> str:
    def show(value: Any) -> str:
        if value is None:
            return "null"
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, str) and value.endswith("\u2060other"):
            return "some other text"
        return repr(value)

    return ", ".join(f"{name} = {show(value)}" for name, value in example.items())


@rule("exclusive-gateway-no-default", WARNING)
def exclusive_gateway_no_default(process: Any, context: LintContext) -> Iterable[Finding]:
    """An exclusive gateway without a default flow whose conditions can all be false gets stuck."""
    for container in _containers(process):
        outgoing = _outgoing(container)
        for node in container.findall(f"{BPMN}exclusiveGateway"):
            flows = outgoing.get(node.get("id"), [])
            if node.get("default") or len(flows) < 2:
                continue
            conditions = [f.findtext(f"{BPMN}conditionExpression") for f in flows]
            if any(c is None or not c.strip() for c in conditions):
                continue
            example = all_false_example([c.strip() for c in conditions])
            if example is not None:
                yield Finding(
                    "exclusive-gateway-no-default",
                    WARNING,
                    node,
                    f"no condition leaving gateway {_name(node)!r} holds when {_describe(example)}, "
                    "and it has no default flow, so the instance would fail there; mark a flow as default",
                )


@rule("default-flow-condition", ERROR)
def default_flow_condition(process: Any, context: LintContext) -> Iterable[Finding]:
    """A default flow with a condition is contradictory (Camunda refuses it too)."""
    for container in _containers(process):
        flows = {f.get("id"): f for f in _flows(container)}
        for node in _flow_nodes(container):
            flow = flows.get(node.get("default") or "")
            if flow is None:
                continue
            condition = flow.findtext(f"{BPMN}conditionExpression")
            if condition is not None and condition.strip():
                yield Finding(
                    "default-flow-condition",
                    ERROR,
                    flow,
                    f"flow {_name(flow)!r} is the default of {_name(node)!r} and also has a condition; "
                    "a default flow is taken when no other condition holds, so remove its condition",
                )


@rule("user-task-unnamed", WARNING)
def user_task_unnamed(process: Any, context: LintContext) -> Iterable[Finding]:
    """A user task without a name shows up as its id in everyone's task list."""
    for node in process.iter(f"{BPMN}userTask"):
        if not (node.get("name") or "").strip():
            yield Finding(
                "user-task-unnamed",
                WARNING,
                node,
                f"user task {node.get('id')!r} has no name; people would see its id in the task list",
            )


def _lane_members(process: Any) -> set[str]:
    return {
        (ref.text or "").strip()
        for lane in process.iter(f"{BPMN}lane")
        if (lane.get("name") or "").strip()
        for ref in lane.findall(f"{BPMN}flowNodeRef")
    }


def _assigned(node: Any) -> bool:
    return any(node.get(f"{CAMUNDA}{a}") for a in ("assignee", "candidateGroups", "candidateUsers"))


def _has_form(node: Any) -> bool:
    return bool(
        node.get(f"{CAMUNDA}formKey")
        or node.get(f"{CAMUNDA}formRef")
        or node.find(f"{BPMN}extensionElements/{CAMUNDA}formData") is not None
    )


@rule("user-task-unassigned", WARNING)
def user_task_unassigned(process: Any, context: LintContext) -> Iterable[Finding]:
    """A user task with no assignee, candidate group or user, and no lane, is nobody's work.

    Reported when the task has a form for someone to fill in, or when the process assigns its
    other user tasks (so this one was forgotten); a process whose user tasks are all bare wait
    states completed through the API is left alone.
    """
    in_lanes = _lane_members(process)
    tasks = list(process.iter(f"{BPMN}userTask"))
    others_assigned = any(_assigned(t) or t.get("id") in in_lanes for t in tasks)
    for node in tasks:
        if _assigned(node) or node.get("id") in in_lanes or not (_has_form(node) or others_assigned):
            continue
        yield Finding(
            "user-task-unassigned",
            WARNING,
            node,
            f"user task {_name(node)!r} has no assignee, candidate group or candidate user and is in no "
            "lane, so it appears in nobody's group queue; set one in Camunda Modeler",
        )


@rule("timer-without-definition", ERROR)
def timer_without_definition(process: Any, context: LintContext) -> Iterable[Finding]:
    """A timer with no date, duration or cycle can never fire."""
    for definition in process.iter(f"{BPMN}timerEventDefinition"):
        texts = [definition.findtext(f"{BPMN}{tag}") for tag in ("timeDate", "timeDuration", "timeCycle")]
        if not any(t and t.strip() for t in texts):
            event = definition.getparent()
            yield Finding(
                "timer-without-definition",
                ERROR,
                event,
                f"timer {_name(event)!r} has no date, duration or cycle; set one (e.g. duration PT2H) "
                "in Camunda Modeler",
            )


def _service_calls(process: Any, context: LintContext) -> Iterator[tuple[Any, TopicMeta, Any]]:
    for node in process.iter(f"{BPMN}serviceTask", f"{BPMN}sendTask"):
        try:
            call = parse_service_call(node)
        except Exception:  # a malformed delegateExpression is reported by the definitions lint
            continue
        meta = context.topics.get(call.topic) if call.topic else None
        if meta is not None:
            yield node, meta, call


@rule("handler-input-unknown", WARNING)
def handler_input_unknown(process: Any, context: LintContext) -> Iterable[Finding]:
    """A service task maps an input its handler does not read."""
    for node, meta, call in _service_calls(process, context):
        for param in call.inputs:
            if param.name not in meta.input_names:
                yield Finding(
                    "handler-input-unknown",
                    WARNING,
                    node,
                    f"input {param.name!r} of {_name(node)!r} is not read by topic {call.topic!r} "
                    f"(it reads: {', '.join(sorted(meta.input_names)) or 'nothing'}); check the spelling",
                )


@rule("handler-input-missing", ERROR)
def handler_input_missing(process: Any, context: LintContext) -> Iterable[Finding]:
    """A service task leaves out an input its handler requires, or gives it a value it refuses."""
    for node, meta, call in _service_calls(process, context):
        mapped = {p.name: p for p in call.inputs}
        for item in meta.inputs:
            param = mapped.get(item.name)
            if param is None and item.required and item.default is None:
                yield Finding(
                    "handler-input-missing",
                    ERROR,
                    node,
                    f"{_name(node)!r} does not set input {item.name!r}, which topic {call.topic!r} requires; "
                    "apply the topic's element template or add the input mapping",
                )
            elif (
                param is not None
                and item.allowed_values()
                and param.kind == "text"
                and isinstance(param.value, str)
                and not is_expression(param.value)
                and param.value not in item.allowed_values()
            ):
                yield Finding(
                    "handler-input-missing",
                    ERROR,
                    node,
                    f"input {item.name!r} of {_name(node)!r} is {param.value!r}; "
                    f"topic {call.topic!r} accepts {', '.join(item.allowed_values())}",
                )


@rule("unknown-variable", WARNING)
def unknown_variable(process: Any, context: LintContext) -> Iterable[Finding]:
    """An expression reads a variable that nothing in the diagram sets (a typo guard)."""
    for found in unknown_reads(process, context.topics, context.forms):
        hint = f"; did you mean {found.guess!r}?" if found.guess else ""
        yield Finding(
            "unknown-variable",
            WARNING,
            found.read.node,
            f"{found.read.what} {found.read.source} reads {found.name!r}, which no form, handler output, "
            f"message payload or mapping in this diagram sets{hint}",
        )
