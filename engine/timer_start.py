"""Timer start events as Camunda 7 runs them: scheduled at deploy, each firing starts an instance.

A timer start event is not something an instance waits on: Camunda creates a timer
start job when the definition is deployed, removes the previous version's jobs when a
new version of the key is deployed, and each time the job is due starts a new instance
(a cycle schedules its next firing). Here the job is a `StartTimer` row; the scheduler
(`fire_due_timers`, or `flask --app web scheduler` in scale-out) calls
`fire_due_start_timers`. Inside an instance the start event passes straight through:
either its timer fired, or a person started the process by hand (Camunda then takes the
none start event, or the timer start event when it is the only one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.specs.control import BpmnStartTask
from SpiffWorkflow.bpmn.specs.event_definitions.base import EventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent as StartEventMixin
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from engine.definition_state import timer_status_for
from engine.errors import EngineError
from engine.store import ProcessDefinition, StartTimer
from engine.timer_schedule import UNBOUNDED, StartSchedule, server_zone

if TYPE_CHECKING:
    from engine.runtime import Engine

log = logging.getLogger(__name__)


class EngineStartTimer(EventDefinition):
    """The event definition of a process-level timer start event; fired only by the engine."""

    def __init__(self, name: str | None, schedule: StartSchedule, description: str | None = None) -> None:
        super().__init__(name, description)
        self.schedule = schedule

    @property
    def expression(self) -> str:
        return self.schedule.text


def timer_starts(spec: Any) -> dict[str, StartSchedule]:
    """Element id -> schedule of every timer start event of the process itself."""
    return {
        task_spec.bpmn_id: task_spec.event_definition.schedule
        for task_spec in spec.task_specs.values()
        if isinstance(task_spec, StartEventMixin)
        and isinstance(getattr(task_spec, "event_definition", None), EngineStartTimer)
    }


def schedule_on_deploy(
    session: Session,
    *,
    definition_id: str,
    key: str,
    schedules: dict[str, StartSchedule],
    now: datetime,
    zone: tzinfo,
) -> None:
    """A new version of `key` replaces the previous version's timer start jobs, as in Camunda.

    The new jobs are suspended when the definition is (Camunda's JobDeclaration creates a
    job suspended when its job definition is).
    """
    session.execute(
        update(StartTimer)
        .where(StartTimer.definition_key == key, StartTimer.status.in_(("pending", "suspended")))
        .values(status="cancelled")
    )
    status = timer_status_for(session, definition_id)
    for element_id, schedule in schedules.items():
        session.add(
            StartTimer(
                definition_id=definition_id,
                definition_key=key,
                element_id=element_id,
                kind=schedule.kind,
                expression=schedule.text,
                due_at=schedule.first_due(now, zone),
                remaining=schedule.repeats(),
                fired=0,
                status=status,
            )
        )


def retire_start_timers(
    session: Session,
    definition_ids: list[str],
    *,
    spec_of: Callable[[str], Any],
    now: datetime,
    zone: tzinfo,
) -> list[str]:
    """Before definitions are deleted: drop their timer start jobs, and where the latest version
    of a key goes, schedule the timer start events of the version that becomes the latest.

    That is Camunda's DeleteProcessDefinitionsByIdsCmd: when the deleted definition was the
    latest of its key, BpmnDeployer.addTimerDeclarations runs for the previous version (its
    jobs due from now, suspended if that version is). Returns the ids re-scheduled.
    """
    deleted = set(definition_ids)
    rows = list(session.scalars(select(ProcessDefinition).where(ProcessDefinition.id.in_(deleted))))
    session.execute(delete(StartTimer).where(StartTimer.definition_id.in_(deleted)))
    rescheduled = []
    for key in sorted({row.key for row in rows}):
        versions = list(
            session.scalars(
                select(ProcessDefinition)
                .where(ProcessDefinition.key == key)
                .order_by(ProcessDefinition.version.desc())
            )
        )
        if not versions or versions[0].id not in deleted:
            continue  # an older version went; the latest keeps its jobs
        previous = next((v for v in versions if v.id not in deleted), None)
        if previous is None:
            continue
        schedule_on_deploy(
            session,
            definition_id=previous.id,
            key=key,
            schedules=timer_starts(spec_of(previous.id)),
            now=now,
            zone=zone,
        )
        rescheduled.append(previous.id)
    return rescheduled


def fire_due_start_timers(engine: Engine, now: datetime | None = None, limit: int = 100) -> int:
    """Start one instance per due timer start job; returns how many were started.

    The job moves on (next due, or done) in its own transaction before the instance starts,
    under a compare-and-set on its due moment, so two schedulers never start the same firing
    twice; a crash between the two loses that one firing rather than doubling it.
    """
    now = now or engine.now()
    zone = server_zone()
    with engine.session_factory() as session:
        due = list(
            session.scalars(
                select(StartTimer)
                .where(StartTimer.status == "pending", StartTimer.due_at <= now)
                .order_by(StartTimer.due_at)
                .limit(limit)
            )
        )
    started = 0
    for job in due:
        schedule = StartSchedule(job.kind, job.expression)
        remaining = job.remaining - 1 if job.remaining != UNBOUNDED else UNBOUNDED
        next_due = schedule.next_due(job.due_at, now, zone) if remaining != 0 else None
        with engine.session_factory() as session, session.begin():
            claimed = session.execute(
                update(StartTimer)
                .where(
                    StartTimer.id == job.id, StartTimer.status == "pending", StartTimer.due_at == job.due_at
                )
                .values(
                    due_at=next_due,
                    remaining=remaining,
                    fired=StartTimer.fired + 1,
                    status="pending" if next_due is not None else "done",
                )
            ).rowcount
        if not claimed:
            continue
        try:
            result = engine.start(
                definition_id=job.definition_id, validate_form=False, timer_start=job.element_id
            )
        except EngineError:
            # The firing is used up, as a Camunda timer job out of retries; the next one still comes.
            log.exception(
                "timer start event %s of %s could not start an instance", job.element_id, job.definition_id
            )
            continue
        log.info(
            "timer start event %s of %s started instance %s", job.element_id, job.definition_id, result.id
        )
        started += 1
    return started


def take_start_event(workflow: Any, timer_start: str | None) -> None:
    """Let only the start event Camunda would take proceed: the fired timer, else the others.

    Called before the first engine step. SpiffWorkflow would run every start event of the
    process at once; Camunda starts an instance at exactly one: the timer start event that
    fired, or (started by hand or by a message) the none/message start event, and the timer
    start event only when it is the process's only start event.
    """
    ready = workflow.get_tasks(state=TaskState.READY)
    begin = next((t for t in ready if isinstance(t.task_spec, BpmnStartTask)), None)
    starts = [c for c in begin.children if isinstance(c.task_spec, StartEventMixin)] if begin else []
    timers = [
        t for t in starts if isinstance(getattr(t.task_spec, "event_definition", None), EngineStartTimer)
    ]
    if not timers:
        return
    if timer_start is not None:
        chosen = [t for t in starts if t.task_spec.bpmn_id == timer_start]
    else:
        chosen = [t for t in starts if t not in timers] or timers[:1]
    begin.run()
    for task in starts:
        if task in chosen:
            if task in timers:
                task._set_internal_data(event_fired=True)
                task.task_spec._update(task)
        else:
            task.cancel()
