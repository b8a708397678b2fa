"""The one place that loads a process instance, steps it and saves it in one transaction.

Every change to an instance (start, complete, correlate, a job's result, a timer) goes
through `Engine._step`: lock the instance row, get the workflow (from the in-process
cache when its version is current, else deserialize), apply the change, run engine
steps, bring the projections (user tasks, jobs, timers, subscriptions) in line with
what the workflow now waits for, serialize once, commit. In-process handlers run inside
that transaction, in the loop that advances the workflow, so from a person's or a message's
act to the next wait state is one transaction (Camunda 7's boundaries); a job of its own only
where the diagram asks for one (asyncBefore/asyncAfter), for external workers, for a retry
after a failure and on RQ workers (engine.runtime_jobs).

This module keeps the step and the instance operations; Engine's other concepts are mixins
in their own modules: definitions (runtime_definitions), projections (runtime_projections),
user tasks (runtime_tasks), messages and signals (runtime_messages), timers (runtime_timers),
jobs (runtime_jobs), their failures and incidents (runtime_failures); what they share is in runtime_support.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from engine.decision_task import DecisionTask
from engine.definition_state import check_startable
from engine.errors import (
    ConcurrentUpdateError,
    DefinitionNotFoundError,
    InstanceNotFoundError,
    InvalidStateError,
)
from engine.events import (
    refresh_conditions,
    settle_scope_ends,
)
from engine.execution_view import StepIdentity, evaluating_for, running_step
from engine.expressions import ExpressionEvaluationError, render
from engine.handlers import HandlerRegistry, default_registry
from engine.io_mapping import set_process_variables
from engine.limits import DEFAULT_MAX_CARDINALITY
from engine.runtime_decisions import DecisionsMixin
from engine.runtime_definitions import DefinitionsMixin
from engine.runtime_failures import JobFailuresMixin
from engine.runtime_jobs import JobsMixin
from engine.runtime_messages import MessagesMixin
from engine.runtime_projections import ProjectionsMixin
from engine.runtime_support import (
    CARDINALITY_INCIDENT,
    DEFAULT_LEASE,
    DEFAULT_RETRIES,
    BusinessTimeAdd,
    EngineScriptEngine,
    LoadedDefinition,
    StartResult,
    StepContext,
    WaitingExecution,
    _message_event,
    _process_error,
    current_variables,
    log,
    parse_retry_cycle,
    utcnow,
)
from engine.runtime_tasks import UserTasksMixin
from engine.runtime_timers import TimersMixin
from engine.serialization import dump_workflow, load_workflow, to_jsonable
from engine.signals import (
    deliver_signal,
    thrown_signal_tasks,
    throws_signals,
)
from engine.specs import (
    ExternalServiceTask,
)
from engine.step_rows import StepRows, attach, detach, load_instance, load_state, watch_flushes
from engine.step_rows import save as save_step
from engine.store import (
    Incident,
    Instance,
    InstanceStatus,
    JobStatus,
    ProcessDefinition,
    is_postgres,
)
from engine.timer_start import take_start_event
from engine.typed_values import types_of

__all__ = [
    "Engine",
    "utcnow",
    "EngineScriptEngine",
    "LoadedDefinition",
    "StepContext",
    "StartResult",
    "WaitingExecution",
    "current_variables",
    "parse_retry_cycle",
    "log",
    "BusinessTimeAdd",
    "DEFAULT_LEASE",
    "DEFAULT_RETRIES",
    "CARDINALITY_INCIDENT",
]


_DEFINITION = ProcessDefinition.__table__
# The version `start(key)` runs: the latest, and whether it is suspended, in one indexed read.
_LATEST_VERSION = (
    select(_DEFINITION.c.id, _DEFINITION.c.suspended)
    .where(_DEFINITION.c.key == bindparam("key"))
    .order_by(_DEFINITION.c.version.desc())
    .limit(1)
)


def _start_result(inst: Instance) -> StartResult:
    ended = inst.status != InstanceStatus.RUNNING.value
    return StartResult(inst.id, inst.definition_id, inst.business_key, ended, inst.status)


class Engine(
    DefinitionsMixin,
    ProjectionsMixin,
    UserTasksMixin,
    MessagesMixin,
    TimersMixin,
    JobsMixin,
    JobFailuresMixin,
    DecisionsMixin,
):
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
        max_mi_cardinality: int = DEFAULT_MAX_CARDINALITY,
    ) -> None:
        self.session_factory = session_factory
        self.max_mi_cardinality = max_mi_cardinality
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
        watch_flushes(session_factory)

    # ------------------------------------------------------------------ clock & definitions

    def now(self) -> datetime:
        now = self.clock()
        return now if now.tzinfo else now.replace(tzinfo=UTC)

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

    def _cached_version(self, instance_id: str | None) -> int | None:
        with self._workflows_lock:
            entry = self._workflows.get(instance_id)
        return entry[0] if entry is not None else None

    def _load(self, inst: Instance, definition: LoadedDefinition, session: Session) -> BpmnWorkflow:
        workflow = self._take_cached(inst.id, inst.version)
        if workflow is None:
            state = inst.state if inst.state is not None else load_state(session, inst.id)
            workflow = load_workflow(state, definition.info.spec, definition.info.subprocess_specs)
        workflow.script_engine = self.script_engine
        return workflow

    # ------------------------------------------------------------------ the step

    def _step(
        self,
        instance_id: str | None,
        action: Callable[[BpmnWorkflow, StepContext], Any],
        *,
        user: str | None = None,
        retry: bool = True,
        locate: Callable[[Session], str] | None = None,
    ) -> Any:
        """Run `action` on the instance and save, in one transaction; retry once on a stale version.

        `locate`, when given, finds the instance id inside that transaction (from a task row),
        so a caller's look-up and its change are one transaction.
        """
        attempts = 2 if retry else 1
        for attempt in range(attempts):
            try:
                return self._step_once(instance_id, action, user, locate)
            except StaleDataError as err:
                log.info("instance %s changed concurrently (attempt %s)", instance_id, attempt + 1)
                if attempt + 1 == attempts:
                    raise ConcurrentUpdateError(instance_id) from err
        raise AssertionError("unreachable")

    def _step_once(self, instance_id, action, user, locate=None):
        with self.session_factory() as session:
            with session.begin():
                if locate is not None:
                    instance_id = locate(session)
                inst = load_instance(
                    session,
                    instance_id,
                    cached_version=self._cached_version(instance_id),
                    for_update=self._postgres,
                )
                if inst is None:
                    raise InstanceNotFoundError(instance_id)
                definition = self.definition(session, inst.definition_id)
                workflow = self._load(inst, definition, session)
                ctx = StepContext(session, inst, definition, user, self.now(), StepRows(inst, True))
                result = self._apply(workflow, ctx, action)
            version = inst.version
        self._committed(ctx, workflow, version)
        return result

    def _apply(self, workflow: BpmnWorkflow, ctx: StepContext, action) -> Any:
        """Inside the transaction: the change, engine steps and projections, then one save."""
        throws = throws_signals(ctx.definition.info)
        thrown_before = thrown_signal_tasks(workflow) if throws else {}
        identity = StepIdentity(
            ctx.instance.id, ctx.instance.business_key, ctx.definition.id, ctx.user, ctx.now
        )
        attach(ctx.session, ctx.rows)  # a flush in the step writes a new instance first
        try:
            try:
                with running_step(identity):  # what `execution` in expressions reports
                    result = action(workflow, ctx)
                    self._advance(workflow, ctx)
            except (SpiffWorkflowException, ExpressionEvaluationError) as err:
                raise _process_error(ctx.instance.id, err) from err
            if throws:
                after = thrown_signal_tasks(workflow)
                ctx.thrown_signals += [name for tid, name in after.items() if tid not in thrown_before]
            self._save(workflow, ctx)
        finally:
            detach(ctx.session)
        return result

    def _committed(self, ctx: StepContext, workflow: BpmnWorkflow, version: int) -> None:
        """After commit: keep the workflow object for the next step and run or dispatch new jobs."""
        self._put_cached(ctx.instance.id, version, workflow)
        self._after_commit(ctx)

    def _advance(self, workflow: BpmnWorkflow, ctx: StepContext) -> None:
        """Run engine steps until only people, jobs, timers and messages are left; then sync projections."""
        while True:
            workflow.do_engine_steps()
            if refresh_conditions(workflow) or (
                ctx.definition.event_subprocesses and settle_scope_ends(workflow)
            ):
                continue
            started = workflow.get_tasks(state=TaskState.STARTED)  # one walk of the tree for both
            inline = [
                t
                for t in started
                if isinstance(t.task_spec, DecisionTask)
                or isinstance(t.task_spec, ExternalServiceTask)
                and t.task_spec.call.implementation == "expression"
            ]
            handled = self._inline_service_tasks(started, ctx)
            if not inline and not handled:
                break
            for task in handled:
                # In-process topics run here, inside this transaction (engine.runtime_jobs); one
                # handler's outcome (a caught BPMN error) may have ended the next one's task.
                if task.state == TaskState.STARTED:
                    self._run_inline(task, ctx)
            for task in inline:
                if isinstance(task.task_spec, DecisionTask):
                    self._run_decision(task, ctx)
                    continue
                call = task.task_spec.call
                with evaluating_for(task):
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
        self._cardinality_incidents(workflow, ctx)

    # ------------------------------------------------------------------ save

    def _save(self, workflow: BpmnWorkflow, ctx: StepContext) -> None:
        inst = ctx.instance
        # is_completed() also notices a flow that ended without reaching the process's own end
        # (an interrupting event subprocess cancelled it), which the `completed` flag misses.
        workflow.is_completed()
        inst.state = dump_workflow(workflow)
        variables = current_variables(workflow)
        inst.variables = to_jsonable(variables)
        # Camunda's Long, Date, Bytes… keep their type beside the JSON values (engine.typed_values).
        inst.variable_types = types_of(variables, inst.variable_types)
        if workflow.completed and inst.status == InstanceStatus.RUNNING.value:
            inst.status = InstanceStatus.COMPLETED.value
            inst.ended_at = ctx.now
            ctx.record("instance_ended", None, None, {"variables": inst.variables})
        # One statement per table (engine.step_rows); history events naming a job this step
        # inserts get its id there.
        save_step(ctx.session, ctx.rows, ctx.history, ctx.job_events)

    def _after_commit(self, ctx: StepContext) -> None:
        for name in ctx.thrown_signals:
            self.send_signal(name, user=ctx.user, exclude=ctx.instance.id)
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
        timer_start: str | None = None,
        started: Callable[[Session, str], None] | None = None,
    ) -> StartResult:
        """Start the latest version of `key` (or a given definition) with initial variables.

        The lookup, the start and everything up to the first wait state are one transaction.
        `timer_start` names the timer start event whose job fired (engine.timer_start).
        `started(session, instance_id)` runs last in that transaction, for the caller's own record
        of the instance (a request's instance id), so the two commit together or not at all.
        """
        with self.session_factory() as session:
            with session.begin():
                if definition_id is None:
                    if not key:
                        raise DefinitionNotFoundError("(none given)")
                    latest = session.connection().execute(_LATEST_VERSION, {"key": key}).first()
                    if latest is None:
                        self.latest_definition_id(session, key)  # raises, naming the keys there are
                    definition_id = latest.id
                    if latest.suspended:
                        check_startable(session, definition_id)  # engine.definition_state
                else:
                    check_startable(session, definition_id)
                definition = self.definition(session, definition_id)
                variables = dict(variables or {})
                start_form = definition.info.start_form
                if validate_form and start_form.fields:
                    # A caller that leaves a field out gets its default, as the form would have shown it.
                    defaults = {
                        f.id: f.default
                        for f in start_form.fields
                        if f.default is not None and f.id not in variables
                    }
                    variables = start_form.validate({**defaults, **variables})
                if definition.info.initiator and user:
                    # camunda:initiator: the starting user's login, as Camunda's authenticated user id.
                    variables[definition.info.initiator] = user
                ctx, workflow = self._begin_instance(
                    session, definition, business_key, variables, user, None, timer_start=timer_start
                )
                if started is not None:
                    started(session, ctx.instance.id)
            version = ctx.instance.version
        self._committed(ctx, workflow, version)
        return _start_result(ctx.instance)

    def _create_instance(
        self,
        definition: LoadedDefinition,
        business_key,
        variables,
        user,
        message,
        timer_start=None,
        start_signal=None,
    ) -> StartResult:
        with self.session_factory() as session:
            with session.begin():
                ctx, workflow = self._begin_instance(
                    session, definition, business_key, variables, user, message, timer_start, start_signal
                )
            version = ctx.instance.version
        self._committed(ctx, workflow, version)
        return _start_result(ctx.instance)

    def _begin_instance(
        self,
        session,
        definition: LoadedDefinition,
        business_key,
        variables,
        user,
        message,
        timer_start=None,
        start_signal=None,
    ) -> tuple[StepContext, BpmnWorkflow]:
        """Inside the caller's transaction: the new instance run up to its first wait states."""
        instance_id = str(uuid.uuid4())
        workflow = BpmnWorkflow(
            definition.info.spec, definition.info.subprocess_specs, script_engine=self.script_engine
        )
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(variables)
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
            version=1,
        )
        ctx = StepContext(session, inst, definition, user, self.now(), StepRows(inst, False))
        ctx.record("instance_started", None, None, {"variables": variables, "business_key": business_key})

        def begin(wf: BpmnWorkflow, step: StepContext) -> None:
            take_start_event(wf, timer_start)
            wf.do_engine_steps()
            if message is not None:
                wf.catch(_message_event(message, variables))
                step.record("message_correlated", None, None, {"message": message})
            if start_signal is not None:
                deliver_signal(wf, start_signal, variables)
                step.record("signal_received", None, None, {"signal": start_signal})

        self._apply(workflow, ctx, begin)
        return ctx, workflow

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
                set_process_variables(task, variables)
            workflow.data.update(variables)
            changes = {k: {"old": before.get(k), "new": v} for k, v in variables.items()}
            ctx.record("variables_changed", data=changes)

        self._step(instance_id, action, user=user)

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
