"""Engine's job failures: a failed attempt becomes a retry after its backoff or, with no retries
left, an incident; a worker's BPMN error is caught where Camunda catches it; an incident's
retry resumes the instance. Part of Engine (engine.runtime), beside engine.runtime_jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from sqlalchemy.orm import Session

from engine.errors import (
    IncidentNotFoundError,
    InvalidStateError,
)
from engine.events import (
    propagate_error,
    thrown_error,
)
from engine.handlers import BpmnError
from engine.runtime_support import (
    CARDINALITY_INCIDENT,
    StepContext,
    _find_task,
    _reevaluate_cardinality,
    _UncaughtBpmnError,
    log,
    parse_retry_cycle,
)
from engine.step_rows import persist_job
from engine.store import (
    HistoryEvent,
    Incident,
    Job,
    JobStatus,
)


class JobFailuresMixin:
    """Part of Engine (engine.runtime); `self` is the Engine."""

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
            self._record_failure(
                session,
                job,
                message,
                details,
                now=now,
                attempt=job.attempts + 1,
                retry=retry,
                retries=retries,
                retry_timeout=retry_timeout,
            )

    def _fail_for_good(self, ctx: StepContext, row: Job, message: str, attempt: int) -> None:
        """A failure in the step that no retry can mend (no handler, an uncaught BPMN error)."""
        self._record_failure(
            ctx.session,
            row,
            message,
            None,
            now=ctx.now,
            attempt=attempt,
            retry=False,
            history=ctx.history,
            persist=lambda job: persist_job(ctx.session, ctx.rows, job),
        )

    def _record_failure(
        self,
        session: Session,
        job: Job,
        message: str,
        details: str | None,
        *,
        now: datetime,
        attempt: int,
        retry: bool = True,
        retries: int | None = None,
        retry_timeout: timedelta | None = None,
        history: list[HistoryEvent] | None = None,
        persist: Callable[[Job], None] | None = None,
    ) -> None:
        """A failed attempt: the job waits for its next try (backoff), or at no retries left an incident.

        Inside a step `history` is the step's own list, so the events keep their order in it, and
        `persist` writes a job row the step has not inserted yet (the incident names its id).
        """
        add_event = history.append if history is not None else session.add
        if job.id is None:
            if persist is not None:
                persist(job)
            else:
                session.flush()
        job.attempts = attempt
        job.error, job.error_details = message[:4000], details
        job.locked_by, job.lock_expires_at, job.finished_at = None, None, None
        job.retries = (job.retries - 1) if retries is None else retries
        if not retry:
            job.retries = 0
        if job.retries > 0:
            _, backoff = parse_retry_cycle(job.retry_cycle)
            job.status = JobStatus.PENDING.value
            job.due_at = now + (retry_timeout if retry_timeout is not None else backoff(job.attempts))
            add_event(_job_event(job, now, "job_failed", {"error": message, "retries": job.retries}))
            return
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
        add_event(_job_event(job, now, "incident_raised", {"error": message}))
        log.warning("job %s on instance %s raised an incident: %s", job.id, job.instance_id, message)

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
            # The payload becomes the catching path's data: the worker's variables survive the error.
            event = thrown_error(code, message, dict(variables or {}))
            caught = propagate_error(task, event)
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
                f"BPMN error {code!r} is not caught by any boundary event or event subprocess: {message}",
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
            reevaluate = incident.incident_type == CARDINALITY_INCIDENT
            instance_id, element_id = incident.instance_id, incident.element_id
        if reevaluate:
            self._step(
                instance_id, lambda workflow, ctx: _reevaluate_cardinality(workflow, element_id), user=user
            )
        if job_id is not None and self.inline_jobs:
            self.execute_job(job_id)


def _job_event(job: Job, now: datetime, kind: str, data: dict[str, Any]) -> HistoryEvent:
    """A history row about a job's attempt, on the job's instance and element."""
    return HistoryEvent(instance_id=job.instance_id, at=now, kind=kind, element_id=job.element_id, data=data)
