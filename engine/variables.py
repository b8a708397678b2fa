"""Which process variables a diagram sets and which its expressions read: the analyst's typo guard.

A condition such as `${aproved}` deploys fine and fails only when a request reaches the
gateway. At deploy time we can see every place a variable comes from — start and user-task
forms, handler outputs, message payloads, output mappings, script results — and warn when
an expression reads a name none of them provides. When a diagram has a source whose
variables cannot be known (an HTML form, a handler without metadata, a message without a
declared payload, a call activity, a Java listener), the check stays silent for that
process rather than guess: a false alarm teaches analysts to ignore warnings.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from engine.expressions import ExpressionError, compile_expression, compile_template, is_expression
from engine.forms import FormSchema, form_file_name
from engine.handlers import TopicMeta
from engine.parser import CAMUNDA, parse_properties, parse_service_call

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"

#: Names an expression may read without any element setting them.
WELL_KNOWN = frozenset(
    {
        "execution",
        "task",
        "businessKey",
        "business_key",
        "loopCounter",
        "nrOfInstances",
        "nrOfActiveInstances",
        "nrOfCompletedInstances",
    }
)
#: A message event lists the variables its payload brings in this camunda:property (comma-separated).
PAYLOAD_PROPERTY = "payload"

_USER_TASK_ATTRS = ("assignee", "candidateGroups", "candidateUsers", "dueDate", "followUpDate", "priority")
_MESSAGE_HOLDERS = ("startEvent", "intermediateCatchEvent", "boundaryEvent", "receiveTask")
_SET_VARIABLE = re.compile(r"""setVariable(?:Local)?\(\s*["']([A-Za-z_]\w*)["']""")


@dataclass(frozen=True)
class Read:
    """One expression in the diagram and the variables it reads."""

    node: Any  # the XML element the expression sits on (for the element id and line)
    what: str
    source: str
    names: frozenset[str]


@dataclass
class Provided:
    """The variables a process can have; `unknown` lists why the set cannot be known (then: no check)."""

    names: set[str] = field(default_factory=set)
    unknown: list[str] = field(default_factory=list)


def _local(tag: str) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _elements(process: Any, *tags: str) -> Iterator[Any]:
    return process.iter(*(f"{BPMN}{t}" for t in tags))


def _form_fields(node: Any, forms: Mapping[str, FormSchema], provided: Provided) -> None:
    for form_field in node.findall(f"{BPMN}extensionElements/{CAMUNDA}formData/{CAMUNDA}formField"):
        if form_field.get("id"):
            provided.names.add(form_field.get("id"))
    key = node.get(f"{CAMUNDA}formKey")
    ref = form_file_name(key) or node.get(f"{CAMUNDA}formRef")
    if ref:
        stem = ref.rsplit("/", 1)[-1].removesuffix(".form")
        schema = next((s for name, s in forms.items() if name.removesuffix(".form") == stem), None)
        if schema is None:
            provided.unknown.append(f"form {ref!r} is not in the deployment")
        else:
            provided.names.update(f.id for f in schema.fields)
    elif key:
        provided.unknown.append(f"{node.get('id')} uses form {key!r}, whose fields are unknown")


def _script_outputs(script: Any, provided: Provided) -> None:
    if script.get(f"{CAMUNDA}resultVariable"):
        provided.names.add(script.get(f"{CAMUNDA}resultVariable"))
    text = script.findtext(f"{BPMN}script") or ""
    provided.names.update(_SET_VARIABLE.findall(text))
    if (script.get("scriptFormat") or "python").lower() not in ("python", "py"):
        return
    try:
        tree = ast.parse(text)
    except SyntaxError:
        provided.unknown.append(f"script {script.get('id')} cannot be read as Python")
        return
    provided.names.update(
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    )


def _service_outputs(node: Any, topics: Mapping[str, TopicMeta | None], provided: Provided) -> None:
    try:
        call = parse_service_call(node)
    except Exception:  # a malformed delegateExpression is reported by the definitions lint
        return
    if call.result_variable:
        provided.names.add(call.result_variable)
    if call.outputs:
        return  # only mapped outputs reach the process; their names are collected with all mappings
    if call.topic is None:
        return
    meta = topics.get(call.topic)
    if meta is None:
        provided.unknown.append(f"topic {call.topic!r} of {node.get('id')} declares no outputs")
        return
    provided.names.update(meta.output_names)


def _contract_inputs(node: Any, topics: Mapping[str, TopicMeta | None], provided: Provided) -> None:
    """An input defaulting to `${x}` says the process is expected to carry x (intake's request_id)."""
    try:
        call = parse_service_call(node)
    except Exception:
        return
    meta = topics.get(call.topic) if call.topic else None
    for item in meta.inputs if meta else ():
        if item.default and is_expression(item.default):
            try:
                provided.names.update(compile_template(item.default).names)
            except ExpressionError:
                continue


def _message_payload(node: Any, provided: Provided) -> None:
    for definition in node.findall(f"{BPMN}messageEventDefinition"):
        if definition.get(f"{CAMUNDA}resultVariable"):
            provided.names.add(definition.get(f"{CAMUNDA}resultVariable"))
    if _local(node.tag) != "receiveTask" and node.find(f"{BPMN}messageEventDefinition") is None:
        return
    declared = parse_properties(node).get(PAYLOAD_PROPERTY)
    if declared is None:
        provided.unknown.append(
            f"message event {node.get('id')} does not declare its payload "
            f'(camunda:property {PAYLOAD_PROPERTY}="a, b")'
        )
        return
    provided.names.update(n.strip() for n in declared.split(",") if n.strip())


def provided_variables(
    process: Any, topics: Mapping[str, TopicMeta | None], forms: Mapping[str, FormSchema]
) -> Provided:
    """Everything in `process` (nested subprocesses included) that sets a variable."""
    provided = Provided()
    for node in _elements(process, "startEvent", "userTask"):
        _form_fields(node, forms, provided)
        if node.get(f"{CAMUNDA}initiator"):
            provided.names.add(node.get(f"{CAMUNDA}initiator"))
    for node in _elements(process, "serviceTask", "sendTask", "businessRuleTask"):
        _service_outputs(node, topics, provided)
        _contract_inputs(node, topics, provided)
    for node in _elements(process, "scriptTask"):
        _script_outputs(node, provided)
    for node in _elements(process, *_MESSAGE_HOLDERS):
        _message_payload(node, provided)
    for node in _elements(process, "callActivity"):
        provided.unknown.append(f"call activity {node.get('id')} may return any variable")
    for param in process.iter(f"{CAMUNDA}outputParameter"):
        provided.names.add(param.get("name") or "")
    for mi in _elements(process, "multiInstanceLoopCharacteristics"):
        if mi.get(f"{CAMUNDA}elementVariable"):
            provided.names.add(mi.get(f"{CAMUNDA}elementVariable"))
    for definition in _elements(process, "errorEventDefinition", "escalationEventDefinition"):
        for attr in ("errorCodeVariable", "errorMessageVariable", "escalationCodeVariable"):
            if definition.get(f"{CAMUNDA}{attr}"):
                provided.names.add(definition.get(f"{CAMUNDA}{attr}"))
    for node in _elements(process, "dataObject", "dataObjectReference"):
        provided.names.update(v for v in (node.get("id"), node.get("name")) if v)
    for listener in process.iter(f"{CAMUNDA}executionListener", f"{CAMUNDA}taskListener"):
        if listener.get("class") or listener.get("delegateExpression"):
            provided.unknown.append("a Java listener may set any variable")
        script = listener.find(f"{CAMUNDA}script")
        if script is not None:
            provided.names.update(_SET_VARIABLE.findall(script.text or ""))
    for node in process.iter(f"{CAMUNDA}script"):
        provided.names.update(_SET_VARIABLE.findall(node.text or ""))
    provided.names.discard("")
    return provided


def _owner(node: Any) -> Any:
    while node is not None and node.get("id") is None:
        node = node.getparent()
    return node


def _read(node: Any, what: str, text: str | None, *, template: bool) -> Read | None:
    if not text or not text.strip():
        return None
    try:
        names = compile_template(text).names if template else compile_expression(text).names
    except ExpressionError:
        return None  # refused expressions are reported by the definitions lint
    return Read(_owner(node), what, text.strip(), frozenset(names)) if names else None


def variable_reads(process: Any) -> list[Read]:
    """Every expression the engine evaluates in `process`, with the variables it reads."""
    found: list[Read | None] = []
    for cond in process.iter(f"{BPMN}conditionExpression", f"{BPMN}completionCondition", f"{BPMN}condition"):
        if cond.get("language") in (None, "", "juel", "JUEL", "python"):
            found.append(_read(cond, "condition", cond.text, template=False))
    for card in _elements(process, "loopCardinality"):
        found.append(_read(card, "loop cardinality", card.text, template=False))
    for tag in ("timeDate", "timeDuration", "timeCycle"):
        for node in _elements(process, tag):
            if is_expression(node.text):
                found.append(_read(node, f"timer {tag}", node.text, template=True))
    for param in process.iter(f"{CAMUNDA}inputParameter", f"{CAMUNDA}outputParameter"):
        if is_expression(param.text):
            found.append(_read(param, f"parameter {param.get('name')}", param.text, template=True))
    for user_task in _elements(process, "userTask"):
        for attr in _USER_TASK_ATTRS:
            value = user_task.get(f"{CAMUNDA}{attr}")
            if is_expression(value):
                found.append(_read(user_task, f"camunda:{attr}", value, template=True))
    for form_field in process.iter(f"{CAMUNDA}formField"):
        if is_expression(form_field.get("defaultValue")):
            found.append(_read(form_field, "form default", form_field.get("defaultValue"), template=True))
    for mi in _elements(process, "multiInstanceLoopCharacteristics"):
        collection = mi.get(f"{CAMUNDA}collection")
        if collection and is_expression(collection):
            found.append(_read(mi, "camunda:collection", collection, template=False))
        elif collection and collection.isidentifier():
            found.append(Read(_owner(mi), "camunda:collection", collection, frozenset({collection})))
    for node in _elements(process, "serviceTask", "sendTask"):
        if node.get(f"{CAMUNDA}expression"):
            found.append(_read(node, "camunda:expression", node.get(f"{CAMUNDA}expression"), template=False))
    return [r for r in found if r is not None]


def _local_names(element: Any, topics: Mapping[str, TopicMeta | None]) -> set[str]:
    """Names visible only on the element itself: its input parameters and, for output mappings,
    the handler's results."""
    names: set[str] = set()
    for ancestor in [element, *element.iterancestors()]:
        names.update(
            p.get("name") or ""
            for p in ancestor.findall(f"{BPMN}extensionElements/{CAMUNDA}inputOutput/{CAMUNDA}inputParameter")
        )
    if _local(element.tag) in ("serviceTask", "sendTask"):
        try:
            call = parse_service_call(element)
        except Exception:
            return names
        meta = topics.get(call.topic) if call.topic else None
        if meta is not None:
            names.update(meta.output_names)
    return names


@dataclass(frozen=True)
class UnknownRead:
    """An expression reading a variable nothing in the diagram provides."""

    read: Read
    name: str
    guess: str | None


def unknown_reads(
    process: Any, topics: Mapping[str, TopicMeta | None], forms: Mapping[str, FormSchema]
) -> list[UnknownRead]:
    """Reads of names no source provides; empty when the process's variables cannot be known."""
    provided = provided_variables(process, topics, forms)
    if provided.unknown:
        return []
    known = provided.names | WELL_KNOWN
    out = []
    for read in variable_reads(process):
        local = _local_names(read.node, topics) if read.node is not None else set()
        for name in sorted(read.names - known - local):
            guess = difflib.get_close_matches(name, sorted(known | local), n=1)
            out.append(UnknownRead(read, name, guess[0] if guess else None))
    return out
