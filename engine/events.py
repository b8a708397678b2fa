"""Event definitions with Camunda 7 behaviour SpiffWorkflow lacks: error variables and signalled waits.

- `CamundaErrorEvent`: a BPMN error that carries its message, and a catching error event that
  writes `camunda:errorCodeVariable` / `camunda:errorMessageVariable`, as Camunda's
  BpmnExceptionHandler does on the execution that catches it.
- `ExecutionTrigger`: what a receive task without a message waits for. Camunda parks the
  execution until `RuntimeService.signal(executionId)` (REST `POST /execution/{id}/signal`);
  SpiffWorkflow would pass straight through a receive task with no event definition.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from SpiffWorkflow.bpmn.specs.control import BoundaryEventJoin, BoundaryEventSplit, BpmnStartTask, _EndJoin
from SpiffWorkflow.bpmn.specs.defaults import CallActivity, StartEvent
from SpiffWorkflow.bpmn.specs.event_definitions.base import EventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import (
    ErrorEventDefinition,
    ItemAwareEventDefinition,
)
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.util.task import TaskIterator, TaskState

import engine.spiff_patches  # noqa: F401  (the engine loop fix travels with the engine's specs)
from engine.expressions import is_expression, render, to_text
from engine.specs import loop_counters_kept


class CamundaErrorEvent(ErrorEventDefinition):
    """A BPMN error (thrown or caught) with Camunda's error code and message variables.

    Thrown and catching definitions must be of one class for SpiffWorkflow to match them,
    so the runtime throws this class too, with `error_message` set.
    """

    def __init__(
        self,
        name: str,
        code: str | None = None,
        *,
        code_variable: str | None = None,
        message_variable: str | None = None,
        error_message: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, code, **kwargs)
        self.code_variable = code_variable
        self.message_variable = message_variable
        self.error_message = error_message

    def throw(self, my_task):
        """An error end event throws its error's camunda:errorMessage, an expression evaluated now."""
        if self.error_message and is_expression(self.error_message):
            thrown = copy.copy(self)
            thrown.error_message = to_text(render(self.error_message, my_task.data)) or None
            return super(CamundaErrorEvent, thrown).throw(my_task)
        return super().throw(my_task)

    def catch(self, my_task, event=None):
        thrown = event.event_definition if event is not None else None
        my_task.internal_data["engine_error"] = {
            "code": getattr(thrown, "code", None),
            "message": getattr(thrown, "error_message", None),
        }
        super().catch(my_task, event)

    def update_task_data(self, my_task):
        super().update_task_data(my_task)
        caught = my_task.internal_data.get("engine_error") or {}
        if self.code_variable:
            my_task.data[self.code_variable] = caught.get("code")
        if self.message_variable:
            my_task.data[self.message_variable] = caught.get("message")


_update_task_data = ItemAwareEventDefinition.update_task_data


def _update_task_data_keeping_loop_counters(self: ItemAwareEventDefinition, my_task: Any) -> None:
    """A caught event's payload (SpiffWorkflow: the thrower's data, for errors and escalations)
    must not carry a multi-instance instance's loop counters out of the loop: they are that
    instance's own in Camunda. The catching task keeps its own counters, or has none."""
    with loop_counters_kept(my_task.data):
        _update_task_data(self, my_task)


ItemAwareEventDefinition.update_task_data = _update_task_data_keeping_loop_counters


def thrown_error(code: str, message: str, variables: dict[str, Any]) -> BpmnEvent:
    """The event the runtime throws for a handler's or worker's BPMN error."""
    return BpmnEvent(CamundaErrorEvent(code, code=code, error_message=message or None), dict(variables))


class ExecutionTrigger(EventDefinition):
    """Waits for one specific execution (task) to be signalled, with optional variables."""

    def __init__(self, name: str = "execution signal", **kwargs: Any) -> None:
        super().__init__(name, **kwargs)

    def catches(self, my_task, event) -> bool:
        payload = event.payload or {}
        return isinstance(event.event_definition, ExecutionTrigger) and payload.get("execution") == str(
            my_task.id
        )

    def catch(self, my_task, event=None):
        my_task.internal_data["signal_variables"] = dict((event.payload or {}).get("variables") or {})
        super().catch(my_task, event)

    def update_task_data(self, my_task):
        my_task.data.update(my_task.internal_data.pop("signal_variables", None) or {})


def execution_signal(execution_id: str, variables: dict[str, Any]) -> BpmnEvent:
    return BpmnEvent(ExecutionTrigger(), {"execution": execution_id, "variables": dict(variables)})


def event_subprocess_message_starts(workflow: Any) -> list[tuple[str, str, str]]:
    """(subscription key, element id, message name) for each message start of an event
    subprocess whose scope is running: the process's own while the instance runs, a
    subprocess's while that subprocess runs. Camunda subscribes exactly those.

    The key is stable for the scope (a uuid5 of the scope's task tree and the element), so a
    subscription is created once and closed when its scope ends.
    """
    if workflow.completed:
        return []
    found = []
    for scope in _running_scopes(workflow):
        for name in getattr(scope.spec.start, "trigger_specs", ()):
            sp_spec = workflow.subprocess_specs.get(name)
            for start in sp_spec.bpmn_start_events if sp_spec is not None else ():
                definition = getattr(start, "event_definition", None)
                if isinstance(definition, MessageEventDefinition) and start.bpmn_id:
                    key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope.task_tree.id}/{start.bpmn_id}"))
                    found.append((key, start.bpmn_id, definition.name))
    return found


def _running_scopes(workflow: Any) -> list[Any]:
    return [workflow, *(sub for sub in workflow.subprocesses.values() if not sub.completed)]


def deliver_to_nested_event_subprocesses(workflow: Any, event: BpmnEvent) -> int:
    """Start the matching message event subprocesses of running subprocesses.

    SpiffWorkflow starts event subprocesses for an incoming message only at the process
    level; those of an embedded subprocess never heard it.
    """
    return sum(_start_event_subprocess(sub, event) for sub in _running_scopes(workflow)[1:])


class EngineStartEvent(StartEvent):
    """A start event that, in an interrupting event subprocess, interrupts its scope (Camunda).

    SpiffWorkflow starts an event subprocess beside the running flow whether or not its start
    event is interrupting; Camunda cancels every other activity of the enclosing scope first.
    """

    def __init__(self, wf_spec, bpmn_id, event_definition=None, interrupting: bool = True, **kwargs):
        super().__init__(wf_spec, bpmn_id, event_definition=event_definition, **kwargs)
        self.interrupting = interrupting

    def _run_hook(self, my_task):
        result = super()._run_hook(my_task)
        scope_task = _event_subprocess_task(my_task)
        if self.interrupting and scope_task is not None:
            _interrupt(scope_task)
        return result


def _event_subprocess_task(my_task: Any) -> Any:
    """The task running the event subprocess this start event belongs to, else None."""
    workflow = my_task.workflow
    parent_id = getattr(workflow, "parent_task_id", None)
    if parent_id is None:
        return None
    parent = workflow.parent_workflow
    scope_task = parent.get_task_from_id(parent_id)
    start = parent.spec.start
    if scope_task is None:
        return None
    if scope_task.task_spec.name in getattr(start, "trigger_specs", ()):
        return scope_task
    # Timer-started event subprocesses run from their scope's start, waiting for the timer
    # (a timer start event inside a subprocess belongs to an event subprocess: Camunda refuses
    # one in any other subprocess, and so does deploy here).
    timer = isinstance(getattr(my_task.task_spec, "event_definition", None), TimerEventDefinition)
    return scope_task if timer and scope_task.task_spec in start.outputs else None


def _interrupt(scope_task: Any) -> None:
    """Cancel everything still running in the event subprocess's scope except the subprocess."""
    workflow = scope_task.workflow
    for task in workflow.get_tasks(state=TaskState.READY | TaskState.STARTED | TaskState.WAITING):
        if task.workflow is not workflow or task is scope_task:
            continue
        if _descends_from(task, scope_task) or _descends_from(scope_task, task):
            continue
        if task.has_state(TaskState.FINISHED_MASK):
            continue  # cancelled with an ancestor earlier in this loop
        task.cancel()


def _descends_from(task: Any, ancestor: Any) -> bool:
    node = task.parent
    while node is not None:
        if node is ancestor:
            return True
        node = node.parent
    return False


class EngineBoundaryEventJoin(BoundaryEventJoin):
    """Where an activity's boundary paths meet: paths a non-interrupting timer already spawned go on.

    SpiffWorkflow cancels a waiting non-interrupting boundary event when its activity ends,
    and with it every path the event spawned (a cycle's reminders). Camunda ends only the
    timer: the spawned executions are siblings of the activity and carry on.
    """

    def _check_threshold_structured(self, my_task):
        finished, cancel = super()._check_threshold_structured(my_task)
        if not finished:
            return finished, cancel
        spawned = [
            t
            for t in cancel
            if isinstance(t.task_spec, BoundaryEvent)
            and not t.task_spec.cancel_activity
            and isinstance(t.task_spec.event_definition, CycleTimerEventDefinition)
            and any(_spawned(c) for c in t.children)
        ]
        for task in spawned:
            # The event stops listening; the paths below it stay as they are.
            task.workflow.top_workflow.event_manager.remove_task(task)
            task.internal_data.pop("event_value", None)
            task._set_state(TaskState.COMPLETED)
        return finished, [t for t in cancel if t not in spawned]


def _spawned(child: Any) -> bool:
    """A path the event really started, not one SpiffWorkflow merely predicts (or a migration re-plans)."""
    started = TaskState.WAITING | TaskState.READY | TaskState.STARTED | TaskState.COMPLETED | TaskState.ERROR
    return not isinstance(child.task_spec, BoundaryEventJoin) and child.has_state(started)


class EngineEventSubprocess(CallActivity):
    """An event subprocess whose end leads to its scope's end, as every other path does.

    SpiffWorkflow adds an event subprocess to the running tree without its outgoing link, so
    when an interrupting one has cancelled the rest of its scope, nothing reaches the scope's
    end: the process (or the subprocess around it) would never complete.
    """

    def _on_complete_hook(self, my_task):
        super()._on_complete_hook(my_task)
        my_task._sync_children([self._wf_spec.end], TaskState.FUTURE)
        for child in my_task.children:
            child.task_spec._predict(child, mask=TaskState.NOT_FINISHED_MASK)


class EngineEndJoin(_EndJoin):
    """A scope's end that does not wait for event subprocesses nobody triggered (Camunda).

    SpiffWorkflow starts a timer-started event subprocess together with its scope, its start
    event waiting for the timer, and the scope's end waits for it like for any other path: a
    process whose work is done stays running until the timer fires, and then runs the event
    subprocess Camunda would never have run. In Camunda an event subprocess is only a
    subscription of its scope until its event occurs; when the rest of the scope is done the
    scope completes and the subscription is removed. One that has started keeps the scope open.
    """

    def _check_threshold_unstructured(self, my_task):
        dormant: list[Any] = []
        for task in TaskIterator(
            my_task.workflow.task_tree, state=TaskState.NOT_FINISHED_MASK, end_at_spec=self.name
        ):
            if task == my_task or any(_descends_from(task, d) for d in dormant):
                continue
            if _dormant_event_subprocess(task):
                dormant.append(task)
                continue
            return False
        for task in dormant:
            _withdraw(task)
        return True


def has_event_subprocesses(*specs: Any) -> bool:
    """Whether any of these process specs has an event subprocess: only then can a scope's end
    wait with nothing left to reach it (settle_scope_ends), so only then is it looked at.

    SpiffWorkflow's parser hangs an event subprocess off the spec's start task: connected to it
    (timer and plain starts) or named among its triggers (message, signal, error, …); a
    diagram's own activities follow its start events, never the start task itself.
    """
    return any(
        getattr(spec.start, "trigger_specs", None)
        or any(isinstance(output, SubWorkflowTask) for output in spec.start.outputs)
        for spec in specs
    )


def settle_scope_ends(workflow: Any) -> bool:
    """Look again at every scope end that waits; True when one could complete.

    A scope's end is checked when a path reaches it. When the last run of a non-interrupting
    event subprocess finishes after the scope's own work, no path reaches the scope's end, so
    the runtime asks after every step whether what it waits for is only dormant subscriptions.
    """
    settled = False
    for task in workflow.get_tasks(state=TaskState.WAITING):
        if isinstance(task.task_spec, EngineEndJoin) and not task.has_state(TaskState.FINISHED_MASK):
            task.task_spec._update(task)
            settled = settled or not task.has_state(TaskState.WAITING)
    return settled


def _dormant_event_subprocess(task: Any) -> bool:
    """A started event subprocess whose start events wait for their event and nothing else runs."""
    if not task.has_state(TaskState.STARTED):
        return False
    subworkflow = task.workflow.top_workflow.subprocesses.get(task.id)
    if subworkflow is None:
        return False
    inner = subworkflow.get_tasks()
    waiting = [t for t in inner if isinstance(t.task_spec, StartEvent) and t.has_state(TaskState.WAITING)]
    # Besides the waiting starts, only what has ended (a cycle's earlier runs) or is predicted.
    rest = [t for t in inner if t not in waiting and not isinstance(t.task_spec, BpmnStartTask)]
    idle = TaskState.FINISHED_MASK | TaskState.FUTURE | TaskState.PREDICTED_MASK
    # A cycle's earlier run that reached the end waits there for the (still waiting) start.
    arrived = [t for t in rest if isinstance(t.task_spec, _EndJoin) and t.has_state(TaskState.WAITING)]
    return bool(waiting) and all(t.has_state(idle) or t in arrived for t in rest)


def _withdraw(task: Any) -> None:
    """Remove a dormant event subprocess: its start events stop listening, its task is cancelled."""
    top = task.workflow.top_workflow
    subworkflow = top.subprocesses.get(task.id)
    for inner in subworkflow.get_tasks(state=TaskState.WAITING) if subworkflow is not None else ():
        top.event_manager.remove_task(inner)
    task.cancel()


def adopt_engine_specs(specs: Any) -> None:
    """Swap in the engine's versions of the specs SpiffWorkflow's parser creates itself."""
    for spec in specs:
        for task_spec in spec.task_specs.values():
            if type(task_spec) is BoundaryEventJoin:
                task_spec.__class__ = EngineBoundaryEventJoin
            elif type(task_spec) is _EndJoin:
                task_spec.__class__ = EngineEndJoin
        for name in getattr(spec.start, "trigger_specs", ()):
            task_spec = spec.task_specs.get(name)
            if type(task_spec) is CallActivity:
                task_spec.__class__ = EngineEventSubprocess


def propagate_error(task: Any, event: BpmnEvent) -> bool:
    """Offer a BPMN error thrown at `task` to what Camunda offers it to, innermost scope first:
    the error boundary events of the activity, then the error event subprocesses of the
    (sub)process it runs in, then the boundary events of that subprocess or call activity,
    and so on up to the process. Returns whether anything caught it.

    SpiffWorkflow offers an error to every waiting catcher of the instance at once (and
    starts matching event subprocesses besides), so a boundary event and an event
    subprocess for the same error would both run.
    """
    scope = task
    while scope is not None:
        while scope.parent is not None and isinstance(scope.parent.task_spec, LoopTask):
            scope = scope.parent  # boundary events attach to the multi-instance body
        split = scope.parent
        if split is not None and isinstance(split.task_spec, BoundaryEventSplit):
            for sibling in split.children:
                spec = sibling.task_spec
                if sibling is not scope and isinstance(spec, BoundaryEvent) and spec.catches(sibling, event):
                    spec.catch(sibling, event)
                    spec._update(sibling)
                    return True
        workflow = scope.workflow
        if _start_event_subprocess(workflow, event):
            return True
        parent_id = getattr(workflow, "parent_task_id", None)
        scope = workflow.parent_workflow.get_task_from_id(parent_id) if parent_id is not None else None
    return False


def _start_event_subprocess(workflow: Any, event: BpmnEvent) -> bool:
    start_spec = workflow.spec.start
    top = workflow.top_workflow
    for name in getattr(start_spec, "trigger_specs", ()):
        sp_spec = top.subprocess_specs.get(name)
        for start in sp_spec.bpmn_start_events if sp_spec is not None else ():
            if start.event_definition == event.event_definition:
                child_id = start_spec.trigger_wf(workflow.task_tree, name)
                waiting = top.subprocesses[child_id].get_next_task(
                    state=TaskState.WAITING, spec_name=start.name
                )
                if waiting is None:
                    continue
                waiting.task_spec.catch(waiting, event)
                waiting.task_spec._update(waiting)
                return True
    return False


class EngineConditional(ConditionalEventDefinition):
    """A conditional event evaluated the Camunda way.

    Camunda evaluates the condition when the event is reached and again whenever variables
    change (the runtime re-checks after every step); a condition naming a variable that is
    not set yet is false, not a failure (ConditionalEventDefinition.tryEvaluate).
    """

    def has_fired(self, my_task):
        try:
            return super().has_fired(my_task)
        except Exception as err:
            if not _unknown_variable(err):
                raise
            my_task._set_internal_data(has_fired=False)
            return False


def _unknown_variable(err: BaseException | None) -> bool:
    seen = 0
    while err is not None and seen < 10:
        if getattr(err, "variable", None) and "Unknown property" in str(err):
            return True
        err = err.__cause__ or err.__context__
        seen += 1
    return False


def refresh_conditions(workflow: Any) -> int:
    """Re-evaluate every waiting conditional event (variables may have changed); returns how many fired."""
    fired = 0
    for task in list(workflow.event_manager.tasks.values()):
        if isinstance(getattr(task.task_spec, "event_definition", None), EngineConditional):
            task.task_spec._update(task)
            fired += task.state != TaskState.WAITING
    return fired
