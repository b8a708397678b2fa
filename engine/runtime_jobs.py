"""Engine's jobs: claim, lease, execute and complete (failures: engine.runtime_failures).

In-process handlers run inside the instance's step (engine.runtime): a service task reached by
a step runs there, in the same transaction, unless the diagram asks for a boundary
(camunda:asyncBefore, camunda:asyncAfter). A job row is kept for every service task either
way; it is waited on (claimed, run in a step of its own) for asyncBefore, for asyncAfter's
continuation, for topics external workers serve, for a retry after a failure and when the
app runs handlers on RQ workers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.errors import (
    InvalidStateError,
)
from engine.events import (
    propagate_error,
    thrown_error,
)
from engine.execution_view import StepIdentity, running_step
from engine.handlers import BpmnError, HandlerInfo, JobContext
from engine.io_mapping import apply_service_result, service_inputs
from engine.runtime_support import (
    DEFAULT_LEASE,
    LoadedDefinition,
    StepContext,
    _find_task,
    log,
    parse_retry_cycle,
)
from engine.serialization import load_workflow
from engine.specs import ExternalServiceTask
from engine.step_rows import persist_job, rewrite_job, write_new_instance
from engine.store import (
    Instance,
    Job,
    JobStatus,
)

#: internal_data of an asyncAfter service task whose handler has run; its continuation job completes it.
HANDLER_DONE = "handler_done"


class _NotRunnable(Exception):
    """Raised inside execute_job's transaction: the job is not this worker's to run, or has no handler."""

    def __init__(self, outcome: str, message: str | None = None) -> None:
        super().__init__(outcome)
        self.outcome, self.message = outcome, message


def _call_handler(
    handler: HandlerInfo, inputs: dict[str, Any], context: JobContext, ctx: StepContext, row: Job
) -> dict[str, Any] | BpmnError:
    """The handler's outputs, or the BPMN error it raised (its writes kept, as Camunda keeps a
    delegate's work when it throws one). A handler that may write (it takes the context, and
    handlers._common.transaction gives it the step's session) runs in a SAVEPOINT, so any other
    failure undoes exactly its writes and nothing of the step's (a job row written because it
    asked for its id is written again: the id is the next attempt's key too)."""
    if not handler.wants_context:
        try:
            return handler(inputs, context)
        except BpmnError as err:
            return err
    write_new_instance(ctx.session, ctx.rows)  # before the SAVEPOINT: a failure must not undo it
    unwritten = row.id is None
    try:
        with ctx.session.begin_nested():
            try:
                return handler(inputs, context)
            except BpmnError as err:
                return err
    except Exception:
        if unwritten and row.id is not None:
            rewrite_job(ctx.session, ctx.rows, row)
        raise


class JobsMixin:
    """Part of Engine (engine.runtime); `self` is the Engine."""

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
        """Run a claimed job in one step: its handler inside the instance's transaction, then on to
        the next wait state; a failure is recorded on the job in that same transaction."""
        worker = worker_id or self.worker_id
        if not claimed and not self.claim_job(job_id, worker):
            return "skipped"
        held: list[Job] = []  # the row read by locate, kept so the action finds it in the session

        def locate(session: Session) -> str:
            job = session.get(Job, job_id)
            if job is None or job.status != JobStatus.LOCKED.value or job.locked_by != worker:
                raise _NotRunnable("skipped")
            if self.handlers.get(job.topic) is None:
                raise _NotRunnable("failed", f"no handler registered for topic {job.topic!r}")
            held[:] = [job]
            return job.instance_id

        def action(workflow: BpmnWorkflow, ctx: StepContext) -> str:
            row = held[0]
            task = _find_task(workflow, row.task_id)
            if task is None or task.state != TaskState.STARTED:
                row.status = JobStatus.CANCELLED.value
                row.finished_at = ctx.now
                return "skipped"
            if task.internal_data.get(HANDLER_DONE):  # asyncAfter: the handler ran; continue past it
                ctx.task_jobs[row.task_id] = row
                self._settle_job(row, ctx, attempt=row.attempts + 1)
                del task.internal_data[HANDLER_DONE]
                task.complete()
                return "done"
            return self._run_service_task(task, ctx, row, fresh=False)

        try:
            return self._step(None, action, locate=locate)
        except _NotRunnable as refused:
            if refused.message is not None:
                self._job_failed(job_id, refused.message, None, retry=False)
            return refused.outcome

    # ------------------------------------------------------------------ handlers inside the step

    def _inline_service_tasks(self, started: list, ctx: StepContext) -> list:
        """Service tasks this step runs itself (of the `started` ones): an in-process topic without
        asyncBefore, reached in this step (a task that already has a job waits for it) and not yet
        tried in it."""
        if not self.inline_jobs:
            return []
        waiting = ctx.instance.waiting or {}
        return [
            task
            for task in started
            if isinstance(task.task_spec, ExternalServiceTask)
            and task.task_spec.call.topic is not None
            and task.task_spec.call.topic in self.handlers
            and not task.task_spec.call.async_before
            and str(task.id) not in waiting
            and str(task.id) not in ctx.task_jobs
            and not task.internal_data.get(HANDLER_DONE)
        ]

    def _run_inline(self, task, ctx: StepContext) -> str:
        """Run an in-process service task reached by this step, with a job row that is its record
        (and its handler's idempotency key); the row becomes a retry or an incident if it fails."""
        call = task.task_spec.call
        retries, _ = parse_retry_cycle(call.retry_cycle)
        row = Job(
            instance_id=ctx.instance.id,
            task_id=str(task.id),
            element_id=task.task_spec.bpmn_id,
            topic=call.topic,
            external=False,
            status=JobStatus.DONE.value,
            priority=call.priority,
            attempts=1,
            retries=retries,
            retry_cycle=call.retry_cycle,
            due_at=ctx.now,
            created_at=ctx.now,
            finished_at=ctx.now,
        )
        ctx.rows.jobs.append(row)  # the save inserts it (engine.step_rows)
        return self._run_service_task(task, ctx, row, fresh=True)

    def _run_service_task(self, task, ctx: StepContext, row: Job, *, fresh: bool) -> str:
        """The handler inside the step's transaction (handlers._common.transaction makes its writes a
        SAVEPOINT): outputs set and the task completed, or the failure recorded on `row`."""
        ctx.task_jobs[row.task_id] = row
        attempt = row.attempts if fresh else row.attempts + 1
        handler = self.handlers.get(row.topic)
        if handler is None:
            message = f"no handler registered for topic {row.topic!r}"
            self._fail_for_good(ctx, row, message, attempt)
            return "failed"
        call = task.task_spec.call
        inputs = service_inputs(task, call)

        def job_id() -> int:  # the handler's idempotency key: its row is written when first asked for
            if row.id is None:
                persist_job(ctx.session, ctx.rows, row)
            return row.id

        context = JobContext(
            row.id if row.id is not None else job_id,
            ctx.instance.id,
            ctx.instance.business_key,
            row.element_id,
            row.topic or "",
            attempt,
            ctx.now,
            self.resources,
            session=ctx.session,
        )
        started = self.now()
        try:
            outputs = _call_handler(handler, inputs, context, ctx, row)
        except Exception as err:  # a handler's failure becomes a retry or an incident, never a crash
            log.warning("job %s (%s) on instance %s failed: %s", row.id, row.topic, ctx.instance.id, err)
            self._record_failure(
                ctx.session,
                row,
                f"{type(err).__name__}: {err}",
                None,
                now=ctx.now,
                attempt=attempt,
                history=ctx.history,
                persist=lambda job: persist_job(ctx.session, ctx.rows, job),
            )
            return "failed"
        if isinstance(outputs, BpmnError):
            return self._inline_bpmn_error(task, ctx, row, outputs, attempt)
        elapsed_ms = (self.now() - started).total_seconds() * 1000
        apply_service_result(task, call, outputs, seen=inputs)
        if not fresh:
            self._settle_job(row, ctx, attempt=attempt)
        called = ctx.record(
            "service_task_called",
            row.element_id,
            row.task_id,
            {
                "topic": row.topic,
                "inputs": inputs,
                "outputs": outputs,
                "duration_ms": round(elapsed_ms, 3),
                "job_id": row.id,
            },
        )
        if row.id is None:
            ctx.job_events.append((called, row))
        if call.async_after:
            # camunda:asyncAfter: the transaction ends here; a continuation job completes the task.
            task.internal_data[HANDLER_DONE] = True
        else:
            task.complete()
        return "done"

    def _settle_job(self, row: Job, ctx: StepContext, *, attempt: int) -> None:
        row.status = JobStatus.DONE.value
        row.finished_at = ctx.now
        row.attempts = attempt
        row.locked_by = None
        row.lock_expires_at = None

    def _inline_bpmn_error(self, task, ctx: StepContext, row: Job, err: BpmnError, attempt: int) -> str:
        """A handler's BPMN error in the step: caught by a boundary or event subprocess, else an incident."""
        before = dict(task.data)
        task.data.update(err.variables)
        # The payload becomes the catching path's data: the handler's variables survive the error.
        caught = propagate_error(task, thrown_error(err.code, err.error_message, dict(err.variables)))
        if not caught:
            task.data.clear()
            task.data.update(before)
            message = (
                f"BPMN error {err.code!r} is not caught by any boundary event or event subprocess: "
                f"{err.error_message}"
            )
            self._fail_for_good(ctx, row, message, attempt)
            return "failed"
        self._settle_job(row, ctx, attempt=attempt)
        ctx.record(
            "bpmn_error", row.element_id, row.task_id, {"code": err.code, "message": err.error_message}
        )
        return "bpmn_error"

    def _job_inputs(self, session: Session, job: Job, inst: Instance) -> dict[str, Any]:
        definition = self.definition(session, inst.definition_id)
        workflow = self._peek(inst, definition)
        task = _find_task(workflow, job.task_id)
        if task is None:
            return {}
        identity = StepIdentity(inst.id, inst.business_key, inst.definition_id)
        with running_step(identity):
            return service_inputs(task, task.task_spec.call)

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
        local: Mapping[str, Any] | None = None,
    ) -> bool:
        """Apply a job's result: set outputs, complete the service task, step on, mark the job done.

        `local` are a worker's localVariables: seen by the task's output mapping only."""
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
            apply_service_result(task, task.task_spec.call, outputs, local)
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
