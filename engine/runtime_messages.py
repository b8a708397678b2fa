"""Engine's messages and signals: correlation, signal broadcast and signalled executions.

Each delivery goes through Engine._step (engine.runtime).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import literal, select

from engine.definition_state import check_startable
from engine.errors import (
    ExecutionNotFoundError,
    InstanceNotFoundError,
    InvalidStateError,
    MessageCorrelationAmbiguousError,
    MessageNotCorrelatedError,
)
from engine.events import (
    deliver_to_nested_event_subprocesses,
    execution_signal,
)
from engine.runtime_support import (
    StepContext,
    WaitingExecution,
    _find_task,
    _message_event,
)
from engine.signals import (
    deliver_signal,
    signal_start_names,
    subscription_kind,
)
from engine.store import (
    Instance,
    InstanceStatus,
    MessageSubscription,
    ProcessDefinition,
)


class MessagesMixin:
    """Part of Engine (engine.runtime); `self` is the Engine."""

    # ------------------------------------------------------------------ public API: messages

    def correlate(
        self,
        message_name: str,
        business_key: str | None = None,
        variables: Mapping[str, Any] | None = None,
        *,
        all_instances: bool = False,
        user: str | None = None,
        instance_id: str | None = None,
        correlation_keys: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """Deliver a message to waiting instances, or start a process with that message start event.

        As Camunda's MessageCorrelationBuilder: `instance_id` and `correlation_keys` (process
        variables that must equal the given values) narrow the waiting instances; a message for
        one execution that matches several is refused (MessageCorrelationAmbiguousError) unless
        `all_instances`; start events are considered only when nothing waits and no instance is named.
        """
        variables = dict(variables or {})
        keys = dict(correlation_keys or {})
        with self.session_factory() as session:
            # The variables (a JSON document per instance) are read only when keys must match them.
            stmt = (
                select(MessageSubscription.instance_id, Instance.variables if keys else literal(None))
                .join(Instance, Instance.id == MessageSubscription.instance_id)
                .where(
                    MessageSubscription.message_name == message_name, MessageSubscription.status == "waiting"
                )
                .order_by(MessageSubscription.id)
            )
            if business_key is not None:
                stmt = stmt.where(Instance.business_key == business_key)
            if instance_id is not None:
                stmt = stmt.where(Instance.id == instance_id)
            waiting = list(
                dict.fromkeys(
                    found
                    for found, values in session.execute(stmt)
                    if all(name in (values or {}) and values[name] == value for name, value in keys.items())
                )
            )
            if len(waiting) > 1 and not all_instances:
                raise MessageCorrelationAmbiguousError(message_name, len(waiting))
            starters = (
                []
                if waiting or instance_id is not None
                else [
                    d
                    for d in session.scalars(
                        select(ProcessDefinition).order_by(ProcessDefinition.version.desc())
                    )
                    if message_name in (d.message_starts or [])
                ]
            )
        if waiting:
            targets = waiting if all_instances else waiting[:1]
            for instance_id in targets:
                self._step(
                    instance_id, lambda wf, ctx: self._deliver(wf, ctx, message_name, variables), user=user
                )
            return targets
        latest: dict[str, ProcessDefinition] = {}
        for row in starters:
            latest.setdefault(row.key, row)
        if not latest:
            raise MessageNotCorrelatedError(message_name, business_key)
        started = []
        for row in latest.values():
            with self.session_factory() as session:
                check_startable(session, row.id)  # engine.definition_state
                definition = self.definition(session, row.id)
            started.append(self._create_instance(definition, business_key, variables, user, message_name).id)
        return started

    def _deliver(
        self, workflow: BpmnWorkflow, ctx: StepContext, name: str, variables: dict[str, Any]
    ) -> None:
        waiting = {str(t.id) for t in workflow.get_tasks(state=TaskState.WAITING)}
        event = _message_event(name, variables)
        deliver_to_nested_event_subprocesses(workflow, event)
        workflow.catch(event)
        now_done = {
            tid for tid in waiting if workflow.get_task_from_id(uuid.UUID(tid)).state != TaskState.WAITING
        }
        ctx.completed_task_ids |= now_done
        ctx.record("message_correlated", data={"message": name, "variables": variables})

    # ------------------------------------------------------------------ BPMN signals

    def send_signal(
        self,
        name: str,
        variables: Mapping[str, Any] | None = None,
        *,
        user: str | None = None,
        exclude: str | None = None,
    ) -> list[str]:
        """Camunda's signalEventReceived: every instance waiting for signal `name` receives it and
        each latest definition with a signal start event of that name starts; returns the
        ids of the instances reached or started. `exclude` is the thrower, which has
        already caught its own signal inside its step."""
        values = dict(variables or {})
        kind = subscription_kind(name)
        with self.session_factory() as session:
            rows = session.execute(
                select(Instance.id, Instance.waiting)
                .where(Instance.status == InstanceStatus.RUNNING.value)
                .order_by(Instance.started_at)
            ).all()
            waiting = [iid for iid, w in rows if iid != exclude and kind in (w or {}).values()]
            latest: dict[str, str] = {}
            for row in session.scalars(select(ProcessDefinition).order_by(ProcessDefinition.version.desc())):
                latest.setdefault(row.key, row.id)
            starters = []
            for definition_id in latest.values():
                definition = self.definition(session, definition_id)
                if name in signal_start_names(definition.info.spec):
                    starters.append(definition)
        reached = []
        for instance_id in waiting:
            self._step(instance_id, lambda wf, ctx: self._receive_signal(wf, ctx, name, values), user=user)
            reached.append(instance_id)
        for definition in starters:
            reached.append(self._create_instance(definition, None, values, user, None, start_signal=name).id)
        return reached

    def _receive_signal(self, workflow: BpmnWorkflow, ctx: StepContext, name: str, variables) -> None:
        waiting = {str(t.id) for t in workflow.get_tasks(state=TaskState.WAITING)}
        deliver_signal(workflow, name, variables)
        ctx.completed_task_ids |= {
            tid for tid in waiting if workflow.get_task_from_id(uuid.UUID(tid)).state != TaskState.WAITING
        }
        ctx.record("signal_received", data={"signal": name, "variables": variables})

    # ------------------------------------------------------------------ signalled executions

    def signal_executions(self, instance_id: str) -> list[WaitingExecution]:
        """The executions of an instance that wait for a signal (receive tasks without a message)."""
        with self.session_factory() as session:
            inst = session.get(Instance, instance_id)
            if inst is None:
                raise InstanceNotFoundError(instance_id)
            ids = [tid for tid, kind in (inst.waiting or {}).items() if kind == "signal"]
            if not ids:
                return []
            workflow = self._peek(inst, self.definition(session, inst.definition_id))
        found = [_find_task(workflow, tid) for tid in ids]
        return [WaitingExecution(str(t.id), instance_id, t.task_spec.bpmn_id) for t in found if t is not None]

    def signal_execution(
        self, execution_id: str, variables: Mapping[str, Any] | None = None, user: str | None = None
    ) -> None:
        """Camunda's RuntimeService.signal: the waiting execution takes its outgoing flow,
        after `variables` are set."""
        with self.session_factory() as session:
            instance_id = session.scalars(
                select(Instance.id).where(
                    Instance.status == InstanceStatus.RUNNING.value,
                    Instance.waiting[execution_id].as_string() == "signal",
                )
            ).first()
        if instance_id is None:
            raise ExecutionNotFoundError(execution_id)
        values = dict(variables or {})

        def action(workflow: BpmnWorkflow, ctx: StepContext) -> None:
            task = _find_task(workflow, execution_id)
            if task is None or task.state != TaskState.WAITING:
                raise InvalidStateError(f"Execution {execution_id} no longer waits for a signal.")
            workflow.event_manager.catch(execution_signal(execution_id, values), internal=False)
            ctx.completed_task_ids.add(execution_id)
            ctx.record("execution_signalled", task.task_spec.bpmn_id, execution_id, {"variables": values})

        self._step(instance_id, action, user=user)
