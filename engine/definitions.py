"""Parsing a set of deployed resources into process specs, forms and problems.

Deploy and the runtime's definition cache share this one path, so what was validated
at deploy time is exactly what runs. SpiffWorkflow raises many kinds of exceptions on
files it cannot handle (KeyError on camunda:decisionRef, "Data Store has no
implementation", subprocesses without a start event); every one is turned into a
`Problem` naming the resource and, where known, the element and line.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent as StartEventMixin
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask

from engine.expressions import ExpressionError, compile_expression, compile_template, is_expression
from engine.forms import FormError, FormSchema, form_file_name, schema_from_form_data, schema_from_form_js
from engine.handlers import HandlerRegistry, TopicMeta, topic_catalog
from engine.lint import LintContext, lint_tree
from engine.parser import (
    CAMUNDA,
    EngineParser,
    Problem,
    UnsafeXmlError,
    load_xml,
    parse_service_call,
    problem_from_validation,
)
from engine.specs import EngineMessage, ExternalServiceTask

log = logging.getLogger(__name__)

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
B = f"{{{BPMN_NS}}}"


def is_bpmn_name(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(".bpmn") or lower.endswith(".bpmn20.xml") or lower.endswith(".bpmn.xml")


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@dataclass
class ProcessInfo:
    """One executable process found in the resources, ready to run."""

    key: str
    name: str | None
    resource: str
    spec: Any
    subprocess_specs: dict[str, Any]
    start_form: FormSchema
    task_forms: dict[str, FormSchema]
    message_starts: list[str]
    missing_called: list[str] = field(default_factory=list)


@dataclass
class ParsedResources:
    """Everything parsing a deployment yields; `errors` empty means it may be deployed."""

    processes: dict[str, ProcessInfo] = field(default_factory=dict)
    forms: dict[str, FormSchema] = field(default_factory=dict)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def parse_resources(
    resources: dict[str, bytes],
    *,
    allow_scripts: bool = False,
    known_topics: HandlerRegistry | Mapping[str, TopicMeta | None] | Iterable[str] = frozenset(),
    lint: bool = True,
) -> ParsedResources:
    """Parse and check every resource; never raises for bad input, returns problems instead.

    `known_topics` is the handler registry (or its catalog): with topic metadata the lint
    also checks service-task inputs and the variables expressions read; bare topic names
    only tell which topics have an in-process handler.
    """
    topics = topic_catalog(known_topics)
    result = ParsedResources()
    for name, content in resources.items():
        if name.lower().endswith(".form"):
            try:
                result.forms[name.rsplit("/", 1)[-1]] = schema_from_form_js(content, name)
            except FormError as err:
                result.errors.append(Problem(name, str(err)))

    parser = EngineParser()
    trees: dict[str, etree._ElementTree] = {}
    for name, content in resources.items():
        if not is_bpmn_name(name):
            continue
        tree = _load(name, content, result)
        if tree is None:
            continue
        trees[name] = tree
        if lint:
            _lint_tree(name, tree, result, allow_scripts=allow_scripts, known_topics=topics)
            _add_findings(name, lint_tree(tree, LintContext(topics, result.forms)), result)
        try:
            parser.add_bpmn_xml(tree, filename=name)
        except ValidationException as err:
            result.errors.append(problem_from_validation(err, name))
        except Exception as err:  # SpiffWorkflow raises bare KeyError/Exception on some files
            result.errors.append(_foreign_problem(name, err))

    if result.errors:
        return result

    for key in parser.get_process_ids():
        process_parser = parser.get_process_parser(key)
        resource = process_parser.filename or ""
        try:
            spec = parser.get_spec(key)
            subprocess_specs = parser.get_subprocess_specs(key, require_call_activity_specs=False)
        except ValidationException as err:
            result.errors.append(problem_from_validation(err, resource))
            continue
        except Exception as err:
            result.errors.append(_foreign_problem(resource, err))
            continue
        missing = sorted(k for k, v in subprocess_specs.items() if v is None)
        for called in missing:
            result.warnings.append(
                Problem(
                    resource,
                    f"calls process {called!r}, which is not in this deployment; "
                    "the latest deployed version is used at run time",
                    severity="warning",
                )
            )
        info = ProcessInfo(
            key=key,
            name=process_parser.node.get("name"),
            resource=resource,
            spec=spec,
            subprocess_specs={k: v for k, v in subprocess_specs.items() if v is not None},
            start_form=FormSchema(),
            task_forms={},
            message_starts=_message_starts(spec),
            missing_called=missing,
        )
        _attach_forms(info, process_parser.node, result)
        result.processes[key] = info

    for name, tree in trees.items():
        _warn_non_executable(name, tree, result)
    return result


def _load(name: str, content: bytes, result: ParsedResources) -> etree._ElementTree | None:
    try:
        tree = load_xml(content, name)
    except UnsafeXmlError as err:
        result.errors.append(Problem(name, str(err)))
        return None
    except etree.XMLSyntaxError as err:
        line, column = err.position if err.position else (None, None)
        result.errors.append(Problem(name, f"XML is not well formed: {err.msg}", line=line, column=column))
        return None
    root = tree.getroot()
    if root.tag != f"{B}definitions":
        result.errors.append(
            Problem(
                name,
                f"root element is {root.tag!r}, not bpmn:definitions; this is not a BPMN 2.0 file",
                line=root.sourceline,
            )
        )
        return None
    return tree


def _add_findings(name: str, findings: list[Any], result: ParsedResources) -> None:
    """engine.lint findings become located problems; the rule id names the analyst guide's entry.

    A refused file gets only the lint's errors: the analyst fixes those first, and its
    warnings come with the next deploy rather than burying them.
    """
    refused = any(p.resource == name for p in result.errors) or any(f.severity == "error" for f in findings)
    for finding in findings:
        if refused and finding.severity != "error":
            continue
        problem = Problem(
            name,
            f"{finding.message} (rule {finding.rule})",
            element_id=finding.node.get("id"),
            line=finding.node.sourceline,
            severity=finding.severity,
        )
        (result.errors if finding.severity == "error" else result.warnings).append(problem)


def _foreign_problem(resource: str, err: Exception) -> Problem:
    text = str(err)
    if isinstance(err, KeyError) and "decisionRef" in text:
        text = "a business rule task has no camunda:decisionRef; DMN decisions are not supported"
    elif "Data Store" in text:
        text = f"{text}: data stores are not supported by this engine"
    return Problem(resource, f"cannot be executed: {text or type(err).__name__}")


def _message_starts(spec: Any) -> list[str]:
    names = []
    for task_spec in spec.task_specs.values():
        if isinstance(task_spec, StartEventMixin):
            definition = getattr(task_spec, "event_definition", None)
            if isinstance(definition, EngineMessage):
                names.append(definition.name)
    return sorted(set(names))


def _attach_forms(info: ProcessInfo, process_node: Any, result: ParsedResources) -> None:
    """Resolve start and user-task forms now, so a missing .form fails the deploy, not a user."""
    for start in process_node.iter(f"{B}startEvent"):
        if start.getparent() is not process_node:
            continue
        schema = _form_for(start, info.resource, result)
        if schema is not None and schema.fields:
            info.start_form = schema
    for user_task in process_node.iter(f"{B}userTask"):
        info.task_forms[user_task.get("id")] = _form_for(user_task, info.resource, result) or FormSchema()


def _form_ref_file(form_ref: str | None) -> str | None:
    if not form_ref:
        return None
    return form_ref if form_ref.endswith(".form") else f"{form_ref}.form"


def _resolve_form_file(ref: str, resource: str, element_id: str | None, result: ParsedResources):
    if ref in result.forms:
        return result.forms[ref]
    for name, schema in result.forms.items():
        if name.rsplit(".", 1)[0] == ref.rsplit(".", 1)[0]:
            return schema
    result.errors.append(
        Problem(
            resource,
            f"form {ref!r} is not part of this deployment; deploy the .form file with the diagram",
            element_id=element_id,
        )
    )
    return None


def _form_for(node: Any, resource: str, result: ParsedResources) -> FormSchema | None:
    key = node.get(f"{CAMUNDA}formKey")
    ref = form_file_name(key) or _form_ref_file(node.get(f"{CAMUNDA}formRef"))
    if ref:
        return _resolve_form_file(ref, resource, node.get("id"), result)
    fields = node.findall(f"{B}extensionElements/{CAMUNDA}formData/{CAMUNDA}formField")
    return schema_from_form_data(fields) if fields else None


def _warn_non_executable(name: str, tree: Any, result: ParsedResources) -> None:
    for process in tree.getroot().iter(f"{B}process"):
        if process.get("isExecutable") == "false" or (
            process.get("isExecutable") is None and process.get("id") not in result.processes
        ):
            result.warnings.append(
                Problem(
                    name,
                    "process is not executable (isExecutable is not true) and was skipped; "
                    "tick 'Executable' in Camunda Modeler to run it",
                    element_id=process.get("id"),
                    line=process.sourceline,
                    severity="warning",
                )
            )


_EXPRESSION_ATTRS = ("assignee", "candidateGroups", "candidateUsers", "dueDate", "followUpDate", "priority")


def _lint_tree(
    name: str,
    tree: Any,
    result: ParsedResources,
    *,
    allow_scripts: bool,
    known_topics: Mapping[str, TopicMeta | None],
) -> None:
    """Checks SpiffWorkflow does not make: hostile or broken expressions, topics, scripts, unknown tags."""
    root = tree.getroot()

    def owner(node: Any) -> Any:
        while node is not None and node.get("id") is None:
            node = node.getparent()
        return node

    def add(node: Any, message: str, severity: str = "error") -> None:
        el = owner(node)
        problem = Problem(
            name,
            message,
            element_id=el.get("id") if el is not None else None,
            line=node.sourceline,
            severity=severity,
        )
        (result.errors if severity == "error" else result.warnings).append(problem)

    def check_expression(node: Any, text: str | None, what: str, *, template: bool = False) -> None:
        if not text or not text.strip():
            return
        try:
            if template or is_expression(text) and not text.strip().startswith(("${", "#{")):
                compile_template(text)
            elif is_expression(text) or not template:
                compile_expression(text)
        except ExpressionError as err:
            add(node, f"{what}: {err}")

    for cond in root.iter(f"{B}conditionExpression", f"{B}completionCondition"):
        if cond.get("language") not in (None, "", "juel", "JUEL", "python"):
            add(cond, f"expression language {cond.get('language')!r} is not supported; use JUEL ${{...}}")
            continue
        check_expression(cond, cond.text, "condition")
    for card in root.iter(f"{B}loopCardinality"):
        check_expression(card, card.text, "loop cardinality")
    for tag in ("timeDate", "timeDuration", "timeCycle"):
        for node in root.iter(f"{B}{tag}"):
            if node.text and is_expression(node.text):
                check_expression(node, node.text, f"timer {tag}", template=True)
    for param in root.iter(
        f"{CAMUNDA}inputParameter", f"{CAMUNDA}outputParameter", f"{CAMUNDA}value", f"{CAMUNDA}entry"
    ):
        if param.text and is_expression(param.text):
            check_expression(
                param, param.text, f"parameter {param.get('name') or param.get('key') or ''}", template=True
            )
    for user_task in root.iter(f"{B}userTask"):
        for attr in _EXPRESSION_ATTRS:
            value = user_task.get(f"{CAMUNDA}{attr}")
            if value and is_expression(value):
                check_expression(user_task, value, f"camunda:{attr}", template=True)
    for mi in root.iter(f"{B}multiInstanceLoopCharacteristics"):
        collection = mi.get(f"{CAMUNDA}collection")
        if collection and is_expression(collection):
            check_expression(mi, collection, "camunda:collection")
    for script in root.iter(f"{B}scriptTask"):
        if not allow_scripts:
            add(
                script,
                "script tasks run arbitrary code and are disabled; an admin can enable them "
                "(ALLOW_SCRIPT_TASKS=1), or use a service task with a handler",
            )
    for tag in ("serviceTask", "sendTask", "businessRuleTask"):
        for node in root.iter(f"{B}{tag}"):
            _lint_service(node, tag, add, check_expression, known_topics)
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        ns = node.tag[1:].split("}", 1)[0] if node.tag.startswith("{") else ""
        parent = node.getparent()
        in_extension = any(a.tag == f"{B}extensionElements" for a in node.iterancestors())
        if ns not in _KNOWN_NAMESPACES and not in_extension and parent is not None:
            add(
                node,
                f"element {etree.QName(node).localname!r} in namespace {ns or '(none)'} is not "
                "BPMN and is ignored",
                severity="warning",
            )


_KNOWN_NAMESPACES = {
    BPMN_NS,
    "http://www.omg.org/spec/BPMN/20100524/DI",
    "http://www.omg.org/spec/DD/20100524/DC",
    "http://www.omg.org/spec/DD/20100524/DI",
    "http://camunda.org/schema/1.0/bpmn",
    "http://bpmn.io/schema/bpmn/biocolor/1.0",
    "http://www.omg.org/spec/BPMN/non-normative/color/1.0",
}


def _lint_service(node: Any, tag: str, add: Any, check_expression: Any, known_topics: Any) -> None:
    if tag == "businessRuleTask":
        if node.get(f"{CAMUNDA}decisionRef"):
            add(
                node,
                "business rule tasks calling DMN decisions are not supported; "
                "use a service task with a handler",
            )
        return
    try:
        call = parse_service_call(node)
    except ValidationException as err:
        add(node, str(err.args[0]))
        return
    if call.implementation == "external" and not call.topic:
        add(node, "external service task has no camunda:topic; set the topic in Camunda Modeler")
    elif call.implementation == "expression":
        check_expression(node, call.expression, "camunda:expression")
    elif call.topic and call.topic not in known_topics and tag == "serviceTask":
        add(
            node,
            f"topic {call.topic!r} has no in-process handler; the task will wait for an external "
            "worker (fetchAndLock)",
            severity="warning",
        )


def find_service_tasks(spec: Any) -> list[ExternalServiceTask]:
    return [t for t in spec.task_specs.values() if isinstance(t, ExternalServiceTask)]


def called_elements(spec: Any) -> list[str]:
    return [t.spec for t in spec.task_specs.values() if isinstance(t, SubWorkflowTask)]
