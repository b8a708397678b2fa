"""Engine's timers: which are due, and firing one in a step (engine.runtime)."""

from __future__ import annotations

import uuid
from datetime import datetime

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from engine.runtime_support import (
    StepContext,
)
from engine.store import (
    Timer,
)
from engine.timer_start import fire_due_start_timers


class TimersMixin:
    """Part of Engine (engine.runtime); `self` is the Engine."""

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
        return len(due) + fire_due_start_timers(self, now, limit)

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
