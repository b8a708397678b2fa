"""BPMN signals as Camunda 7 broadcasts them: to every instance, not just the thrower's.

SpiffWorkflow delivers a thrown signal only inside the workflow that threw it. Camunda's
`RuntimeService.signalEventReceived` (REST `POST /signal`, or a signal throw/end event)
reaches every execution subscribed to that signal name in every running instance (catch
events, boundary events, signal start events of event subprocesses whose scope runs) and
starts a new instance of each latest definition with a signal start event of that name.

The runtime keeps a subscription per waiting signal catch in `Instance.waiting` under
the kind `signal-event:<name>`, notes the signals an instance threw during a step, and
broadcasts them after commit; this module holds the pure parts of that.
"""

from __future__ import annotations

import uuid
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import ThrowingEvent
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.util.task import TaskState

from engine.events import deliver_to_nested_event_subprocesses

KIND_PREFIX = "signal-event:"


def subscription_kind(name: str) -> str:
    """The `Instance.waiting` kind of an execution waiting for signal `name`."""
    return f"{KIND_PREFIX}{name}"


def is_signal_definition(definition: Any) -> bool:
    return isinstance(definition, SignalEventDefinition)


def event_subprocess_signal_starts(workflow: Any) -> list[tuple[str, str]]:
    """(subscription key, signal name) of each signal start event of an event subprocess whose
    scope runs: Camunda subscribes those while the scope is active."""
    if workflow.completed:
        return []
    found = []
    scopes = [workflow, *(sub for sub in workflow.subprocesses.values() if not sub.completed)]
    for scope in scopes:
        for name in getattr(scope.spec.start, "trigger_specs", ()):
            sp_spec = workflow.subprocess_specs.get(name)
            for start in sp_spec.bpmn_start_events if sp_spec is not None else ():
                definition = getattr(start, "event_definition", None)
                if is_signal_definition(definition) and start.bpmn_id:
                    key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope.task_tree.id}/{start.bpmn_id}"))
                    found.append((key, definition.name))
    return found


def thrown_signal_tasks(workflow: Any) -> dict[str, str]:
    """{task id: signal name} of the signal throw and end events that have run so far."""
    return {
        str(task.id): task.task_spec.event_definition.name
        for task in workflow.get_tasks(state=TaskState.COMPLETED)
        if isinstance(task.task_spec, ThrowingEvent)
        and is_signal_definition(getattr(task.task_spec, "event_definition", None))
    }


def throws_signals(info: Any) -> bool:
    """Whether the process (or a subprocess it embeds or calls) has a signal throw or end event.

    Remembered on the parsed definition: the runtime asks on every step.
    """
    cached = getattr(info, "_throws_signals", None)
    if cached is None:
        cached = any(
            isinstance(task_spec, ThrowingEvent)
            and is_signal_definition(getattr(task_spec, "event_definition", None))
            for spec in (info.spec, *info.subprocess_specs.values())
            for task_spec in spec.task_specs.values()
        )
        info._throws_signals = cached
    return cached


def signal_event(name: str, variables: dict[str, Any] | None = None) -> BpmnEvent:
    return BpmnEvent(SignalEventDefinition(name), dict(variables or {}))


def deliver_signal(workflow: Any, name: str, variables: dict[str, Any] | None) -> int:
    """Hand a signal to every catching execution of `workflow`; returns how many caught it."""
    event = signal_event(name, variables)
    nested = deliver_to_nested_event_subprocesses(workflow, event)
    return nested + workflow.event_manager.catch(event, internal=False)


def signal_start_names(spec: Any) -> set[str]:
    """Names of the signals that start a new instance of this process (not its event subprocesses)."""
    return {
        task_spec.event_definition.name
        for task_spec in spec.task_specs.values()
        if isinstance(task_spec, StartEvent)
        and is_signal_definition(getattr(task_spec, "event_definition", None))
    }
