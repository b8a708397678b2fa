"""Engine's user-task operations: claim, unclaim, delegate, the form and completion.

Each change goes through Engine._step (engine.runtime).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from engine.errors import (
    TaskAlreadyClaimed,
    TaskAlreadyCompleted,
    TaskNotFoundError,
)
from engine.forms import FormSchema
from engine.runtime_support import (
    StepContext,
    _all_ids,
    _find_task,
)
from engine.serialization import to_jsonable
from engine.step_rows import USER_TASK
from engine.store import (
    HistoryEvent,
    Instance,
    TaskStatus,
    UserTask,
)

_TASK_TO_COMPLETE = select(
    USER_TASK.c.instance_id, USER_TASK.c.status, USER_TASK.c.completed_by, USER_TASK.c.form
).where(USER_TASK.c.id == bindparam("task_id"))

_COMPLETE_TASK = (
    update(USER_TASK)
    .where(USER_TASK.c.id == bindparam("task_id"))
    .values(status=TaskStatus.COMPLETED.value, completed_at=bindparam("b_at"), completed_by=bindparam("b_by"))
)


class UserTasksMixin:
    """Part of Engine (engine.runtime); `self` is the Engine."""

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
        """Complete a user task with form data: the look-up, the check of the values (a bad value
        saves nothing) and the step to the next wait state are one transaction."""
        values: dict[str, Any] = {}

        def locate(session: Session) -> str:
            row = session.connection().execute(_TASK_TO_COMPLETE, {"task_id": task_id}).first()
            if row is None:
                raise TaskNotFoundError(task_id)
            if row.status != TaskStatus.OPEN.value:
                raise TaskAlreadyCompleted(task_id, row.completed_by)
            values.clear()
            values.update(FormSchema.from_dict(row.form).validate(dict(data or {})))
            return row.instance_id

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
            ctx.session.connection().execute(
                _COMPLETE_TASK, {"task_id": task_id, "b_at": ctx.now, "b_by": user}
            )
            ctx.record("task_completed", task.task_spec.bpmn_id, task_id, {"data": values})

        self._step(None, action, user=user, retry=False, locate=locate)

    def task_variables(self, task_id: str) -> dict[str, Any]:
        """The variables a user task sees (its local ones included), as GET /task/{id}/variables."""
        with self.session_factory() as session:
            row = session.get(UserTask, task_id)
            if row is None:
                raise TaskNotFoundError(task_id)
            inst = session.get(Instance, row.instance_id)
            workflow = self._peek(inst, self.definition(session, inst.definition_id))
        task = _find_task(workflow, task_id)
        return to_jsonable(dict(task.data)) if task is not None else {}
