"""`execution` in expressions: Camunda's DelegateExecution as far as an expression can use it.

Analysts write `${execution.processBusinessKey}`, `${execution.getVariable('approved') == true}`
(null, not an error, when the variable is not set) and, on a service task,
`camunda:expression="${execution.setVariable('approved', true)}"`. Camunda resolves the name
`execution` before any variable. Here the step being run (engine.runtime) says which instance
and definition it is, and the script engine says which task evaluates; the view reads and writes
that task's variables. Nothing else of the engine is reachable through it.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class StepIdentity:
    """The instance a step runs on, as the view reports it; who acts and the engine's "now"."""

    instance_id: str
    business_key: str | None
    definition_id: str
    user: str | None = None
    now: datetime | None = None


class ExecutionUnavailable(Exception):
    """An execution method that cannot work where it was called (said to the analyst)."""


_STEP: ContextVar[StepIdentity | None] = ContextVar("engine_step", default=None)
_TASK: ContextVar[Any] = ContextVar("engine_task", default=None)


@contextmanager
def running_step(identity: StepIdentity) -> Iterator[None]:
    """Everything evaluated inside belongs to this instance."""
    token = _STEP.set(identity)
    try:
        yield
    finally:
        _STEP.reset(token)


@contextmanager
def evaluating_for(task: Any) -> Iterator[None]:
    """Expressions evaluated inside belong to this SpiffWorkflow task (its element, its data)."""
    token = _TASK.set(task)
    try:
        yield
    finally:
        _TASK.reset(token)


class ExecutionView(Mapping[str, Any]):
    """Read-only properties as a map (JUEL's `execution.x`), plus the methods in EXECUTION_METHODS."""

    __slots__ = ("_variables",)

    def __init__(self, variables: Mapping[str, Any]) -> None:
        self._variables = variables

    def __getitem__(self, key: str) -> Any:
        """One property, computed alone: `execution.processBusinessKey` must not copy every variable."""
        return _PROPERTIES[key](self._variables, _STEP.get(), _TASK.get())

    def __iter__(self) -> Iterator[str]:
        return iter(_PROPERTIES)

    def __len__(self) -> int:
        return len(_PROPERTIES)

    def __repr__(self) -> str:
        return "execution"

    def get_variable(self, name: str) -> Any:
        return self._variables.get(name)

    def has_variable(self, name: str) -> bool:
        return name in self._variables

    def set_variable(self, name: str, value: Any) -> None:
        """Camunda's setVariable returns nothing; an expression that calls it evaluates to null."""
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ExecutionUnavailable(f"execution.setVariable() needs a variable name, not {name!r}")
        task = _TASK.get()
        target = getattr(task, "data", None)
        if target is None:
            target = _writable(self._variables)
        if target is None:
            raise ExecutionUnavailable("execution.setVariable() cannot set variables here")
        target[name] = value

    def remove_variable(self, name: str) -> None:
        task = _TASK.get()
        target = getattr(task, "data", None) if task is not None else _writable(self._variables)
        if target is not None:
            target.pop(name, None)


def _activity(task: Any) -> str | None:
    return getattr(getattr(task, "task_spec", None), "bpmn_id", None)


#: DelegateExecution's properties: name -> value from (variables, the step, the evaluating task).
_PROPERTIES: dict[str, Callable[[Mapping[str, Any], StepIdentity | None, Any], Any]] = {
    "processBusinessKey": lambda _v, step, _t: step.business_key if step else None,
    "businessKey": lambda _v, step, _t: step.business_key if step else None,
    "processInstanceId": lambda _v, step, _t: step.instance_id if step else None,
    "id": lambda _v, step, _t: step.instance_id if step else None,
    "processDefinitionId": lambda _v, step, _t: step.definition_id if step else None,
    "currentActivityId": lambda _v, _s, task: _activity(task),
    "currentActivityName": lambda _v, _s, task: getattr(getattr(task, "task_spec", None), "bpmn_name", None),
    "activityInstanceId": lambda _v, _s, task: f"{_activity(task)}:{task.id}" if _activity(task) else None,
    "tenantId": lambda _v, _s, _t: None,
    "eventName": lambda _v, _s, _t: None,
    "variables": lambda variables, _s, _t: dict(variables),
    "variableNames": lambda variables, _s, _t: sorted(variables),
}


def _writable(variables: Mapping[str, Any]) -> dict[str, Any] | None:
    if isinstance(variables, dict):
        return variables
    if isinstance(variables, ChainMap):
        found = [m for m in variables.maps if isinstance(m, dict)]
        return found[-1] if found else None  # the task data layer sits under loop variables
    return None


def _view(obj: Any, method: str) -> ExecutionView:
    if not isinstance(obj, ExecutionView):
        raise ExecutionUnavailable(f".{method}() is a method of execution")
    return obj


def _property(name: str) -> Callable[[Any], Any]:
    return lambda obj: _view(obj, "get" + name[0].upper() + name[1:])[name]


#: Methods of `execution` by their Java names (JUEL calls them as written).
EXECUTION_METHODS: Mapping[str, Callable[..., Any]] = {
    "getVariable": lambda obj, name: _view(obj, "getVariable").get_variable(name),
    "getVariableLocal": lambda obj, name: _view(obj, "getVariableLocal").get_variable(name),
    "hasVariable": lambda obj, name: _view(obj, "hasVariable").has_variable(name),
    "hasVariableLocal": lambda obj, name: _view(obj, "hasVariableLocal").has_variable(name),
    "getVariables": _property("variables"),
    "getVariableNames": _property("variableNames"),
    "setVariable": lambda obj, name, value: _view(obj, "setVariable").set_variable(name, value),
    "setVariableLocal": lambda obj, name, value: _view(obj, "setVariableLocal").set_variable(name, value),
    "removeVariable": lambda obj, name: _view(obj, "removeVariable").remove_variable(name),
    "getProcessBusinessKey": _property("processBusinessKey"),
    "getBusinessKey": _property("businessKey"),
    "getProcessInstanceId": _property("processInstanceId"),
    "getId": _property("id"),
    "getProcessDefinitionId": _property("processDefinitionId"),
    "getCurrentActivityId": _property("currentActivityId"),
    "getCurrentActivityName": _property("currentActivityName"),
    "getActivityInstanceId": _property("activityInstanceId"),
}


def current_user() -> str | None:
    """Camunda's currentUser(): the login of whoever acts in this step (null for the engine's own)."""
    step = _STEP.get()
    return step.user if step else None


def now() -> datetime:
    """Camunda's now(): the engine's clock during a step (tests move it), else the wall clock."""
    step = _STEP.get()
    return step.now if step is not None and step.now is not None else datetime.now(UTC)


def with_execution(variables: Mapping[str, Any]) -> Mapping[str, Any]:
    """`variables` with `execution` resolved first, as Camunda's resolver does."""
    return ChainMap({"execution": ExecutionView(variables)}, variables)
