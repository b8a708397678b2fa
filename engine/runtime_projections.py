"""Engine's projections: the user tasks, jobs, timers, subscriptions and incidents

that mirror what a workflow waits for, brought in line after every step (engine.runtime).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select, update

from engine.errors import ProcessError
from engine.events import (
    ExecutionTrigger,
    event_subprocess_message_starts,
)
from engine.execution_view import evaluating_for
from engine.forms import FormSchema
from engine.runtime_jobs import HANDLER_DONE
from engine.runtime_support import (
    CARDINALITY_INCIDENT,
    DEFAULT_LEASE,
    StepContext,
    _render_datetime,
    _render_int,
    _render_list,
    _render_str,
    log,
    parse_retry_cycle,
)
from engine.signals import (
    event_subprocess_signal_starts,
    is_signal_definition,
    subscription_kind,
)
from engine.specs import (
    ExternalServiceTask,
    HumanTask,
    cardinality_refusal,
    timer_due,
)
from engine.step_rows import USER_TASK
from engine.store import (
    Incident,
    Job,
    JobStatus,
    MessageSubscription,
    TaskStatus,
    Timer,
)
from engine.timer_schedule import TimerSpecError


class ProjectionsMixin:
    """Part of Engine (engine.runtime); `self` is the Engine."""

    def _cardinality_incidents(self, workflow: BpmnWorkflow, ctx: StepContext) -> None:
        """A multi-instance activity refused for its cardinality (engine.limits) waits with one
        open incident naming the element and the number; retry_incident re-evaluates it."""
        refused = [
            (task, err)
            for task in workflow.get_tasks(state=TaskState.STARTED)
            if (err := cardinality_refusal(ctx.instance.id, task)) is not None
        ]
        if not refused:
            return
        open_elements = set(
            ctx.session.scalars(
                select(Incident.element_id).where(
                    Incident.instance_id == ctx.instance.id,
                    Incident.status == "open",
                    Incident.incident_type == CARDINALITY_INCIDENT,
                )
            )
        )
        for task, err in refused:
            if err.element_id in open_elements:
                continue
            ctx.session.add(
                Incident(
                    instance_id=ctx.instance.id,
                    element_id=err.element_id,
                    incident_type=CARDINALITY_INCIDENT,
                    message=err.reason,
                    created_at=ctx.now,
                    status="open",
                )
            )
            ctx.record("incident_raised", err.element_id, str(task.id), {"error": err.reason})
            log.warning("instance %s: %s", ctx.instance.id, err)

    # ------------------------------------------------------------------ projections

    def _sync(self, workflow: BpmnWorkflow, ctx: StepContext) -> None:
        previous: dict[str, str] = dict(ctx.instance.waiting or {})
        current: dict[str, str] = {}
        for task in workflow.get_tasks(state=TaskState.READY | TaskState.STARTED | TaskState.WAITING):
            spec = task.task_spec
            tid = str(task.id)
            if isinstance(spec, HumanTask) and task.state == TaskState.READY:
                current[tid] = "user"
                if previous.get(tid) != "user":
                    self._create_user_task(task, ctx)
            elif isinstance(spec, ExternalServiceTask) and task.state == TaskState.STARTED:
                # "after": an asyncAfter task whose handler has run waits for its continuation job.
                kind = "after" if task.internal_data.get(HANDLER_DONE) else "job"
                current[tid] = kind
                if previous.get(tid) != kind and (kind == "after" or tid not in ctx.task_jobs):
                    self._create_job(task, ctx)
            elif task.state == TaskState.WAITING:
                definition = getattr(spec, "event_definition", None)
                if isinstance(definition, TimerEventDefinition):
                    current[tid] = "timer"
                    self._upsert_timer(task, ctx, created=previous.get(tid) != "timer")
                elif isinstance(definition, MessageEventDefinition):
                    current[tid] = "message"
                    if previous.get(tid) != "message":
                        self._create_subscription(tid, spec.bpmn_id, definition.name, ctx)
                elif isinstance(definition, ExecutionTrigger):
                    current[tid] = "signal"
                elif is_signal_definition(definition):
                    current[tid] = subscription_kind(definition.name)
                elif isinstance(definition, MultipleEventDefinition):
                    self._sync_event_gateway(task, definition, previous, current, ctx)
        for key, element_id, message_name in event_subprocess_message_starts(workflow):
            current[key] = "message"
            if previous.get(key) != "message":
                self._create_subscription(key, element_id, message_name, ctx)
        for key, signal_name in event_subprocess_signal_starts(workflow):
            current[key] = subscription_kind(signal_name)
        for tid, kind in previous.items():
            if current.get(tid) != kind:
                self._close_projection(tid, kind, ctx)
        ctx.instance.waiting = current

    def _sync_event_gateway(self, task, definition, previous: dict, current: dict, ctx: StepContext) -> None:
        """An event-based gateway waits for each event after it at once (SpiffWorkflow moves
        the catch events' definitions onto the gateway): one timer, and a subscription for
        each message and signal, named after the catch event as Camunda names them."""
        tid = str(task.id)
        for index, sub in enumerate(definition.event_definitions):
            outputs = task.task_spec.outputs
            element_id = outputs[index].bpmn_id if index < len(outputs) else task.task_spec.bpmn_id
            key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tid}/{index}"))
            if isinstance(sub, TimerEventDefinition):
                current[tid] = "timer"
                self._upsert_timer(task, ctx, created=previous.get(tid) != "timer")
            elif isinstance(sub, MessageEventDefinition):
                current[key] = "message"
                if previous.get(key) != "message":
                    self._create_subscription(key, element_id, sub.name, ctx)
            elif is_signal_definition(sub):
                current[key] = subscription_kind(sub.name)

    def _create_user_task(self, task, ctx: StepContext) -> None:
        spec: HumanTask = task.task_spec
        a = spec.assignment
        data = task.data
        assignee = _render_str(a.assignee, data)
        groups = _render_list(a.candidate_groups, data)
        users = _render_list(a.candidate_users, data)
        if not assignee and not groups and not users and spec.lane:
            groups = [spec.lane]
        form = ctx.definition.info.task_forms.get(spec.bpmn_id, FormSchema()).with_defaults(data)
        # Camunda 7 reads a user task's name as an expression ("Approve ${amount} RUB").
        with evaluating_for(task):
            name = _render_str(spec.bpmn_name, data) or spec.bpmn_id
        row = {
            "id": str(task.id),
            "instance_id": ctx.instance.id,
            "definition_id": ctx.definition.id,
            "definition_key": ctx.definition.key,
            "business_key": ctx.instance.business_key,
            "element_id": spec.bpmn_id,
            "name": name[:255],  # the column's length: a long rendered name is cut, not refused
            "lane": spec.lane,
            "assignee": assignee,
            "owner": None,
            "candidate_groups": groups,
            "candidate_users": users,
            "due": _task_date(a.due_date, "dueDate", task, ctx),
            "follow_up": _task_date(a.follow_up_date, "followUpDate", task, ctx),
            "priority": _render_int(a.priority, data, 50),
            "form": form.to_dict() if form.fields else None,
            "form_key": a.form_key or a.form_ref,
            "status": TaskStatus.OPEN.value,
            "created_at": ctx.now,
            "completed_at": None,
            "completed_by": None,
        }
        ctx.rows.add_user_task(row, groups, users)
        ctx.record(
            "task_created",
            spec.bpmn_id,
            row["id"],
            {"name": row["name"], "assignee": assignee, "candidate_groups": groups},
        )

    def _create_job(self, task, ctx: StepContext) -> None:
        call = task.task_spec.call
        retries, _ = parse_retry_cycle(call.retry_cycle)
        inline = self.inline_jobs and call.topic in self.handlers
        job = Job(
            instance_id=ctx.instance.id,
            task_id=str(task.id),
            element_id=task.task_spec.bpmn_id,
            topic=call.topic,
            external=call.topic not in self.handlers,
            status=JobStatus.LOCKED.value if inline else JobStatus.PENDING.value,
            locked_by=self.worker_id if inline else None,
            lock_expires_at=ctx.now + DEFAULT_LEASE if inline else None,
            priority=call.priority,
            attempts=0,
            retries=retries,
            retry_cycle=call.retry_cycle,
            due_at=ctx.now,
            created_at=ctx.now,
        )
        ctx.rows.jobs.append(job)  # inserted by the save, which sets its id (engine.step_rows)
        ctx.new_jobs.append(job)

    def _upsert_timer(self, task, ctx: StepContext, created: bool) -> None:
        due = timer_due(task)
        if created:
            ctx.session.add(
                Timer(
                    instance_id=ctx.instance.id,
                    task_id=str(task.id),
                    element_id=task.task_spec.bpmn_id,
                    due_at=due,
                    status="pending",
                )
            )
            ctx.record(
                "timer_scheduled",
                task.task_spec.bpmn_id,
                str(task.id),
                {"due": due.isoformat() if due else None},
            )
        else:
            ctx.session.execute(
                update(Timer)
                .where(Timer.task_id == str(task.id), Timer.status == "pending")
                .values(due_at=due)
            )

    def _create_subscription(
        self, task_id: str, element_id: str, message_name: str, ctx: StepContext
    ) -> None:
        ctx.session.add(
            MessageSubscription(
                instance_id=ctx.instance.id,
                task_id=task_id,
                element_id=element_id,
                message_name=message_name,
                business_key=ctx.instance.business_key,
                status="waiting",
            )
        )

    def _close_projection(self, task_id: str, kind: str, ctx: StepContext) -> None:
        s = ctx.session
        if kind == "user":
            status = TaskStatus.COMPLETED if task_id in ctx.completed_task_ids else TaskStatus.CANCELLED
            if status is TaskStatus.CANCELLED:
                s.execute(
                    update(USER_TASK)
                    .where(USER_TASK.c.id == task_id, USER_TASK.c.status == "open")
                    .values(status=status.value, completed_at=ctx.now)
                )
                ctx.record("task_cancelled", None, task_id)
        elif kind in ("job", "after"):
            s.execute(
                update(Job)
                .where(Job.task_id == task_id, Job.status.in_(["pending", "locked", "failed"]))
                .values(status=JobStatus.CANCELLED.value, finished_at=ctx.now, version=Job.version + 1)
            )
            s.execute(
                update(Incident)
                .where(
                    Incident.instance_id == ctx.instance.id,
                    Incident.status == "open",
                    Incident.job_id.in_(select(Job.id).where(Job.task_id == task_id)),
                )
                .values(status="resolved", resolved_at=ctx.now)
            )
        elif kind == "timer":
            fired = task_id in ctx.completed_task_ids
            s.execute(
                update(Timer)
                .where(Timer.task_id == task_id, Timer.status == "pending")
                .values(status="fired" if fired else "cancelled")
            )
        elif kind == "message":
            s.execute(
                update(MessageSubscription)
                .where(MessageSubscription.task_id == task_id, MessageSubscription.status == "waiting")
                .values(status="correlated" if task_id in ctx.completed_task_ids else "cancelled")
            )


def _task_date(template: str | None, attribute: str, task: Any, ctx: StepContext) -> datetime | None:
    """A due or follow-up date that cannot be read fails the step naming the task and attribute."""
    try:
        return _render_datetime(template, task.data, ctx.now)
    except TimerSpecError as err:
        raise ProcessError(ctx.instance.id, task.task_spec.bpmn_id, f"camunda:{attribute}: {err}") from err
