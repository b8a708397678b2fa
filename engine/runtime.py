"""The one place that loads a process instance, steps it and saves it in one transaction.

Every change to an instance (start, complete, correlate, a job's result, a timer) goes
through `Engine._step`: lock the instance row, get the workflow (from the in-process
cache when its version is current, else deserialize), apply the change, run engine
steps, bring the projections (user tasks, jobs, timers, subscriptions) in line with
what the workflow now waits for, serialize once, commit. Handlers run outside that
transaction: a job is claimed, its handler runs, and its result is applied in a step.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import ErrorEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from engine.definitions import ProcessInfo, parse_resources
from engine.errors import (
    ConcurrentUpdateError,
    DefinitionNotFoundError,
    IncidentNotFoundError,
    InstanceNotFoundError,
    InvalidStateError,
    MessageNotCorrelatedError,
    NotFoundError,
    ProcessError,
    TaskAlreadyClaimed,
    TaskAlreadyCompleted,
    TaskNotFoundError,
)
from engine.expressions import ExpressionEvaluationError, is_expression, render
from engine.forms import FormSchema
from engine.handlers import BpmnError, HandlerRegistry, JobContext, default_registry
from engine.script_engine import SafeScriptEngine
from engine.serialization import dump_workflow, load_workflow, to_jsonable
from engine.specs import EngineMessage, ExternalServiceTask, HumanTask, timer_due
from engine.store import (
    Deployment,
    HistoryEvent,
    Incident,
    Instance,
    InstanceStatus,
    Job,
    JobStatus,
    MessageSubscription,
    ProcessDefinition,
    Resource,
    TaskCandidate,
    TaskStatus,
    Timer,
    UserTask,
    is_postgres,
)

log = logging.getLogger(__name__)

# (calendar, start, working time, whole working days) -> end
BusinessTimeAdd = Callable[[str, datetime, timedelta, int], datetime]
DEFAULT_LEASE = timedelta(minutes=5)
DEFAULT_RETRIES = 3


def utcnow() -> datetime:
    return datetime.now(UTC)


class EngineScriptEngine(SafeScriptEngine):
    """The safe script engine plus the engine clock and business calendars timers read."""

    def __init__(self, engine: Engine, allow_scripts: bool) -> None:
        super().__init__(allow_scripts=allow_scripts)
        self._engine = engine

    def now(self) -> datetime:
        return self._engine.now()

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


@dataclass
class StepContext:
    """What one transaction on one instance accumulates before commit."""

    session: Session
    instance: Instance
    definition: LoadedDefinition
    user: str | None
    now: datetime
    history: list[HistoryEvent] = field(default_factory=list)
    completed_task_ids: set[str] = field(default_factory=set)
    new_jobs: list[Job] = field(default_factory=list)

    def record(
        self,
        kind: str,
        element_id: str | None = None,
        task_id: str | None = None,
        data: dict[str, Any] | None = None,
        user: str | None = None,
    ) -> None:
        self.history.append(
            HistoryEvent(
                instance_id=self.instance.id,
                at=self.now,
                kind=kind,
                element_id=element_id,
                task_id=task_id,
                user=user or self.user,
                data=to_jsonable(data) if data else None,
            )
        )


@dataclass(frozen=True)
class StartResult:
    id: str
    definition_id: str
    business_key: str | None
    ended: bool
    status: str


class Engine:
    """The process runtime. One per app; thread-safe; holds no request state."""

    def __init__(
        self,
        session_factory: sessionmaker,
        handlers: HandlerRegistry | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        business_time_add: BusinessTimeAdd | None = None,
        allow_scripts: bool = False,
        inline_jobs: bool = True,
        worker_id: str = "inline",
        cache_size: int = 2000,
        dispatch: Callable[[list[int]], None] | None = None,
        resources: Any = None,
    ) -> None:
        self.session_factory = session_factory
        self.handlers = handlers if handlers is not None else default_registry
        self.clock = clock
        self.business_time_add = business_time_add
        self.allow_scripts = allow_scripts
        self.inline_jobs = inline_jobs
        self.worker_id = worker_id
        self.dispatch = dispatch
        self.resources = resources
        self.script_engine = EngineScriptEngine(self, allow_scripts)
        self._definitions: dict[str, LoadedDefinition] = {}
        self._definitions_lock = threading.Lock()
        self._workflows: OrderedDict[str, tuple[int, BpmnWorkflow]] = OrderedDict()
        self._workflows_lock = threading.Lock()
        self._cache_size = cache_size
        self._postgres = is_postgres(session_factory.kw["bind"])

    # ------------------------------------------------------------------ clock & definitions

    def now(self) -> datetime:
        now = self.clock()
        return now if now.tzinfo else now.replace(tzinfo=UTC)

    def definition(self, session: Session, definition_id: str) -> LoadedDefinition:
        """The parsed definition, from cache; parsed from its deployment's resources on first use."""
        cached = self._definitions.get(definition_id)
        if cached is not None:
            return cached
        row = session.get(ProcessDefinition, definition_id)
        if row is None:
            raise DefinitionNotFoundError(definition_id)
        resources = {
            r.name: r.content
            for r in session.scalars(select(Resource).where(Resource.deployment_id == row.deployment_id))
        }
        parsed = parse_resources(resources, allow_scripts=True, lint=False)
        if row.key not in parsed.processes:
            problems = "; ".join(str(p) for p in parsed.errors) or "process not found in its resources"
            raise ProcessError("-", None, f"definition {definition_id} cannot be loaded: {problems}")
        info = parsed.processes[row.key]
        for called in info.missing_called:
            latest = self._latest_row(session, called)
            if latest is not None:
                other = self.definition(session, latest.id)
                info.subprocess_specs[called] = other.info.spec
                info.subprocess_specs.update(other.info.subprocess_specs)
        _wire_loop_tasks(info.spec, *info.subprocess_specs.values())
        loaded = LoadedDefinition(row.id, row.key, row.version, row.name, info)
        with self._definitions_lock:
            self._definitions[definition_id] = loaded
        return loaded

    def _latest_row(self, session: Session, key: str) -> ProcessDefinition | None:
        return session.scalars(
            select(ProcessDefinition)
            .where(ProcessDefinition.key == key)
            .order_by(ProcessDefinition.version.desc())
        ).first()

    def latest_definition_id(self, session: Session, key: str) -> str:
        row = self._latest_row(session, key)
        if row is None:
            known = list(session.scalars(select(ProcessDefinition.key).distinct()))
            raise DefinitionNotFoundError(key, known)
        return row.id

    def delete_deployment(
        self, deployment_id: str, *, cascade: bool = False, user: str | None = None
    ) -> None:
        """Delete a deployment with its resources and definitions (Camunda's DELETE /deployment/{id}).

        Instances point at their definition, so without `cascade` any instance refuses the
        delete, finished ones too: deleting those would erase their audit history. With
        `cascade`, running instances are cancelled, then every instance goes with its history.
        """
        with self.session_factory() as session:
            if session.get(Deployment, deployment_id) is None:
                raise NotFoundError(f"No deployment {deployment_id!r}; check the id in the deployment list.")
            definition_ids = list(
                session.scalars(
                    select(ProcessDefinition.id).where(ProcessDefinition.deployment_id == deployment_id)
                )
            )
            instances = list(
                session.execute(
                    select(Instance.id, Instance.status).where(Instance.definition_id.in_(definition_ids))
                )
            )
        running = [i for i, status in instances if status == InstanceStatus.RUNNING.value]
        if instances and not cascade:
            raise InvalidStateError(
                f"Deployment {deployment_id} has {len(instances)} process instance(s), {len(running)} "
                "running; delete with cascade=true to cancel them and delete them with their history."
            )
        for instance_id in running:
            self.cancel(instance_id, user=user, reason=f"deployment {deployment_id} deleted")
        instance_ids = [i for i, _ in instances]
        with self.session_factory() as session, session.begin():
            session.execute(delete(HistoryEvent).where(HistoryEvent.instance_id.in_(instance_ids)))
            session.execute(delete(Instance).where(Instance.id.in_(instance_ids)))
            session.execute(delete(ProcessDefinition).where(ProcessDefinition.id.in_(definition_ids)))
            session.execute(delete(Deployment).where(Deployment.id == deployment_id))
        with self._definitions_lock:
            for definition_id in definition_ids:
                self._definitions.pop(definition_id, None)
        with self._workflows_lock:
            for instance_id in instance_ids:
                self._workflows.pop(instance_id, None)
        log.info("deployment %s deleted by %s with %s instance(s)", deployment_id, user, len(instance_ids))

    # ------------------------------------------------------------------ workflow cache

    def _take_cached(self, instance_id: str, version: int) -> BpmnWorkflow | None:
        with self._workflows_lock:
            entry = self._workflows.pop(instance_id, None)
        if entry is not None and entry[0] == version:
            return entry[1]
        return None

    def _put_cached(self, instance_id: str, version: int, workflow: BpmnWorkflow) -> None:
        with self._workflows_lock:
            self._workflows[instance_id] = (version, workflow)
            self._workflows.move_to_end(instance_id)
            while len(self._workflows) > self._cache_size:
                self._workflows.popitem(last=False)

    def _load(self, inst: Instance, definition: LoadedDefinition) -> BpmnWorkflow:
        workflow = self._take_cached(inst.id, inst.version)
        if workflow is None:
            workflow = load_workflow(inst.state, definition.info.spec, definition.info.subprocess_specs)
        workflow.script_engine = self.script_engine
        return workflow

    # ------------------------------------------------------------------ the step

    def _step(
        self,
        instance_id: str,
        action: Callable[[BpmnWorkflow, StepContext], Any],
        *,
        user: str | None = None,
        retry: bool = True,
    ) -> Any:
        """Run `action` on the instance and save, in one transaction; retry once on a stale version."""
        attempts = 2 if retry else 1
        for attempt in range(attempts):
            try:
                return self._step_once(instance_id, action, user)
            except StaleDataError as err:
                log.info("instance %s changed concurrently (attempt %s)", instance_id, attempt + 1)
                if attempt + 1 == attempts:
                    raise ConcurrentUpdateError(instance_id) from err
        raise AssertionError("unreachable")

    def _step_once(self, instance_id: str, action, user):
        with self.session_factory() as session:
            with session.begin():
                stmt = select(Instance).where(Instance.id == instance_id)
                if self._postgres:
                    stmt = stmt.with_for_update()
                inst = session.scalars(stmt).first()
                if inst is None:
                    raise InstanceNotFoundError(instance_id)
                definition = self.definition(session, inst.definition_id)
                workflow = self._load(inst, definition)
                ctx = StepContext(session, inst, definition, user, self.now())
                result = self._apply(workflow, ctx, action)
            version = inst.version
        self._committed(ctx, workflow, version)
        return result

    def _apply(self, workflow: BpmnWorkflow, ctx: StepContext, action) -> Any:
        """Inside the transaction: the change, engine steps and projections, then one save."""
        try:
            result = action(workflow, ctx)
            self._advance(workflow, ctx)
        except (SpiffWorkflowException, ExpressionEvaluationError) as err:
            raise _process_error(ctx.instance.id, err) from err
        self._save(workflow, ctx)
        return result

    def _committed(self, ctx: StepContext, workflow: BpmnWorkflow, version: int) -> None:
        """After commit: keep the workflow object for the next step and run or dispatch new jobs."""
        self._put_cached(ctx.instance.id, version, workflow)
        self._after_commit(ctx)

    def _advance(self, workflow: BpmnWorkflow, ctx: StepContext) -> None:
        """Run engine steps until only people, jobs, timers and messages are left; then sync projections."""
        while True:
            workflow.do_engine_steps()
            inline = [
                t
                for t in workflow.get_tasks(state=TaskState.STARTED)
                if isinstance(t.task_spec, ExternalServiceTask)
                and t.task_spec.call.implementation == "expression"
            ]
            if not inline:
                break
            for task in inline:
                call = task.task_spec.call
                value = render(call.expression, task.data)
                if call.result_variable:
                    task.data[call.result_variable] = value
                task.complete()
                ctx.record(
                    "service_task_called",
                    task.task_spec.bpmn_id,
                    str(task.id),
                    {"expression": call.expression},
                )
        self._sync(workflow, ctx)

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
                current[tid] = "job"
                if previous.get(tid) != "job":
                    self._create_job(task, ctx)
            elif task.state == TaskState.WAITING:
                definition = getattr(spec, "event_definition", None)
                if isinstance(definition, TimerEventDefinition):
                    current[tid] = "timer"
                    self._upsert_timer(task, ctx, created=previous.get(tid) != "timer")
                elif isinstance(definition, MessageEventDefinition):
                    current[tid] = "message"
                    if previous.get(tid) != "message":
                        self._create_subscription(task, definition.name, ctx)
        for tid, kind in previous.items():
            if current.get(tid) != kind:
                self._close_projection(tid, kind, ctx)
        ctx.instance.waiting = current

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
        row = UserTask(
            id=str(task.id),
            instance_id=ctx.instance.id,
            definition_id=ctx.definition.id,
            definition_key=ctx.definition.key,
            business_key=ctx.instance.business_key,
            element_id=spec.bpmn_id,
            name=spec.bpmn_name or spec.bpmn_id,
            lane=spec.lane,
            assignee=assignee,
            candidate_groups=groups,
            candidate_users=users,
            due=_render_datetime(a.due_date, data),
            follow_up=_render_datetime(a.follow_up_date, data),
            priority=_render_int(a.priority, data, 50),
            form=form.to_dict() if form.fields else None,
            form_key=a.form_key or a.form_ref,
            status=TaskStatus.OPEN.value,
            created_at=ctx.now,
        )
        row.candidates = [TaskCandidate(kind="group", name=g) for g in groups] + [
            TaskCandidate(kind="user", name=u) for u in users
        ]
        ctx.session.add(row)
        ctx.record(
            "task_created",
            spec.bpmn_id,
            row.id,
            {"name": row.name, "assignee": assignee, "candidate_groups": groups},
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
        ctx.session.add(job)
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

    def _create_subscription(self, task, message_name: str, ctx: StepContext) -> None:
        ctx.session.add(
            MessageSubscription(
                instance_id=ctx.instance.id,
                task_id=str(task.id),
                element_id=task.task_spec.bpmn_id,
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
                    update(UserTask)
                    .where(UserTask.id == task_id, UserTask.status == "open")
                    .values(status=status.value, completed_at=ctx.now)
                )
                ctx.record("task_cancelled", None, task_id)
        elif kind == "job":
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

    # ------------------------------------------------------------------ save

    def _save(self, workflow: BpmnWorkflow, ctx: StepContext) -> None:
        inst = ctx.instance
        inst.state = dump_workflow(workflow)
        inst.variables = to_jsonable(current_variables(workflow))
        if workflow.completed and inst.status == InstanceStatus.RUNNING.value:
            inst.status = InstanceStatus.COMPLETED.value
            inst.ended_at = ctx.now
            ctx.record("instance_ended", None, None, {"variables": inst.variables})
        ctx.session.add_all(ctx.history)
        ctx.session.flush()

    def _after_commit(self, ctx: StepContext) -> None:
        job_ids = [j.id for j in ctx.new_jobs]
        if not job_ids:
            return
        if self.dispatch is not None:
            self.dispatch(job_ids)
        if self.inline_jobs:
            for job in ctx.new_jobs:
                if job.status == JobStatus.LOCKED.value and job.locked_by == self.worker_id:
                    self.execute_job(job.id, claimed=True)

    # ------------------------------------------------------------------ public API: instances

    def start(
        self,
        key: str | None = None,
        business_key: str | None = None,
        variables: Mapping[str, Any] | None = None,
        *,
        definition_id: str | None = None,
        user: str | None = None,
        validate_form: bool = True,
    ) -> StartResult:
        """Start the latest version of `key` (or a given definition) with initial variables."""
        with self.session_factory() as session:
            if definition_id is None:
                if not key:
                    raise DefinitionNotFoundError("(none given)")
                definition_id = self.latest_definition_id(session, key)
            definition = self.definition(session, definition_id)
        variables = dict(variables or {})
        start_form = definition.info.start_form
        if validate_form and start_form.fields:
            # A caller that leaves a field out gets its default, as the form would have shown it.
            defaults = {
                f.id: f.default for f in start_form.fields if f.default is not None and f.id not in variables
            }
            variables = start_form.validate({**defaults, **variables})
        return self._create_instance(definition, business_key, variables, user, message=None)

    def _create_instance(self, definition: LoadedDefinition, business_key, variables, user, message):
        instance_id = str(uuid.uuid4())
        workflow = BpmnWorkflow(
            definition.info.spec, definition.info.subprocess_specs, script_engine=self.script_engine
        )
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(variables)
        with self.session_factory() as session:
            with session.begin():
                inst = Instance(
                    id=instance_id,
                    definition_id=definition.id,
                    definition_key=definition.key,
                    business_key=business_key,
                    status=InstanceStatus.RUNNING.value,
                    state=b"",
                    variables={},
                    waiting={},
                    started_at=self.now(),
                    started_by=user,
                )
                session.add(inst)
                session.flush()
                ctx = StepContext(session, inst, definition, user, self.now())
                ctx.record(
                    "instance_started", None, None, {"variables": variables, "business_key": business_key}
                )

                def begin(wf: BpmnWorkflow, step: StepContext) -> None:
                    wf.do_engine_steps()
                    if message is not None:
                        wf.catch(_message_event(message, variables))
                        step.record("message_correlated", None, None, {"message": message})

                self._apply(workflow, ctx, begin)
            version = inst.version
        self._committed(ctx, workflow, version)
        return self._start_result(instance_id)

    def _start_result(self, instance_id: str) -> StartResult:
        with self.session_factory() as session:
            inst = session.get(Instance, instance_id)
            return StartResult(
                inst.id,
                inst.definition_id,
                inst.business_key,
                inst.status != InstanceStatus.RUNNING.value,
                inst.status,
            )

    def cancel(self, instance_id: str, user: str | None = None, reason: str | None = None) -> None:
        def action(workflow: BpmnWorkflow, ctx: StepContext) -> None:
            if ctx.instance.status != InstanceStatus.RUNNING.value:
                raise InvalidStateError(
                    f"Instance {instance_id} is {ctx.instance.status}; only running ones cancel."
                )
            workflow.cancel()
            ctx.instance.status = InstanceStatus.CANCELLED.value
            ctx.instance.ended_at = ctx.now
            ctx.record("instance_cancelled", data={"reason": reason})

        self._step(instance_id, action, user=user)

    def set_variables(self, instance_id: str, variables: Mapping[str, Any], user: str | None = None) -> None:
        """Change process variables on every waiting path (Cockpit's "edit variable"), audited."""

        def action(workflow: BpmnWorkflow, ctx: StepContext) -> None:
            before = current_variables(workflow)
            targets = workflow.get_tasks(state=TaskState.READY | TaskState.STARTED | TaskState.WAITING)
            for task in targets:
                task.data.update(variables)
            workflow.data.update(variables)
            changes = {k: {"old": before.get(k), "new": v} for k, v in variables.items()}
            ctx.record("variables_changed", data=changes)

        self._step(instance_id, action, user=user)

    # ------------------------------------------------------------------ public API: user tasks

    def claim(self, task_id: str, user: str) -> None:
        def change(task: UserTask) -> None:
            if task.assignee and task.assignee != user:
                raise TaskAlreadyClaimed(task_id, task.assignee)
            task.assignee = user

        self._reassign(task_id, "task_claimed", user, change)

    def unclaim(self, task_id: str, user: str | None = None) -> None:
        self._reassign(task_id, "task_unclaimed", user, lambda task: setattr(task, "assignee", None))

    def delegate(self, task_id: str, to_user: str, user: str | None = None) -> None:
        def change(task: UserTask) -> None:
            task.owner = task.owner or task.assignee or user
            task.assignee = to_user

        self._reassign(task_id, "task_delegated", user, change, {"to": to_user})

    def _reassign(
        self,
        task_id: str,
        kind: str,
        user: str | None,
        change: Callable[[UserTask], None],
        data: dict[str, Any] | None = None,
    ) -> None:
        """Who holds a task lives in the projection only (as in Camunda); the workflow is untouched."""
        with self.session_factory() as session, session.begin():
            task = self._open_task(session, task_id)
            change(task)
            session.add(
                HistoryEvent(
                    instance_id=task.instance_id,
                    at=self.now(),
                    kind=kind,
                    element_id=task.element_id,
                    task_id=task_id,
                    user=user,
                    data=data,
                )
            )

    def _open_task(self, session: Session, task_id: str) -> UserTask:
        task = session.get(UserTask, task_id)
        if task is None:
            raise TaskNotFoundError(task_id)
        if task.status != TaskStatus.OPEN.value:
            raise TaskAlreadyCompleted(task_id, task.completed_by)
        return task

    def task_form(self, task_id: str) -> FormSchema:
        with self.session_factory() as session:
            task = session.get(UserTask, task_id)
            if task is None:
                raise TaskNotFoundError(task_id)
            return FormSchema.from_dict(task.form)

    def complete(self, task_id: str, user: str | None, data: Mapping[str, Any] | None = None) -> None:
        """Complete a user task with form data; validated first, so a bad value saves nothing."""
        with self.session_factory() as session:
            row = session.get(UserTask, task_id)
            if row is None:
                raise TaskNotFoundError(task_id)
            if row.status != TaskStatus.OPEN.value:
                raise TaskAlreadyCompleted(task_id, row.completed_by)
            instance_id = row.instance_id
            schema = FormSchema.from_dict(row.form)
        values = schema.validate(dict(data or {}))

        def action(workflow: BpmnWorkflow, ctx: StepContext) -> None:
            task = (
                workflow.get_task_from_id(uuid.UUID(task_id))
                if uuid.UUID(task_id) in _all_ids(workflow)
                else None
            )
            if task is None or task.state != TaskState.READY:
                current = ctx.session.get(UserTask, task_id)
                raise TaskAlreadyCompleted(task_id, current.completed_by if current else None)
            task.data.update(values)
            task.run()
            ctx.completed_task_ids.add(task_id)
            ctx.session.execute(
                update(UserTask)
                .where(UserTask.id == task_id)
                .values(status=TaskStatus.COMPLETED.value, completed_at=ctx.now, completed_by=user)
            )
            ctx.record("task_completed", task.task_spec.bpmn_id, task_id, {"data": values})

        self._step(instance_id, action, user=user, retry=False)

    # ------------------------------------------------------------------ public API: messages

    def correlate(
        self,
        message_name: str,
        business_key: str | None = None,
        variables: Mapping[str, Any] | None = None,
        *,
        all_instances: bool = False,
        user: str | None = None,
    ) -> list[str]:
        """Deliver a message to waiting instances, or start a process with that message start event."""
        variables = dict(variables or {})
        with self.session_factory() as session:
            stmt = (
                select(MessageSubscription.instance_id)
                .join(Instance, Instance.id == MessageSubscription.instance_id)
                .where(
                    MessageSubscription.message_name == message_name, MessageSubscription.status == "waiting"
                )
                .order_by(MessageSubscription.id)
            )
            if business_key is not None:
                stmt = stmt.where(Instance.business_key == business_key)
            waiting = list(dict.fromkeys(session.scalars(stmt)))
            starters = (
                []
                if waiting
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
                definition = self.definition(session, row.id)
            started.append(self._create_instance(definition, business_key, variables, user, message_name).id)
        return started

    def _deliver(
        self, workflow: BpmnWorkflow, ctx: StepContext, name: str, variables: dict[str, Any]
    ) -> None:
        waiting = {str(t.id) for t in workflow.get_tasks(state=TaskState.WAITING)}
        workflow.catch(_message_event(name, variables))
        now_done = {
            tid for tid in waiting if workflow.get_task_from_id(uuid.UUID(tid)).state != TaskState.WAITING
        }
        ctx.completed_task_ids |= now_done
        ctx.record("message_correlated", data={"message": name, "variables": variables})

    # ------------------------------------------------------------------ timers

    def fire_due_timers(self, now: datetime | None = None, limit: int = 100) -> int:
        """Step every instance with a timer due at `now`; returns how many instances were stepped."""
        now = now or self.now()
        with self.session_factory() as session:
            due = list(
                dict.fromkeys(
                    session.scalars(
                        select(Timer.instance_id)
                        .where(Timer.status == "pending", Timer.due_at <= now)
                        .order_by(Timer.due_at)
                        .limit(limit)
                    )
                )
            )
        for instance_id in due:
            self._step(instance_id, self._refresh_timers)
        return len(due)

    def due_timer_ids(self, now: datetime | None = None, limit: int = 100) -> list[int]:
        """Pending timers due at `now`, oldest first (the scale-out scheduler sends one message each)."""
        now = now or self.now()
        with self.session_factory() as session:
            return list(
                session.scalars(
                    select(Timer.id)
                    .where(Timer.status == "pending", Timer.due_at <= now)
                    .order_by(Timer.due_at)
                    .limit(limit)
                )
            )

    def fire_timer(self, timer_id: int) -> bool:
        """Step the instance of one due timer; False when it fired already, was cancelled or is not due.

        A duplicate message for the same timer finds it fired and does nothing.
        """
        with self.session_factory() as session:
            timer = session.get(Timer, timer_id)
            if timer is None or timer.status != "pending" or timer.due_at is None:
                return False
            if timer.due_at > self.now():
                return False
            instance_id = timer.instance_id
        self._step(instance_id, self._refresh_timers)
        return True

    def _refresh_timers(self, workflow: BpmnWorkflow, ctx: StepContext) -> None:
        timers = {
            str(t.id): t.task_spec.bpmn_id
            for t in workflow.get_tasks(state=TaskState.WAITING)
            if isinstance(getattr(t.task_spec, "event_definition", None), TimerEventDefinition)
        }
        workflow.refresh_timers()
        for tid, element in timers.items():
            if workflow.get_task_from_id(uuid.UUID(tid)).state != TaskState.WAITING:
                ctx.completed_task_ids.add(tid)
                ctx.record("timer_fired", element, tid)

    # ------------------------------------------------------------------ jobs

    def claim_job(self, job_id: int, worker_id: str, lease: timedelta = DEFAULT_LEASE) -> bool:
        """Take a pending (or lease-expired) job for this worker; False when someone else has it.

        On PostgreSQL the row is taken with FOR UPDATE SKIP LOCKED, so a worker never waits
        behind another transaction that holds it (a duplicate message, a step finishing it).
        """
        now = self.now()
        claimable = ((Job.status == JobStatus.PENDING.value) & (Job.due_at <= now)) | (
            (Job.status == JobStatus.LOCKED.value) & (Job.lock_expires_at < now)
        )
        target = Job.id == job_id
        if self._postgres:
            free = select(Job.id).where(Job.id == job_id, claimable).with_for_update(skip_locked=True)
            target = Job.id.in_(free.scalar_subquery())
        with self.session_factory() as session, session.begin():
            result = session.execute(
                update(Job)
                .where(target, claimable)
                .values(
                    status=JobStatus.LOCKED.value,
                    locked_by=worker_id,
                    lock_expires_at=now + lease,
                    version=Job.version + 1,
                )
                .execution_options(synchronize_session=False)
            )
            return result.rowcount == 1

    def extend_job_lock(self, job_id: int, worker_id: str, lease: timedelta) -> bool:
        """Move the lock's expiry to now + lease (Camunda's extendLock); False unless this worker holds it."""
        now = self.now()
        with self.session_factory() as session, session.begin():
            result = session.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    Job.status == JobStatus.LOCKED.value,
                    Job.locked_by == worker_id,
                    Job.lock_expires_at >= now,
                )
                .values(lock_expires_at=now + lease, version=Job.version + 1)
                .execution_options(synchronize_session=False)
            )
            return result.rowcount == 1

    def unlock_job(self, job_id: int) -> bool:
        """Give a locked job back to the queue at once (Camunda's unlock); False when it is not locked."""
        with self.session_factory() as session, session.begin():
            result = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.LOCKED.value)
                .values(
                    status=JobStatus.PENDING.value,
                    locked_by=None,
                    lock_expires_at=None,
                    version=Job.version + 1,
                )
                .execution_options(synchronize_session=False)
            )
            return result.rowcount == 1

    def due_job_ids(
        self, limit: int = 50, now: datetime | None = None, topics: Iterable[str] | None = None
    ) -> list[int]:
        now = now or self.now()
        known = list(topics) if topics is not None else self.handlers.topics()
        with self.session_factory() as session:
            return list(
                session.scalars(
                    select(Job.id)
                    .where(
                        Job.topic.in_(known),
                        ((Job.status == JobStatus.PENDING.value) & (Job.due_at <= now))
                        | ((Job.status == JobStatus.LOCKED.value) & (Job.lock_expires_at < now)),
                    )
                    .order_by(Job.priority.desc(), Job.due_at)
                    .limit(limit)
                )
            )

    def claim_due_jobs(self, worker_id: str, limit: int = 50, lease: timedelta = DEFAULT_LEASE) -> list[int]:
        """Claim up to `limit` due in-process jobs for one worker.

        On PostgreSQL one UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) takes a batch
        without two workers ever waiting on, or taking, the same rows. SQLite has one
        writer at a time, so a conditional UPDATE per job gives the same guarantee.
        """
        if not self._postgres:
            return [job_id for job_id in self.due_job_ids(limit) if self.claim_job(job_id, worker_id, lease)]
        now = self.now()
        due = (
            select(Job.id)
            .where(
                Job.topic.in_(self.handlers.topics()),
                ((Job.status == JobStatus.PENDING.value) & (Job.due_at <= now))
                | ((Job.status == JobStatus.LOCKED.value) & (Job.lock_expires_at < now)),
            )
            .order_by(Job.priority.desc(), Job.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self.session_factory() as session, session.begin():
            return list(
                session.scalars(
                    update(Job)
                    .where(Job.id.in_(due.scalar_subquery()))
                    .values(
                        status=JobStatus.LOCKED.value,
                        locked_by=worker_id,
                        lock_expires_at=now + lease,
                        version=Job.version + 1,
                    )
                    .returning(Job.id)
                    .execution_options(synchronize_session=False)
                )
            )

    def run_due_jobs(self, limit: int = 50, worker_id: str | None = None) -> int:
        """Claim and run due in-process jobs (the worker loop's body); returns how many ran."""
        worker = worker_id or self.worker_id
        claimed = self.claim_due_jobs(worker, limit)
        for job_id in claimed:
            self.execute_job(job_id, claimed=True, worker_id=worker)
        return len(claimed)

    def execute_job(self, job_id: int, *, claimed: bool = False, worker_id: str | None = None) -> str:
        """Run a claimed job's handler outside any transaction, then apply its result in a step."""
        worker = worker_id or self.worker_id
        if not claimed and not self.claim_job(job_id, worker):
            return "skipped"
        with self.session_factory() as session:
            job = session.get(Job, job_id)
            if job is None or job.status != JobStatus.LOCKED.value or job.locked_by != worker:
                return "skipped"
            inst = session.get(Instance, job.instance_id)
            handler = self.handlers.get(job.topic)
            inputs = self._job_inputs(session, job, inst)
            context = JobContext(
                job.id,
                job.instance_id,
                inst.business_key,
                job.element_id,
                job.topic or "",
                job.attempts + 1,
                self.now(),
                self.resources,
            )
        if handler is None:
            self._job_failed(job_id, f"no handler registered for topic {job.topic!r}", None, retry=False)
            return "failed"
        started = self.now()
        try:
            outputs = handler(inputs, context)
        except BpmnError as err:
            self._apply_bpmn_error(job_id, err)
            return "bpmn_error"
        except Exception as err:  # a handler's failure becomes a retry or an incident, never a crash
            log.warning("job %s (%s) failed: %s", job_id, job_id and context.topic, err)
            self._job_failed(job_id, f"{type(err).__name__}: {err}", None)
            return "failed"
        elapsed_ms = (self.now() - started).total_seconds() * 1000
        self.complete_job(job_id, outputs, worker_id=worker, inputs=inputs, elapsed_ms=elapsed_ms)
        return "done"

    def _job_inputs(self, session: Session, job: Job, inst: Instance) -> dict[str, Any]:
        definition = self.definition(session, inst.definition_id)
        workflow = self._peek(inst, definition)
        task = _find_task(workflow, job.task_id)
        if task is None:
            return {}
        call = task.task_spec.call
        # As in Camunda, input parameters add local variables on top of the visible process variables.
        return {**task.data, **{p.name: p.resolve(task.data) for p in call.inputs}}

    def _peek(self, inst: Instance, definition: LoadedDefinition) -> BpmnWorkflow:
        """A read-only look at the workflow (job inputs); never mutated, so the cache stays valid."""
        with self._workflows_lock:
            entry = self._workflows.get(inst.id)
        if entry is not None and entry[0] == inst.version:
            return entry[1]
        return load_workflow(inst.state, definition.info.spec, definition.info.subprocess_specs)

    def job_variables(self, job_id: int) -> dict[str, Any]:
        with self.session_factory() as session:
            job = session.get(Job, job_id)
            inst = session.get(Instance, job.instance_id)
            return self._job_inputs(session, job, inst)

    def complete_job(
        self,
        job_id: int,
        outputs: Mapping[str, Any] | None,
        *,
        worker_id: str | None = None,
        inputs: Mapping[str, Any] | None = None,
        elapsed_ms: float | None = None,
    ) -> bool:
        """Apply a job's result: set outputs, complete the service task, step on, mark the job done."""
        with self.session_factory() as session:
            job = session.get(Job, job_id)
            if job is None:
                raise InvalidStateError(f"No job {job_id}.")
            if job.status == JobStatus.DONE.value:
                return False
            instance_id = job.instance_id
        outputs = dict(outputs or {})

        def action(workflow: BpmnWorkflow, ctx: StepContext) -> bool:
            row = ctx.session.get(Job, job_id)
            if row.status not in (JobStatus.LOCKED.value, JobStatus.PENDING.value):
                return False
            if worker_id is not None and row.locked_by not in (None, worker_id):
                raise InvalidStateError(f"Job {job_id} is locked by {row.locked_by}, not {worker_id}.")
            task = _find_task(workflow, row.task_id)
            if task is None or task.state != TaskState.STARTED:
                row.status = JobStatus.CANCELLED.value
                row.finished_at = ctx.now
                return False
            call = task.task_spec.call
            if call.outputs:
                scope = {**task.data, **outputs}
                task.data.update({p.name: p.resolve(scope) for p in call.outputs})
            else:
                task.data.update(outputs)
            task.complete()
            row.status = JobStatus.DONE.value
            row.finished_at = ctx.now
            row.attempts += 1
            row.locked_by = None
            ctx.record(
                "service_task_called",
                row.element_id,
                row.task_id,
                {
                    "topic": row.topic,
                    "inputs": dict(inputs or {}),
                    "outputs": outputs,
                    "duration_ms": round(elapsed_ms, 3) if elapsed_ms is not None else None,
                    "job_id": job_id,
                },
            )
            return True

        return self._step(instance_id, action)

    def _job_failed(
        self,
        job_id: int,
        message: str,
        details: str | None,
        *,
        retry: bool = True,
        retries: int | None = None,
        retry_timeout: timedelta | None = None,
    ) -> None:
        now = self.now()
        with self.session_factory() as session, session.begin():
            job = session.get(Job, job_id)
            if job is None or job.status not in (JobStatus.LOCKED.value, JobStatus.PENDING.value):
                return
            job.attempts += 1
            job.error, job.error_details = message[:4000], details
            job.locked_by, job.lock_expires_at = None, None
            job.retries = (job.retries - 1) if retries is None else retries
            if not retry:
                job.retries = 0
            if job.retries > 0:
                _, backoff = parse_retry_cycle(job.retry_cycle)
                job.status = JobStatus.PENDING.value
                job.due_at = now + (retry_timeout if retry_timeout is not None else backoff(job.attempts))
                session.add(
                    HistoryEvent(
                        instance_id=job.instance_id,
                        at=now,
                        kind="job_failed",
                        element_id=job.element_id,
                        data={"error": message, "retries": job.retries},
                    )
                )
            else:
                job.status = JobStatus.FAILED.value
                session.add(
                    Incident(
                        instance_id=job.instance_id,
                        job_id=job.id,
                        element_id=job.element_id,
                        incident_type="failedJob",
                        message=message[:4000],
                        created_at=now,
                        status="open",
                    )
                )
                session.add(
                    HistoryEvent(
                        instance_id=job.instance_id,
                        at=now,
                        kind="incident_raised",
                        element_id=job.element_id,
                        data={"error": message},
                    )
                )
                log.warning("job %s on instance %s raised an incident: %s", job_id, job.instance_id, message)

    def fail_job(
        self,
        job_id: int,
        message: str,
        details: str | None = None,
        *,
        retries: int | None = None,
        retry_timeout: timedelta | None = None,
    ) -> None:
        """An external worker's failure report (Camunda's /failure): retries left, or an incident at 0."""
        self._job_failed(job_id, message, details, retries=retries, retry_timeout=retry_timeout)

    def _apply_bpmn_error(self, job_id: int, err: BpmnError) -> None:
        self.throw_bpmn_error(job_id, err.code, err.error_message, err.variables)

    def throw_bpmn_error(
        self, job_id: int, code: str, message: str = "", variables: Mapping[str, Any] | None = None
    ) -> None:
        """Raise a BPMN error on the job's task; an error boundary event catches it, else an incident."""
        with self.session_factory() as session:
            job = session.get(Job, job_id)
            instance_id = job.instance_id

        def action(workflow: BpmnWorkflow, ctx: StepContext) -> None:
            row = ctx.session.get(Job, job_id)
            task = _find_task(workflow, row.task_id)
            if task is None:
                raise InvalidStateError(f"Job {job_id}'s task is no longer active.")
            task.data.update(variables or {})
            # The payload becomes the boundary path's data: the worker's variables survive the error.
            event = BpmnEvent(ErrorEventDefinition(code, code=code), dict(variables or {}))
            caught = workflow.event_manager.catch(event) if hasattr(workflow, "event_manager") else 0
            if not caught:
                raise _UncaughtBpmnError(code)
            row.status = JobStatus.DONE.value
            row.finished_at = ctx.now
            ctx.record("bpmn_error", row.element_id, row.task_id, {"code": code, "message": message})

        try:
            self._step(instance_id, action)
        except _UncaughtBpmnError:
            self._job_failed(
                job_id,
                f"BPMN error {code!r} is not caught by any boundary event: {message}",
                None,
                retry=False,
            )

    def retry_incident(self, incident_id: int, user: str | None = None) -> None:
        """Resolve an incident and give its job one more try (Cockpit's "retry")."""
        now = self.now()
        with self.session_factory() as session, session.begin():
            incident = session.get(Incident, incident_id)
            if incident is None or incident.status != "open":
                raise IncidentNotFoundError(incident_id)
            incident.status, incident.resolved_at = "resolved", now
            job = session.get(Job, incident.job_id) if incident.job_id else None
            if job is not None:
                job.status, job.retries, job.due_at = JobStatus.PENDING.value, 1, now
            session.add(
                HistoryEvent(
                    instance_id=incident.instance_id,
                    at=now,
                    kind="incident_resolved",
                    element_id=incident.element_id,
                    user=user,
                    data={"incident": incident_id},
                )
            )
            job_id = job.id if job is not None and not job.external else None
        if job_id is not None and self.inline_jobs:
            self.execute_job(job_id)

    # ------------------------------------------------------------------ reading

    def variables(self, instance_id: str) -> dict[str, Any]:
        with self.session_factory() as session:
            inst = session.get(Instance, instance_id)
            if inst is None:
                raise InstanceNotFoundError(instance_id)
            return dict(inst.variables or {})

    def active_elements(self, instance_id: str) -> dict[str, str]:
        """Element id -> completed/active/failed, for the diagram highlight."""
        with self.session_factory() as session:
            inst = session.get(Instance, instance_id)
            if inst is None:
                raise InstanceNotFoundError(instance_id)
            definition = self.definition(session, inst.definition_id)
            failed = set(
                session.scalars(
                    select(Incident.element_id).where(
                        Incident.instance_id == instance_id, Incident.status == "open"
                    )
                )
            )
            workflow = self._peek(inst, definition)
        states: dict[str, str] = {}
        for task in workflow.get_tasks(state=TaskState.COMPLETED):
            if task.task_spec.bpmn_id:
                states[task.task_spec.bpmn_id] = "completed"
        for task in workflow.get_tasks(state=TaskState.READY | TaskState.STARTED | TaskState.WAITING):
            if task.task_spec.bpmn_id:
                states[task.task_spec.bpmn_id] = "active"
        for element in failed:
            states[element] = "failed"
        return states


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
    tid = uuid.UUID(task_id)
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
    merged: dict[str, Any] = {}
    for task in workflow.get_tasks(state=TaskState.READY | TaskState.STARTED | TaskState.WAITING):
        merged.update(task.data)
    return merged


def _process_error(instance_id: str, err: Exception) -> ProcessError:
    element = None
    task = getattr(err, "task", None)
    if task is not None:
        element = getattr(task.task_spec, "bpmn_id", None)
    elif isinstance(err, WorkflowException) and getattr(err, "task_spec", None) is not None:
        element = getattr(err.task_spec, "bpmn_id", None)
    return ProcessError(instance_id, element, str(err))


def _render_str(template: str | None, data: Mapping[str, Any]) -> str | None:
    if not template:
        return None
    value = render(template, data) if is_expression(template) else template
    return str(value) if value not in (None, "") else None


def _render_list(template: str | None, data: Mapping[str, Any]) -> list[str]:
    if not template:
        return []
    value = render(template, data) if is_expression(template) else template
    if isinstance(value, list | tuple | set):
        return [str(v) for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _render_datetime(template: str | None, data: Mapping[str, Any]) -> datetime | None:
    if not template:
        return None
    value = render(template, data) if is_expression(template) else template
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


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
