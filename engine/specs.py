"""Task specs and event definitions for what Camunda Modeler draws and SpiffWorkflow lacks.

SpiffWorkflow knows a generic service task and a Camunda user task; our runtime needs
the topic, the input/output mapping and the retry cycle of a service task, the people
and dates of a user task, timers that read the engine's clock (so tests inject time
and durations can run in business time) and message payloads merged into variables.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.defaults import ManualTask, NoneTask, ServiceTask
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import IntermediateCatchEvent
from SpiffWorkflow.camunda.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.camunda.specs.multiinstance_task import (
    ParallelMultiInstanceTask,
    SequentialMultiInstanceTask,
)
from SpiffWorkflow.camunda.specs.user_task import UserTask
from SpiffWorkflow.util.task import TaskState

from engine.expressions import is_expression, render, to_text
from engine.limits import DEFAULT_MAX_CARDINALITY, CardinalityTooLargeError
from engine.timer_schedule import UNBOUNDED, cron_next, is_cron, server_zone


@dataclass(frozen=True)
class Parameter:
    """One camunda:inputParameter or camunda:outputParameter.

    `kind` is "text" (a template that may hold ${...}), "list", "map" or "script";
    `value` is the raw text, a list of texts or a dict of texts.
    """

    name: str
    kind: str
    value: Any = None

    def resolve(self, variables: dict[str, Any]) -> Any:
        """Evaluate against `variables`, recursively for lists and maps."""
        if self.kind == "list":
            return [render(item, variables) if isinstance(item, str) else item for item in self.value]
        if self.kind == "map":  # keys may be expressions too (`<camunda:entry key="${k}">`)
            return {
                (to_text(render(k, variables)) if is_expression(k) else k): (
                    render(v, variables) if isinstance(v, str) else v
                )
                for k, v in self.value.items()
            }
        if self.value is None:
            return None
        return render(self.value, variables)


@dataclass(frozen=True)
class ServiceCall:
    """How a service task is served: the handler topic and its variable mapping."""

    topic: str | None
    implementation: str  # external | delegateExpression | class | expression | none
    inputs: tuple[Parameter, ...] = ()
    outputs: tuple[Parameter, ...] = ()
    expression: str | None = None
    result_variable: str | None = None
    retry_cycle: str | None = None
    priority: int = 0
    properties: dict[str, str] = field(default_factory=dict)
    # camunda:asyncBefore / camunda:asyncAfter: the diagram asks for a transaction boundary
    # (a job) before the handler runs / after it has run (engine.runtime_jobs).
    async_before: bool = False
    async_after: bool = False


class ExternalServiceTask(ServiceTask):
    """A service task that waits (state STARTED) until a job for its topic completes it.

    SpiffWorkflow's ServiceTask has no notion of topics; returning None from the run
    hook parks the task so the runtime can create a job row in the same transaction.
    """

    def __init__(self, wf_spec, bpmn_id, call: ServiceCall | None = None, **kwargs):
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.call = call or ServiceCall(topic=None, implementation="none")

    def _run_hook(self, task):
        if self.call.topic is None and self.call.expression is None:
            return True
        return None


class PassThroughTask(NoneTask):
    """bpmn:task: Camunda passes through an undefined task; SpiffWorkflow would wait for a person."""

    def __init__(self, wf_spec, bpmn_id, **kwargs):
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.manual = False


class PassThroughManualTask(ManualTask):
    """bpmn:manualTask: work done outside any system, so the engine does not wait (as in Camunda)."""

    def __init__(self, wf_spec, bpmn_id, **kwargs):
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.manual = False


@dataclass(frozen=True)
class HumanAssignment:
    """Who may work a user task, when it is due and which form it shows."""

    assignee: str | None = None
    candidate_groups: str | None = None
    candidate_users: str | None = None
    due_date: str | None = None
    follow_up_date: str | None = None
    priority: str | None = None
    form_key: str | None = None
    form_ref: str | None = None


class HumanTask(UserTask):
    """A Camunda user task with assignment, dates and form reference kept for the task list."""

    def __init__(self, wf_spec, name, form, assignment: HumanAssignment | None = None, **kwargs):
        super().__init__(wf_spec, name, form, **kwargs)
        self.assignment = assignment or HumanAssignment()


def _now(my_task) -> datetime:
    clock = getattr(my_task.workflow.script_engine, "now", None)
    return clock() if clock is not None else datetime.now(UTC)


def _timer_value(my_task, expression: str) -> str:
    """Camunda reads timer text literally unless it holds ${...}."""
    text = (expression or "").strip()
    if is_expression(text):
        value = render(text, my_task.data)
        if isinstance(value, datetime):
            return value.isoformat()
        return str(value)
    return text


def _as_utc(value: str) -> datetime:
    return TimerEventDefinition.get_datetime(value)


class EngineTimerMixin:
    """Shared by our timers: literal-or-expression evaluation and the business calendar."""

    calendar: str | None

    def _business_end(self, my_task, start: datetime, duration: timedelta, working_days: int = 0) -> datetime:
        adder = getattr(my_task.workflow.script_engine, "business_time_add", None)
        if self.calendar and adder is not None:
            return adder(self.calendar, start, duration, working_days=working_days)
        return start + duration + timedelta(days=working_days)


class EngineDateTimer(EngineTimerMixin, TimeDateEventDefinition):
    """timeDate: fires at an ISO-8601 moment (literal or from an expression)."""

    def __init__(self, name, expression, calendar=None, **kwargs):
        super().__init__(name, expression, **kwargs)
        self.calendar = calendar

    def has_fired(self, my_task):
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            event_value = _as_utc(_timer_value(my_task, self.expression)).isoformat()
            my_task._set_internal_data(event_value=event_value)
        if _as_utc(event_value) <= _now(my_task):
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class EngineDurationTimer(EngineTimerMixin, DurationTimerEventDefinition):
    """timeDuration: fires a duration after the timer starts, in business time when a calendar is named."""

    def __init__(self, name, expression, calendar=None, **kwargs):
        super().__init__(name, expression, **kwargs)
        self.calendar = calendar

    def has_fired(self, my_task):
        event_value = my_task._get_internal_data("event_value")
        now = _now(my_task)
        if event_value is None:
            parsed = TimerEventDefinition.parse_iso_duration(_timer_value(my_task, self.expression))
            if self.calendar:
                # On a calendar "P3D" is three working days (DESIGN §4), not 72 working hours.
                days = int(parsed.pop("days", 0)) + 5 * int(parsed.pop("weeks", 0))
                duration = TimerEventDefinition.get_timedelta_from_start(parsed, now)
                event_value = self._business_end(my_task, now, duration, working_days=days).isoformat()
            else:
                duration = TimerEventDefinition.get_timedelta_from_start(parsed, now)
                event_value = self._business_end(my_task, now, duration).isoformat()
            my_task._set_internal_data(event_value=event_value)
        if _as_utc(event_value) <= now:
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class EngineCycleTimer(EngineTimerMixin, CycleTimerEventDefinition):
    """timeCycle: R3/PT10M style repetition, each step measured from the engine clock."""

    def __init__(self, name, expression, calendar=None, **kwargs):
        super().__init__(name, expression, **kwargs)
        self.calendar = calendar

    def has_fired(self, my_task):
        """On an intermediate catch event a cycle is a wait for its first moment: Camunda's
        intermediate timer job continues the path once (repeating belongs to boundary and start
        events). SpiffWorkflow fired it every cycle and left the path waiting there."""
        if not _fires_once(my_task) or my_task._get_internal_data("event_fired", False):
            return super().has_fired(my_task)
        if self.cycle_complete(my_task):
            my_task.internal_data.pop("event_value", None)
            my_task._set_internal_data(event_fired=True)
            return True
        return False

    def update_task(self, my_task):
        if _fires_once(my_task):
            self.cycle_complete(my_task)  # only records when it is due (engine.specs.timer_due)
            return
        super().update_task(my_task)

    def cycle_complete(self, my_task):
        event_value = my_task._get_internal_data("event_value")
        now = _now(my_task)
        if event_value is None:
            value = _timer_value(my_task, self.expression)
            if is_cron(value):  # Camunda's cron cycle: fires at each moment it names, for ever
                first = cron_next(value, now, server_zone())
                event_value = {"cycles": UNBOUNDED, "next": first.isoformat(), "cron": value.strip()}
            else:
                cycles, start, duration = parse_cycle(value, now)
                event_value = {
                    "cycles": cycles,
                    "next": start.isoformat(),
                    "duration": duration.total_seconds(),
                }
        ready = False
        if event_value["cycles"] != 0:
            next_event = datetime.fromisoformat(event_value["next"])
            if next_event <= now:
                if "cron" in event_value:
                    following = cron_next(event_value["cron"], max(next_event, now), server_zone())
                else:
                    step = timedelta(seconds=event_value["duration"])
                    following = self._business_end(my_task, next_event, step)
                event_value["next"] = following.isoformat()
                event_value["cycles"] -= 1
                ready = True
        else:
            my_task.internal_data.pop("event_value", None)
            my_task.internal_data["event_fired"] = True
        my_task._set_internal_data(event_value=event_value)
        return ready


def _fires_once(my_task) -> bool:
    return isinstance(my_task.task_spec, IntermediateCatchEvent)


def parse_cycle(expression: str, now: datetime) -> tuple[int, datetime, timedelta]:
    """Parse R[n]/[start/]duration with `now` as the implicit start (SpiffWorkflow uses the wall clock)."""
    parts = expression.upper().strip().split("/")
    if len(parts) == 2 and parts[1].startswith("P"):
        cycles = int(parts[0].lstrip("R")) if parts[0].lstrip("R") else -1
        parsed = TimerEventDefinition.parse_iso_duration(parts[1])
        duration = TimerEventDefinition.get_timedelta_from_start(parsed, now)
        return cycles, now + duration, duration
    return TimerEventDefinition.parse_iso_recurring_interval(expression)


def timer_due(my_task) -> datetime | None:
    """When a waiting timer task will fire, as computed and stored by its definition."""
    value = my_task._get_internal_data("event_value")
    if value is None:
        return None
    if isinstance(value, dict):
        return datetime.fromisoformat(value["next"]) if value.get("cycles", 0) != 0 else None
    return _as_utc(value)


class EngineMessage(MessageEventDefinition):
    """A Camunda message whose payload, when it is a mapping, becomes process variables.

    Camunda's POST /message sets `processVariables` on the instance; SpiffWorkflow's
    Camunda message puts the payload under "<task>_Response", which no analyst expects.
    """

    def update_task_data(self, my_task):
        event_data = my_task.internal_data.get(self.name) or {}
        payload = event_data.get("payload")
        if isinstance(payload, dict) and event_data.get("merge", True):
            my_task.data.update(payload)
        elif event_data.get("result_var"):
            my_task.data[event_data["result_var"]] = payload


class CamundaScopeMerge:
    """Multi-instance children write to the process scope, as in Camunda.

    SpiffWorkflow collects only the element variable of each child into the collection
    (overwriting it); Camunda instead lets each child's variables reach the process, last
    writer wins, so `${approved == false}` as a completion condition and after the loop sees
    what the approvers decided. The element variable stays local to its child.
    """

    def merge_child(self, workflow, child):
        # The loop variables are the instance's own: an instance's merge must not leave its
        # loopCounter on the body (and from there in the process, after the loop).
        with loop_counters_kept(child.parent.data):
            self._merge_child(workflow, child)

    def _merge_child(self, workflow, child):
        my_task = child.parent
        local = {self.output_item.bpmn_id} if self.output_item is not None else set()
        for key, value in child.data.items():
            if key not in local and key not in MI_COUNTERS:
                my_task.data[key] = value
        key_or_index = child.internal_data.get("key_or_index")
        if self.output_item is not None and self.data_input is not None and key_or_index is not None:
            # SpiffWorkflow writes each element variable back into the collection; Camunda never
            # modifies the collection, so the write-back gets the element as it was.
            collection = self.data_input.get(my_task)
            self.output_item.set(child, collection[key_or_index])
        super().merge_child(workflow, child)

    def create_child(self, my_task, item, key_or_index=None):
        """Each instance also gets Camunda's loop variables: loopCounter (from 0), nrOfInstances,
        nrOfCompletedInstances and nrOfActiveInstances, as they stand when it starts."""
        started = sum(1 for c in my_task.children if c.task_spec.name == self.task_spec)
        completed = len(my_task.internal_data.get("merged", []))
        total = self._instance_count(my_task)
        sequential = isinstance(self, SequentialMultiInstanceTask)
        counters = {
            "loopCounter": started,
            "nrOfInstances": total,
            "nrOfCompletedInstances": completed,
            "nrOfActiveInstances": 1 if sequential else total - completed,
        }
        # Held on the body while the child inherits its data, so the instance's input
        # parameters (engine.io_mapping) already see them, as in Camunda.
        with loop_counters_kept(my_task.data):
            my_task.data.update(counters)
            super().create_child(my_task, item, key_or_index)
        child = [c for c in my_task.children if c.task_spec.name == self.task_spec][-1]
        child.data.update(counters)

    def _update_hook(self, my_task):
        """Over the cardinality cap (engine.limits) no child is created: the activity waits with
        the refused number in CARDINALITY_REFUSED, and the runtime records an incident naming it."""
        if CARDINALITY_REFUSED not in my_task.internal_data:
            my_task._inherit_data()
        if self.data_input is not None and not self.data_input.exists(my_task):
            # Camunda fails here too, naming the expression; SpiffWorkflow said "Missing data input"
            # (sequential) or "'NoneType' object is not iterable" (a parallel subprocess).
            name = self.data_input.bpmn_id
            raise WorkflowTaskException(
                f"Unknown property used in expression: ${{{name}}}: the multi-instance collection "
                f"{name!r} is not set; start the process with it or set it before this activity",
                task=my_task,
            )
        collection = self.data_input.get(my_task) if self.data_input is not None else []
        if not isinstance(collection, list | tuple | set | dict):
            # Camunda: "Variable '…' is not a Collection"; SpiffWorkflow said "'NoneType' object is
            # not iterable" (or looped over a text's letters) and named no element.
            kind = "null" if collection is None else type(collection).__name__
            raise WorkflowTaskException(
                f"Variable {self.data_input.bpmn_id!r} is not a Collection (it is {kind}); the "
                "multi-instance activity needs a list to loop over",
                task=my_task,
            )
        requested = self._requested_count(my_task)
        cap = getattr(my_task.workflow.script_engine, "max_mi_cardinality", DEFAULT_MAX_CARDINALITY)
        if requested is not None and requested > cap:
            my_task.internal_data[CARDINALITY_REFUSED] = requested
            my_task._set_state(TaskState.STARTED)
            return False
        my_task.internal_data.pop(CARDINALITY_REFUSED, None)
        return super()._update_hook(my_task)

    def _requested_count(self, my_task) -> int | None:
        """How many instances the collection or loopCardinality asks for; None when SpiffWorkflow
        should report the missing input itself."""
        if self.data_input is not None:
            if not self.data_input.exists(my_task):
                return None
            try:
                return len(self.data_input.get(my_task))
            except TypeError:
                return None
        if self.cardinality is None:
            return None
        try:
            return int(my_task.workflow.script_engine.evaluate(my_task, self.cardinality))
        except (TypeError, ValueError):
            return None

    def _instance_count(self, my_task) -> int:
        if self.data_input is not None and self.data_input.exists(my_task):
            return len(self.data_input.get(my_task))
        cardinality = my_task.internal_data.get("cardinality")
        if cardinality is None:
            cardinality = my_task.workflow.script_engine.evaluate(my_task, self.cardinality)
        return int(cardinality)


#: internal_data key of a multi-instance activity refused for its cardinality (engine.limits).
CARDINALITY_REFUSED = "cardinality_refused"


def cardinality_refusal(instance_id: str, task) -> CardinalityTooLargeError | None:
    """The incident-to-be of a multi-instance task waiting over the cap, or None."""
    requested = task.internal_data.get(CARDINALITY_REFUSED)
    if requested is None:
        return None
    cap = getattr(task.workflow.script_engine, "max_mi_cardinality", DEFAULT_MAX_CARDINALITY)
    return CardinalityTooLargeError(instance_id, task.task_spec.bpmn_id, requested, cap)


MI_COUNTERS = frozenset({"nrOfInstances", "nrOfCompletedInstances", "nrOfActiveInstances", "loopCounter"})


@contextmanager
def loop_counters_kept(data: dict[str, Any]) -> Iterator[None]:
    """Whatever happens inside, `data` leaves with the loop counters it came in with (or none):
    they belong to one multi-instance instance, never to what merges into or catches from it."""
    own = {name: data[name] for name in MI_COUNTERS if name in data}
    try:
        yield
    finally:
        for name in MI_COUNTERS:
            data.pop(name, None)
        data.update(own)


class EngineParallelMultiInstance(CamundaScopeMerge, ParallelMultiInstanceTask):
    """Parallel multi-instance with Camunda's variable scoping."""


class EngineSequentialMultiInstance(CamundaScopeMerge, SequentialMultiInstanceTask):
    """Sequential multi-instance with Camunda's variable scoping."""
