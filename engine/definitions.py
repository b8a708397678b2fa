"""Parsing a set of deployed resources into process specs, forms and problems.

Deploy and the runtime's definition cache share this one path, so what was validated
at deploy time is exactly what runs. SpiffWorkflow raises many kinds of exceptions on
files it cannot handle (KeyError on camunda:decisionRef, "Data Store has no
implementation", subprocesses without a start event); every one is turned into a
`Problem` naming the resource and, where known, the element and line.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent as StartEventMixin
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask

from engine import timer_schedule
from engine.bpmn_normalize import Normalized, juel_script, normalize
from engine.call_activity import refusals as call_activity_refusals
from engine.camunda_parse_rules import camunda_parse_errors
from engine.camunda_support import unsupported
from engine.events import adopt_engine_specs
from engine.expressions import ExpressionError, compile_expression, compile_template, is_expression
from engine.form_refs import FormCatalog, FormRefError, catalog_of, form_id, parse_form_ref, resolve
from engine.forms import FormError, FormSchema, form_file_name, schema_from_form_data, schema_from_form_js
from engine.handlers import HandlerRegistry, TopicMeta, topic_catalog
from engine.io_mapping import attach_io_mappings
from engine.lint import LintContext, lint_tree
from engine.parser import (
    CAMUNDA,
    EngineParser,
    Problem,
    UnsafeXmlError,
    is_process_timer_start,
    load_xml,
    parse_service_call,
    problem_from_validation,
)
from engine.retention import HistoryTimeToLiveError, parse_history_ttl
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
    late_form_refs: bool = False  # a formRef bound latest/version: a later form deploy may change it
    forms_stamp: tuple[int, int] | None = None  # engine.form_refs.forms_stamp when the forms were resolved
    initiator: str | None = None
    history_ttl: int | None = None  # camunda:historyTimeToLive in days (engine.retention)


@dataclass
class ParsedResources:
    """Everything parsing a deployment yields; `errors` empty means it may be deployed."""

    processes: dict[str, ProcessInfo] = field(default_factory=dict)
    forms: dict[str, FormSchema] = field(default_factory=dict)  # by file name (formKey)
    form_ids: dict[str, FormSchema] = field(default_factory=dict)  # by the form's "id" (formRef)
    form_catalog: FormCatalog = field(default_factory=FormCatalog)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


# Parsed deployments by content: every app, worker and test in a process loads the same bundled
# diagrams, and a copy of a parse costs a fraction of the parse (lxml, SpiffWorkflow's spec build
# and the lint). Bounded: the oldest entry goes first.
_PARSE_CACHE: OrderedDict[str, ParsedResources] = OrderedDict()
_PARSE_CACHE_SIZE = 32
_PARSE_CACHE_LOCK = threading.Lock()


def parse_resources(
    resources: dict[str, bytes],
    *,
    allow_scripts: bool = False,
    known_topics: HandlerRegistry | Mapping[str, TopicMeta | None] | Iterable[str] = frozenset(),
    lint: bool = True,
    form_catalog: FormCatalog | None = None,
) -> ParsedResources:
    """Parse and check every resource; never raises for bad input, returns problems instead.

    `known_topics` is the handler registry (or its catalog): with topic metadata the lint
    also checks service-task inputs and the variables expressions read; bare topic names
    only tell which topics have an in-process handler. `form_catalog` holds every deployed
    Camunda Form, these resources' included (engine.form_refs), for formRef's latest and
    version bindings; without it only these resources' forms are known.

    The same resources with the same options are parsed once per process: callers get their
    own deep copy (the runtime wires loop tasks and called processes into the specs it gets).
    """
    topics = topic_catalog(known_topics)
    key = _parse_key(resources, allow_scripts, topics if lint else {}, lint, form_catalog)
    with _PARSE_CACHE_LOCK:
        cached = _PARSE_CACHE.get(key)
        if cached is not None:
            _PARSE_CACHE.move_to_end(key)
    if cached is None:
        cached = _parse_resources(
            resources, allow_scripts=allow_scripts, topics=topics, lint=lint, form_catalog=form_catalog
        )
        with _PARSE_CACHE_LOCK:
            _PARSE_CACHE[key] = cached
            while len(_PARSE_CACHE) > _PARSE_CACHE_SIZE:
                _PARSE_CACHE.popitem(last=False)
    return copy.deepcopy(cached)


def _parse_key(
    resources: dict[str, bytes],
    allow_scripts: bool,
    topics: Mapping[str, Any],
    lint: bool,
    form_catalog: FormCatalog | None,
) -> str:
    """A digest of the resources' names and bytes, the options, the topics the lint reads and
    the deployed forms a formRef may bind to (a new form version must not hit a stale parse)."""
    forms = None if form_catalog is None else sorted(form_catalog.versions.items())
    digest = hashlib.sha256(
        f"{allow_scripts}|{lint}|{sorted(topics.items(), key=lambda kv: kv[0])!r}|{forms!r}".encode()
    )
    for name in sorted(resources):
        digest.update(b"\0" + name.encode() + b"\0" + hashlib.sha256(resources[name]).digest())
    return digest.hexdigest()


def _parse_resources(
    resources: dict[str, bytes],
    *,
    allow_scripts: bool,
    topics: Mapping[str, Any],
    lint: bool,
    form_catalog: FormCatalog | None,
) -> ParsedResources:
    result = ParsedResources()
    for name, content in resources.items():
        if name.lower().endswith(".form"):
            try:
                result.forms[name.rsplit("/", 1)[-1]] = schema_from_form_js(content, name)
            except FormError as err:
                result.errors.append(Problem(name, str(err)))
                continue
            if form_id(content) is not None:
                result.form_ids[form_id(content)] = result.forms[name.rsplit("/", 1)[-1]]
    own_forms = [(n, c) for n, c in resources.items() if n.lower().endswith(".form")]
    result.form_catalog = form_catalog if form_catalog is not None else catalog_of(own_forms)

    parser = EngineParser()
    trees: dict[str, etree._ElementTree] = {}
    ids = Normalized(None)
    for name, content in resources.items():
        if not is_bpmn_name(name):
            continue
        tree = _load(name, content, result)
        if tree is None:
            continue
        trees[name] = tree
        if lint:
            _lint_tree(name, tree, result, allow_scripts=allow_scripts, known_topics=topics)
            forms = {**result.forms, **{f"{key}.form": schema for key, schema in result.form_ids.items()}}
            _add_findings(name, lint_tree(tree, LintContext(topics, forms)), result)
        refused = [
            Problem(name, f"{u.attribute}: {u.message}", element_id=u.element.get("id"), line=u.line)
            for u in ([*unsupported(tree), *camunda_parse_errors(tree.getroot())] if lint else ())
        ]
        if refused:
            result.errors.extend(refused)
            continue
        normalized = normalize(tree)
        ids.renamed.update(normalized.renamed)
        ids.hidden |= normalized.hidden
        try:
            parser.add_bpmn_xml(normalized.tree, filename=name)
        except ValidationException as err:
            result.errors.append(_analyst_problem(problem_from_validation(err, name), ids))
        except Exception as err:  # SpiffWorkflow raises bare KeyError/Exception on some files
            result.errors.append(_foreign_problem(name, err))

    if result.errors:
        _locate(result, trees)
        return result

    for key in parser.get_process_ids():
        process_parser = parser.get_process_parser(key)
        resource = process_parser.filename or ""
        try:
            spec = parser.get_spec(key)
            subprocess_specs = _subprocess_specs(parser, spec)
        except ValidationException as err:
            result.errors.append(_analyst_problem(problem_from_validation(err, resource), ids))
            continue
        except Exception as err:
            result.errors.append(_foreign_problem(resource, err))
            continue
        all_specs = [spec, *(v for v in subprocess_specs.values() if v is not None)]
        _restore_analyst_ids(all_specs, ids)
        adopt_engine_specs(all_specs)
        attach_io_mappings(trees, all_specs)  # engine.io_mapping runs them
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
            initiator=_initiator(process_parser.node),
        )
        _attach_forms(info, process_parser.node, result)
        info.history_ttl = _history_ttl(process_parser.node, resource, result)
        info.task_forms = {ids.analyst_id(k) or k: v for k, v in info.task_forms.items()}
        result.processes[key] = info

    for name, tree in trees.items():
        _warn_non_executable(name, tree, result)
    _locate(result, trees)
    return result


def _locate(result: ParsedResources, trees: Mapping[str, Any]) -> None:
    """Give every problem that names an element the element's line.

    SpiffWorkflow's ValidationException reads `node.line_number`, which lxml elements do
    not have (they have `sourceline`), so its refusals arrive without a line.
    """
    for problem in [*result.errors, *result.warnings]:
        tree = trees.get(problem.resource)
        if tree is None:
            continue
        if not problem.element_id:
            element = _element_named_in(tree, problem.message)
            problem.element_id, problem.line = element.get("id"), problem.line or element.sourceline
        if problem.line:
            continue
        found = tree.getroot().xpath("//*[@id=$id]", id=problem.element_id)
        if found:
            problem.line = found[0].sourceline


def _element_named_in(tree: Any, message: str) -> Any:
    """The element a located-nowhere message is about: the one whose name or id it quotes.

    Some SpiffWorkflow refusals carry only a name ("Data Store with name X has no
    implementation"); the analyst needs the element. Failing any match, the process
    (else the definitions element) is named, so no refusal ever names nothing.
    """
    text = " ".join(message.split())
    best, best_len = None, 0
    for element in tree.getroot().iter():
        if not isinstance(element.tag, str) or not element.get("id"):
            continue
        for label in (element.get("name"), element.get("id")):
            label = " ".join((label or "").split())
            if len(label) > best_len and label in text:
                best, best_len = element, len(label)
    if best is not None:
        return best
    return (
        tree.getroot().find(f"{B}process")
        if tree.getroot().find(f"{B}process") is not None
        else tree.getroot()
    )


def _subprocess_specs(parser: EngineParser, spec: Any) -> dict[str, Any]:
    """Specs of every embedded subprocess and called process, None for those not in this deployment.

    SpiffWorkflow's get_subprocess_specs forgets require_call_activity_specs=False when it
    recurses, so a call activity inside an embedded subprocess calling a process deployed
    earlier was refused; Camunda resolves calledElement at run time.
    """
    found: dict[str, Any] = {}
    pending = [spec]
    while pending:
        for task_spec in pending.pop().task_specs.values():
            if isinstance(task_spec, SubWorkflowTask) and task_spec.spec not in found:
                child = parser.get_spec(task_spec.spec, required=False)
                found[task_spec.spec] = child
                if child is not None:
                    pending.append(child)
    return found


def _restore_analyst_ids(specs: Iterable[Any], ids: Normalized) -> None:
    """Give every task spec back the id the analyst drew (see engine.bpmn_normalize)."""
    for spec in specs:
        for task_spec in spec.task_specs.values():
            if getattr(task_spec, "bpmn_id", None):
                task_spec.bpmn_id = ids.analyst_id(task_spec.bpmn_id)


def _analyst_problem(problem: Problem, ids: Normalized) -> Problem:
    if problem.element_id:
        problem.element_id = ids.analyst_id(problem.element_id) or problem.element_id
    return problem


def _history_ttl(process_node: Any, resource: str, result: ParsedResources) -> int | None:
    """The process's camunda:historyTimeToLive in days; a bad value is a deploy error, as in Camunda."""
    raw = process_node.get(f"{CAMUNDA}historyTimeToLive")
    try:
        return parse_history_ttl(raw)
    except HistoryTimeToLiveError as err:
        result.errors.append(
            Problem(resource, str(err), element_id=process_node.get("id"), line=process_node.sourceline)
        )
        return None


def _initiator(process_node: Any) -> str | None:
    """camunda:initiator of the process's none start event: the variable that gets the starting user."""
    for start in process_node.findall(f"{B}startEvent"):
        if start.get(f"{CAMUNDA}initiator"):
            return start.get(f"{CAMUNDA}initiator")
    return None


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
        text = "a business rule task has no camunda:decisionRef; name the decision table to evaluate"
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
    info.late_form_refs = any(
        node.get(f"{CAMUNDA}formRef") is not None and node.get(f"{CAMUNDA}formRefBinding") != "deployment"
        for node in (*process_node.iter(f"{B}startEvent"), *process_node.iter(f"{B}userTask"))
    )
    for start in process_node.iter(f"{B}startEvent"):
        if start.getparent() is not process_node:
            continue
        schema = _form_for(start, info.resource, result)
        if schema is not None and schema.fields:
            info.start_form = schema
    for user_task in process_node.iter(f"{B}userTask"):
        info.task_forms[user_task.get("id")] = _form_for(user_task, info.resource, result) or FormSchema()


def _resolve_form_file(ref: str, node: Any, resource: str, result: ParsedResources) -> FormSchema | None:
    """camunda:formKey="camunda-forms:…:x.form" names a resource path, as in Camunda."""
    if ref in result.forms:
        return result.forms[ref]
    result.errors.append(
        Problem(
            resource,
            f"camunda:formKey names form file {ref!r}, which is not part of this deployment; "
            "deploy the .form file with the diagram",
            element_id=node.get("id"),
            line=node.sourceline,
        )
    )
    return None


def _resolve_form_ref(node: Any, resource: str, result: ParsedResources) -> FormSchema | None:
    """camunda:formRef names a Camunda Form by its id, with a binding (engine.form_refs)."""
    try:
        ref = parse_form_ref(node)
    except FormRefError as err:
        result.errors.append(Problem(resource, str(err), element_id=node.get("id"), line=node.sourceline))
        return None
    assert ref is not None
    schema = resolve(ref, result.form_ids, result.form_catalog)
    if schema is not None:
        return schema
    if ref.binding == "deployment":
        known = ", ".join(sorted(result.form_ids)) or "none"
        result.errors.append(
            Problem(
                resource,
                f"camunda:formRef asks for {ref.describe()}, but no .form file in this deployment has "
                f'"id": "{ref.form_id}" (forms here: {known}); deploy that form with the diagram, '
                "or fix the id in the form or in camunda:formRef",
                element_id=node.get("id"),
                line=node.sourceline,
            )
        )
    else:
        result.warnings.append(
            Problem(
                resource,
                f"camunda:formRef asks for {ref.describe()}, which is not deployed yet; the task shows "
                "no form until a .form file with that id is deployed",
                element_id=node.get("id"),
                line=node.sourceline,
                severity="warning",
            )
        )
    return None


def _form_for(node: Any, resource: str, result: ParsedResources) -> FormSchema | None:
    if node.get(f"{CAMUNDA}formRef") is not None:
        return _resolve_form_ref(node, resource, result)
    ref = form_file_name(node.get(f"{CAMUNDA}formKey"))
    if ref:
        return _resolve_form_file(ref, node, resource, result)
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
        # An event definition's id (TimerEventDefinition_1) is not what the analyst sees: name the event.
        while node is not None and (
            node.get("id") is None or etree.QName(node).localname.endswith("Definition")
        ):
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
            add(node, f"{what}: {err}{_way_out(str(err))}")

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
            elif node.text and node.text.strip():
                _check_timer_value(node, tag, add)
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
            elif value and attr in ("dueDate", "followUpDate"):
                try:  # a written date or duration is checked now, not when the first task is due
                    timer_schedule.parse_due(value, datetime.now(UTC))
                except timer_schedule.TimerSpecError as err:
                    add(user_task, f"camunda:{attr}: {err}")
    for mi in root.iter(f"{B}multiInstanceLoopCharacteristics"):
        collection = mi.get(f"{CAMUNDA}collection")
        if collection and is_expression(collection):
            check_expression(mi, collection, "camunda:collection")
    for node, message in call_activity_refusals(root):
        add(node, message)
    for script in root.iter(f"{B}scriptTask"):
        expression = juel_script(script)
        if expression is not None:  # an expression, run by the sandbox (engine.bpmn_normalize)
            check_expression(script, expression, "script", template=True)
        elif not allow_scripts:
            add(
                script,
                "script tasks run arbitrary code and are disabled; an admin can enable them "
                "(ALLOW_SCRIPT_TASKS=1), or use a service task with a handler",
            )
        elif (script.get("scriptFormat") or "python").lower() not in SCRIPT_FORMATS:
            add(script, _script_format_refusal("scriptFormat", script.get("scriptFormat")))
    for script in root.iter(f"{CAMUNDA}script"):
        if (script.get("scriptFormat") or "python").lower() not in SCRIPT_FORMATS:
            add(script, _script_format_refusal("camunda:script scriptFormat", script.get("scriptFormat")))
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


def _check_timer_value(node: Any, tag: str, add: Any) -> None:
    """A literal date, duration or cycle must be one the engine can schedule; say so at deploy.

    A process's timer start events are checked by the parser (engine.timer_start); a cron
    `timeCycle` elsewhere runs as Camunda's does (engine.specs.EngineCycleTimer).
    """
    event = node.getparent().getparent() if node.getparent() is not None else None
    if event is not None and is_process_timer_start(event):
        return
    text = node.text.strip()
    try:
        if tag == "timeDate":
            timer_schedule.parse_date(text, UTC)
        elif tag == "timeDuration":
            timer_schedule.parse_duration(text)
        elif timer_schedule.is_cron(text):
            timer_schedule.check_cron(text)
    except timer_schedule.TimerSpecError as err:
        add(node, f"timer {tag}: {err}")


#: Script languages the enabled script engine runs (engine.script_engine is Python only).
SCRIPT_FORMATS = frozenset({"python", "py"})


def _script_format_refusal(attribute: str, script_format: str | None) -> str:
    return (
        f"{attribute} {script_format!r} is not supported: this engine runs Python scripts only; "
        "rewrite the script in Python (scriptFormat python) or move the logic to a service task "
        "with a handler"
    )


def _way_out(error: str) -> str:
    """What to do instead of a Camunda construct the safe evaluator does not run."""
    if "'dateTime()'" in error:
        return (
            " Joda's dateTime() is not available: pass the moment in as a Date variable, "
            "or write an ISO 8601 date or duration (e.g. P2D) literally."
        )
    if "not an allowed method" in error or "not an allowed function" in error:
        return (
            " Java beans and their methods are not available: serve the work with a handler "
            '(camunda:type="external" camunda:topic="...") and compare the variables it sets.'
        )
    return ""


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
    if tag == "businessRuleTask" and node.get(f"{CAMUNDA}decisionRef") is not None:
        return  # a decision table: its attributes are checked by the parser (engine.decision_task)
    try:
        call = parse_service_call(node)
    except ValidationException as err:
        add(node, str(err.args[0]))
        return
    if tag == "businessRuleTask" and call.implementation == "none":
        add(
            node,
            "a business rule task needs camunda:decisionRef (the decision table to evaluate) or an "
            'implementation (camunda:type="external" with a topic); set it in Camunda Modeler',
        )
    elif call.implementation == "external" and not call.topic:
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
