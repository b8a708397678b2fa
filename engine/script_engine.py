"""The SpiffWorkflow script engine, made safe for diagrams drawn by analysts.

SpiffWorkflow hands every gateway condition, multi-instance cardinality and completion
condition, timer spec, conditional event and Camunda message payload to
`workflow.script_engine.evaluate(task, text)`, and some process-level checks straight
to `script_engine.environment.evaluate(text, data)`. Its stock engine runs them with
Python's eval(); this one routes both through engine.expressions, so a diagram can
read and compare variables but never run code. Script tasks do run code, so they are
refused unless an admin enabled them.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import (
    LoopTask,
    MultiInstanceTask,
    ParallelMultiInstanceTask,
)
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptEngineTask
from SpiffWorkflow.util.task import TaskState

from engine.errors import EngineError
from engine.execution_view import evaluating_for
from engine.expressions import (
    Expression,
    ExpressionError,
    ExpressionEvaluationError,
    Functions,
    Template,
    compile_expression,
    compile_template,
)

TIMER, CONDITION, VALUE = "timer", "condition", "value"


class ScriptTasksDisabledError(EngineError):
    """A diagram has script tasks but this engine runs without allow_scripts."""

    def __init__(self, element_ids: Iterable[str] = (), task: Any = None) -> None:
        self.element_ids, self.task = tuple(element_ids), task
        names = ", ".join(repr(i) for i in self.element_ids)
        what = f"Script task{'s' if len(self.element_ids) > 1 else ''} {names}" if names else "A script"
        super().__init__(
            f"{what} cannot run: script tasks are disabled because they execute arbitrary Python. "
            'Model the step as a service task (camunda:type="external" camunda:topic="...") '
            "or have an admin enable script tasks (allow_scripts)."
        )


class ExpressionTaskError(WorkflowTaskException, EngineError):
    """An expression failed inside a running task.

    Both a SpiffWorkflow WorkflowTaskException (it carries `task` and the task trace, as
    SpiffWorkflow's own evaluate errors do) and an EngineError with our facts.
    """

    def __init__(self, error: ExpressionError | ExpressionEvaluationError, task: Any) -> None:
        self.error, self.expression, self.reason = error, error.expression, error.reason
        self.variable = getattr(error, "variable", None)
        self.element_id = getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name
        super().__init__(f"In {self.element_id!r}: {error}", task=task, exception=error)

    def __str__(self) -> str:
        return ". ".join([Exception.__str__(self), *self.notes])


class SafeEnvironment(TaskDataEnvironment):
    """SpiffWorkflow's environment with eval() replaced by engine.expressions.

    BpmnProcessSpec (ad-hoc completion) and message correlation call the environment
    directly, bypassing the script engine, so the environment must be safe too.
    """

    def __init__(self, functions: Functions, allow_scripts: bool) -> None:
        super().__init__({})
        self.functions, self.allow_scripts = functions, allow_scripts

    def evaluate(
        self, expression: str | None, context: Mapping[str, Any], external_context: Any = None
    ) -> Any:
        """Evaluate with task data first, then external context (SpiffWorkflow's precedence)."""
        if expression is None:
            return None
        variables = ChainMap(context, external_context) if external_context else context
        return compile_expression(expression, self.functions).evaluate(variables, self.functions)

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        """Run a script with SpiffWorkflow's normal environment, only when scripts are allowed."""
        if not self.allow_scripts:
            raise ScriptTasksDisabledError()
        return super().execute(script, context, external_context)


class SafeScriptEngine(PythonScriptEngine):
    """Evaluates Camunda JUEL and plain-Python expressions safely; script tasks are opt-in.

    `functions` are extra functions expressions may call (e.g. date helpers); `clock`
    is what engine timers read as "now" (wall clock, UTC, by default).
    """

    def __init__(
        self,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        *,
        allow_scripts: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.functions = Functions(functions)
        self.allow_scripts = allow_scripts
        self._clock = clock
        super().__init__(environment=SafeEnvironment(self.functions, allow_scripts))

    def now(self) -> datetime:
        """The engine's clock: engine.specs timers ask for it, tests inject a fixed one."""
        return self._clock() if self._clock is not None else datetime.now(UTC)

    def compile(self, expression: str) -> Expression:
        """Deploy-time check of one expression with this engine's functions."""
        return compile_expression(expression, self.functions)

    def compile_template(self, text: str) -> Template:
        """Deploy-time check of a text template (inputOutput value, timer spec)."""
        return compile_template(text, self.functions)

    def validate(self, expression: str) -> None:
        """SpiffWorkflow's hook: raise (ExpressionSyntaxError is also a SyntaxError) if refused."""
        self.compile(expression)

    def evaluate(self, task: Any, expression: str | None, external_context: Any = None) -> Any:
        """Evaluate for `task`; errors become ExpressionTaskError, which carries the task.

        Camunda's message throw passes None when camunda:expression is absent: that is
        a None payload, not an error.
        """
        if expression is None:
            return None
        try:
            with evaluating_for(task):
                return self._evaluate(task, expression, external_context)
        except (ExpressionError, ExpressionEvaluationError) as err:
            raise ExpressionTaskError(err, task) from err

    def _evaluate(self, task: Any, expression: str, external_context: Any) -> Any:
        role = expression_role(task, expression)
        if role == TIMER:
            return _timer_text(self.compile_template(expression).render(task.data, self.functions))
        layers = [
            layer for layer in (_loop_variables(task, expression), task.data, external_context) if layer
        ]
        variables = ChainMap(*layers) if len(layers) > 1 else (layers[0] if layers else {})
        compiled = self.compile(expression)
        if role == CONDITION:
            return compiled.test(variables, self.functions)
        return compiled.evaluate(variables, self.functions)

    def execute(self, task: Any, script: str, external_context: Any = None) -> Any:
        """Run a script task, or refuse with ScriptTasksDisabledError naming its element."""
        if not self.allow_scripts:
            raise ScriptTasksDisabledError(
                [getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name], task
            )
        return super().execute(task, script, external_context)

    def refuse_script_tasks(self, process_specs: Iterable[Any]) -> None:
        """Deploy check: refuse a diagram with script tasks when scripts are disabled."""
        if not self.allow_scripts and (ids := find_script_tasks(process_specs)):
            raise ScriptTasksDisabledError(ids)

    def expression_problems(self, process_specs: Iterable[Any]) -> list[ExpressionProblem]:
        """Deploy check: every expression in the specs that would be refused, with its element."""
        problems = []
        for found in find_expressions(process_specs):
            try:
                if found.role == TIMER:
                    self.compile_template(found.text)
                else:
                    self.compile(found.text)
            except ExpressionError as err:
                problems.append(ExpressionProblem(found.element_id, found.role, found.text, err))
        return problems


# ------------------------------------------------------------ where expressions live


@dataclass(frozen=True)
class SpecExpression:
    """One expression in a parsed process, with the element that owns it."""

    element_id: str
    role: str  # condition | cardinality | timer | payload
    text: str


@dataclass(frozen=True)
class ExpressionProblem:
    """A refused expression found at deploy time."""

    element_id: str
    role: str
    text: str
    error: ExpressionError


def _event_definitions(spec: Any) -> list[Any]:
    definition = getattr(spec, "event_definition", None)
    return list(getattr(definition, "event_definitions", None) or ([definition] if definition else []))


def _element_id(spec: Any) -> str:
    return getattr(spec, "bpmn_id", None) or spec.name


def find_expressions(process_specs: Iterable[Any]) -> list[SpecExpression]:
    """Every expression SpiffWorkflow will evaluate for these process specs.

    The same places SpiffWorkflow calls the script engine from: gateway flow
    conditions, multi-instance cardinality and completion condition, loop conditions,
    timer specs, conditional events and Camunda message payloads.
    """
    found: list[SpecExpression] = []
    for process in process_specs:
        for spec in process.task_specs.values():
            element = _element_id(spec)
            for condition, target in getattr(spec, "cond_task_specs", ()):
                if condition is not None and condition.args[0] is not None:
                    found.append(SpecExpression(f"{element} -> {target}", CONDITION, condition.args[0]))
            if isinstance(spec, MultiInstanceTask) and isinstance(spec.cardinality, str):
                found.append(SpecExpression(element, "cardinality", spec.cardinality))
            if isinstance(spec, LoopTask) and getattr(spec, "condition", None):
                found.append(SpecExpression(element, CONDITION, spec.condition))
            for definition in _event_definitions(spec):
                text = getattr(definition, "expression", None)
                if not isinstance(text, str):
                    continue
                if isinstance(definition, TimerEventDefinition):
                    found.append(SpecExpression(element, TIMER, text))
                elif isinstance(definition, ConditionalEventDefinition):
                    found.append(SpecExpression(element, CONDITION, text))
                else:
                    found.append(SpecExpression(element, "payload", text))
    return found


def find_script_tasks(process_specs: Iterable[Any]) -> list[str]:
    """Element ids of the script tasks in these process specs (pass the subprocess specs too)."""
    return sorted(
        {
            _element_id(spec)
            for process in process_specs
            for spec in process.task_specs.values()
            if isinstance(spec, ScriptEngineTask)
        }
    )


def expression_role(task: Any, expression: str) -> str:
    """What SpiffWorkflow is asking for, judged from where the text sits on the task's spec.

    Timers are literal ISO text unless they hold ${...} (Camunda's rule); conditions
    get EL's boolean coercion; everything else is a plain value.
    """
    spec = task.task_spec
    for definition in _event_definitions(spec):
        if getattr(definition, "expression", None) == expression:
            if isinstance(definition, TimerEventDefinition):
                return TIMER
            if isinstance(definition, ConditionalEventDefinition):
                return CONDITION
    for condition, _ in getattr(spec, "cond_task_specs", ()):
        if condition is not None and condition.args[0] == expression:
            return CONDITION
    if _loop_owner(task, expression) is not None:
        return CONDITION
    return VALUE


def _loop_owner(task: Any, expression: str) -> Any:
    """The multi-instance/loop task whose completion condition this is (SpiffWorkflow
    evaluates it on the last finished child)."""
    for candidate in (task, task.parent):
        spec = getattr(candidate, "task_spec", None)
        if isinstance(spec, LoopTask) and getattr(spec, "condition", None) == expression:
            return candidate
    return None


def _loop_variables(task: Any, expression: str) -> dict[str, int]:
    """Camunda's nrOfInstances / nrOfCompletedInstances / nrOfActiveInstances for completion
    conditions such as ${nrOfCompletedInstances >= 2}; SpiffWorkflow does not set them."""
    owner = _loop_owner(task, expression)
    if owner is None or not isinstance(owner.task_spec, MultiInstanceTask):
        return {}
    spec, data = owner.task_spec, owner.internal_data
    instances = [child for child in owner.children if child.task_spec.name == spec.task_spec]
    completed = len(data.get("merged", []))
    active = sum(1 for child in instances if not child.has_state(TaskState.FINISHED_MASK))
    if isinstance(spec, ParallelMultiInstanceTask):
        total = len(instances)
    elif "cardinality" in data:
        total = data["cardinality"]
    else:
        total = completed + active + len(data.get("remaining", []))
    return {"nrOfInstances": total, "nrOfCompletedInstances": completed, "nrOfActiveInstances": active}


def _timer_text(value: Any) -> str:
    """SpiffWorkflow's timer parsers want ISO text; accept dates and durations from ${...} too."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        return f"PT{int(seconds) if seconds.is_integer() else seconds}S"
    return str(value).strip()
