"""What engine.runtime and its mixins share: the step context, loaded definitions, results,
the script engine with the engine clock, and the pure helpers the operations use.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy.orm import Session

from engine.definitions import ProcessInfo
from engine.errors import (
    ProcessError,
)
from engine.expressions import is_expression, render, to_text
from engine.io_mapping import process_scope_data
from engine.script_engine import SafeScriptEngine
from engine.serialization import to_jsonable
from engine.specs import (
    CARDINALITY_REFUSED,
    EngineMessage,
)
from engine.spiff_joins import changes_since, common_ancestor
from engine.step_rows import StepEvent, StepRows
from engine.store import (
    HistoryEvent,
    Instance,
    Job,
)
from engine.timer_schedule import parse_due

if TYPE_CHECKING:
    from engine.runtime import Engine

log = logging.getLogger("engine.runtime")  # one logger name for the whole runtime

# (calendar, start, working time, whole working days) -> end
BusinessTimeAdd = Callable[[str, datetime, timedelta, int], datetime]
DEFAULT_LEASE = timedelta(minutes=5)
DEFAULT_RETRIES = 3
CARDINALITY_INCIDENT = "cardinalityTooLarge"


def utcnow() -> datetime:
    return datetime.now(UTC)


class EngineScriptEngine(SafeScriptEngine):
    """The safe script engine plus the engine clock and business calendars timers read."""

    def __init__(self, engine: Engine, allow_scripts: bool) -> None:
        super().__init__(allow_scripts=allow_scripts)
        self._engine = engine

    def now(self) -> datetime:
        return self._engine.now()

    @property
    def max_mi_cardinality(self) -> int:
        """The multi-instance cap engine.specs checks before creating children."""
        return self._engine.max_mi_cardinality

    def business_time_add(
        self, calendar: str, start: datetime, duration: timedelta, working_days: int = 0
    ) -> datetime:
        adder = self._engine.business_time_add
        if adder is None:
            log.warning("timer asks for calendar %s but no calendar provider is configured", calendar)
            return start + duration + timedelta(days=working_days)
        return adder(calendar, start, duration, working_days)


@dataclass
class LoadedDefinition:
    """A deployed definition parsed once: the spec to run and the forms to show."""

    id: str
    key: str
    version: int
    name: str | None
    info: ProcessInfo
    # Whether steps must look at waiting scope ends after every engine step (engine.events).
    event_subprocesses: bool = True


@dataclass
class StepContext:
    """What one transaction on one instance accumulates before commit."""

    session: Session
    instance: Instance
    definition: LoadedDefinition
    user: str | None
    now: datetime
    rows: StepRows  # what the save inserts beside the instance (engine.step_rows)
    history: list[StepEvent | HistoryEvent] = field(default_factory=list)
    completed_task_ids: set[str] = field(default_factory=set)
    new_jobs: list[Job] = field(default_factory=list)
    thrown_signals: list[str] = field(default_factory=list)
    # task id -> the job row this step ran (or tried) that service task's handler with
    task_jobs: dict[str, Job] = field(default_factory=dict)
    # history events naming a job this step inserts without a flush of its own (see _save)
    job_events: list[tuple[StepEvent, Job]] = field(default_factory=list)

    def record(
        self,
        kind: str,
        element_id: str | None = None,
        task_id: str | None = None,
        data: dict[str, Any] | None = None,
        user: str | None = None,
    ) -> StepEvent:
        event = StepEvent(
            self.instance.id,
            self.now,
            kind,
            element_id,
            task_id,
            user or self.user,
            to_jsonable(data) if data else None,
        )
        self.history.append(event)
        return event


@dataclass(frozen=True)
class StartResult:
    id: str
    definition_id: str
    business_key: str | None
    ended: bool
    status: str


@dataclass(frozen=True)
class WaitingExecution:
    """An execution parked until it is signalled (Camunda's execution id is the task id)."""

    id: str
    instance_id: str
    element_id: str


class _UncaughtBpmnError(Exception):
    pass


def _wire_loop_tasks(*specs: Any) -> None:
    """Connect each loop / multi-instance task to its inner task's completion, as SpiffWorkflow's
    own spec deserializer does.

    SpiffWorkflow otherwise makes that connection only when a process creates a child at run
    time. Our saved states carry no spec, so a process that loads an instance whose children
    were created elsewhere (another gunicorn or RQ worker) would never merge them, and a
    parallel approval would wait forever after its last vote.
    """
    for spec in specs:
        for task_spec in spec.task_specs.values():
            if isinstance(task_spec, LoopTask):
                child = spec.task_specs.get(task_spec.task_spec)
                if child is not None and not child.completed_event.is_connected(task_spec.merge_child):
                    child.completed_event.connect(task_spec.merge_child)


def _message_event(name: str, variables: Mapping[str, Any]) -> BpmnEvent:
    return BpmnEvent(EngineMessage(name), {"payload": dict(variables), "result_var": None})


def _all_ids(workflow: BpmnWorkflow) -> set[uuid.UUID]:
    ids = set(workflow.tasks)
    for sub in workflow.subprocesses.values():
        ids |= set(sub.tasks)
    return ids


def _find_task(workflow: BpmnWorkflow, task_id: str):
    try:
        tid = uuid.UUID(task_id)
    except ValueError:
        return None
    if tid not in _all_ids(workflow):
        return None
    return workflow.get_task_from_id(tid)


def current_variables(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The instance's variables as a person thinks of them: the data on the paths still open, else the end."""
    if workflow.completed:
        data = dict(workflow.data)
        if workflow.last_task is not None:
            data.update(workflow.last_task.data)
        return data
    paths = [
        # A path that reached a join waits there; its variables are on the task it came from.
        task.parent if _waiting_at_join(task) else task
        for task in workflow.get_tasks(state=TaskState.READY | TaskState.STARTED | TaskState.WAITING)
    ]
    parted = common_ancestor(paths) if len(paths) > 1 else None
    if parted is None:
        merged: dict[str, Any] = {}
        for path in paths:
            merged.update(process_scope_data(path))  # an activity's locals are not the process's
        return merged
    # Parallel paths share the process's variables in Camunda: what any path set since they
    # parted shows, the later change winning, as the join will merge them (engine.spiff_joins).
    in_order = sorted(paths, key=lambda t: t.last_state_change)
    return changes_since(process_scope_data(parted), [process_scope_data(path) for path in in_order])


def _waiting_at_join(task: Any) -> bool:
    return (
        task.state == TaskState.WAITING
        and isinstance(task.task_spec, UnstructuredJoin)
        and task.parent is not None
        and not task.data
    )


def _reevaluate_cardinality(workflow: BpmnWorkflow, element_id: str) -> None:
    """Ask a multi-instance activity refused for its cardinality again, with today's variables."""
    for task in workflow.get_tasks(state=TaskState.STARTED):
        if task.task_spec.bpmn_id == element_id and CARDINALITY_REFUSED in task.internal_data:
            if task.parent is not None:
                task.parent.data.update(task.data)  # the variables fixed since; the hook inherits them
            task.task_spec._update(task)


def _process_error(instance_id: str, err: Exception) -> ProcessError:
    element = None
    task = getattr(err, "task", None)
    if task is not None:
        element = getattr(task.task_spec, "bpmn_id", None)
    elif isinstance(err, WorkflowException) and getattr(err, "task_spec", None) is not None:
        element = getattr(err.task_spec, "bpmn_id", None)
    reason = str(err)
    if reason.startswith("No conditions satisfied") and element:
        # SpiffWorkflow's words for a gateway no flow leaves; Camunda's, as its analysts know them.
        reason = (
            f"No outgoing sequence flow for the element with id '{element}' could be selected for "
            "continuing the process; add a default flow or a condition that holds"
        )
    called = _MISSING_CALLED.match(reason)
    if called:
        # SpiffWorkflow's "The called process 'x' was not found.. "; Camunda's words, and the way out.
        reason = (
            f"no processes deployed with key '{called.group(1)}': deploy the called process "
            "(a call activity runs its latest version)"
        )
    return ProcessError(instance_id, element, reason)


_MISSING_CALLED = re.compile(r"The called process '([^']*)' was not found")


def _render_str(template: str | None, data: Mapping[str, Any]) -> str | None:
    if not template:
        return None
    value = render(template, data) if is_expression(template) else template
    return to_text(value) if value not in (None, "") else None  # EL's coercion: true -> "true"


def _render_list(template: str | None, data: Mapping[str, Any]) -> list[str]:
    if not template:
        return []
    value = render(template, data) if is_expression(template) else template
    if isinstance(value, list | tuple | set):
        return [str(v) for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _render_datetime(template: str | None, data: Mapping[str, Any], now: datetime) -> datetime | None:
    """A user task's due or follow-up date, as Camunda's DueDateBusinessCalendar reads it: a date,
    an ISO 8601 date string, or a duration from now (`P2D`, `PT4H`)."""
    if not template:
        return None
    value = render(template, data) if is_expression(template) else template
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_due(str(value), now)


def _render_int(template: str | None, data: Mapping[str, Any], default: int) -> int:
    if not template:
        return default
    value = render(template, data) if is_expression(template) else template
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def parse_retry_cycle(cycle: str | None) -> tuple[int, Callable[[int], timedelta]]:
    """camunda:failedJobRetryTimeCycle "R5/PT10M" -> (5 tries, 10 minutes apart); default 3 with backoff."""
    if cycle:
        parts = cycle.strip().upper().split("/")
        if len(parts) == 2 and parts[0].startswith("R") and parts[0][1:].isdigit():
            try:
                parsed = TimerEventDefinition.parse_iso_duration(parts[1])
                wait = TimerEventDefinition.get_timedelta_from_start(parsed, utcnow())
                return int(parts[0][1:]), lambda attempt: wait
            except Exception:
                log.warning("retry cycle %r is not understood; using the default", cycle)
    return DEFAULT_RETRIES, lambda attempt: timedelta(seconds=10 * 2 ** max(attempt - 1, 0))
