"""Working a user task, the same way from every door: see, claim, delegate, complete.

A completion is one call: the permission (from the matrix), the form (only the task's
declared fields), the people named in it (real, active users of the right group), then
the engine. The web form, `/engine-rest/task/{id}/complete` and the CLI all come here, so
a crafted request cannot set `needs_approval` or `request_id` where the form does not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from desk.absence import away_now
from desk.models import User
from engine.errors import TaskAlreadyClaimed, TaskAlreadyCompleted, TaskNotFoundError
from engine.forms import FormSchema
from engine.runtime import Engine
from engine.store import Instance, TaskStatus, UserTask
from service.assignees import ASSIGNEE_FIELDS, delegation_candidates, in_scope
from service.errors import UndeclaredVariablesError, UnknownAssigneeError
from service.permissions import Principal, may, require
from service.worker_outputs import declared_outputs, process_owned


def declared_fields(task: UserTask) -> set[str] | None:
    """The variables a completion of this task may set: its form's editable fields.

    None when the engine does not know the task's form (no form at all, or Camunda's
    `camunda-forms:app:` / `embedded:app:` forms that live in a web application): such a task
    is completed, as on Camunda, with the variables the caller sends; there is no declaration
    to hold them to, only the process's own variables to protect.
    """
    schema = FormSchema.from_dict(task.form)
    if not schema.fields:
        return None
    return {f.id for f in schema.fields if not f.readonly and f.widget != "text"}


def open_task(session: Session, task_id: str) -> UserTask:
    """The task if it is still open; TaskNotFoundError / TaskAlreadyCompleted otherwise."""
    row = session.get(UserTask, task_id)
    if row is None:
        raise TaskNotFoundError(task_id)
    if row.status != TaskStatus.OPEN.value:
        raise TaskAlreadyCompleted(task_id, row.completed_by)
    return row


def require_may_work(principal: Principal, task: UserTask, permission: str = "complete") -> None:
    """The matrix's task permission; a candidate beaten to the task hears who holds it (409)."""
    if may(principal, permission, "task", task=task):
        return
    if task.assignee and may(principal, "claim", "task", task=task):
        raise TaskAlreadyClaimed(task.id, task.assignee)
    require(principal, permission, "task", task=task)


def check_assignee(
    session: Session, login: str, group: str | None = None, task: Any = None, *, now: datetime
) -> str:
    """`login` if it names an active, present user of `group` (or offered `task`); else UnknownAssigneeError.

    The same rule the pickers list by (service.assignees.in_scope): membership, no role
    exception, and nobody absent at `now` (desk.absence).
    """
    login = (login or "").strip()
    if not login:
        raise UnknownAssigneeError(login, "no login given")
    user = session.scalars(select(User).where(User.username == login)).first()
    if user is None:
        raise UnknownAssigneeError(login, "no such user")
    if not user.active:
        raise UnknownAssigneeError(login, "the user is deactivated")
    if group is not None and not in_scope(login, user.groups, {group}, set()):
        raise UnknownAssigneeError(login, f"the user is not in the group {group!r}")
    if task is not None and (task.candidate_users or task.candidate_groups):
        offered = in_scope(
            login, user.groups, set(task.candidate_groups or ()), set(task.candidate_users or ())
        )
        if not offered and login != task.assignee:
            raise UnknownAssigneeError(login, f"task {task.id} is not offered to them or their groups")
    absence = away_now(session, now).get(login)
    if absence is not None:
        instead = f"; their substitute is {absence.substitute!r}" if absence.substitute else ""
        raise UnknownAssigneeError(
            login, f"the user is absent ({absence.kind}) until {absence.ends_at.isoformat()}{instead}"
        )
    return login


def check_completion(
    session: Session,
    principal: Principal,
    task: UserTask,
    data: Mapping[str, Any],
    owned: Iterable[str] = (),
    *,
    now: datetime,
) -> None:
    """Everything a completion must satisfy before the engine sees it.

    With a known form, only its fields; without one, anything but the process-owned `owned`.
    """
    require_may_work(principal, task)
    declared = declared_fields(task)
    undeclared = set(data) & set(owned) if declared is None else set(data) - declared
    if undeclared:
        raise UndeclaredVariablesError(task.id, undeclared, declared or ())
    for name, group in ASSIGNEE_FIELDS.items():
        value = data.get(name)
        if name in (declared or ()) and isinstance(value, str) and value.strip() and "@" not in value:
            check_assignee(session, value, group, now=now)


def _owned_by_process(session: Session, runtime: Engine, task: UserTask) -> set[str]:
    """What only a desk request's process sets; a diagram unrelated to requests owns nothing here."""
    instance = session.get(Instance, task.instance_id)
    if instance is None or "request_id" not in (instance.variables or {}):
        return set()
    return process_owned(declared_outputs(runtime.handlers))


def complete_task(
    runtime: Engine, sessions: sessionmaker, principal: Principal, task_id: str, data: Mapping[str, Any]
) -> str:
    """Complete a task for `principal`; returns its instance id.

    Raises PermissionDenied, UndeclaredVariablesError, UnknownAssigneeError (nothing saved),
    or the engine's TaskNotFoundError / TaskAlreadyCompleted / TaskAlreadyClaimed /
    FormValidationError.
    """
    with sessions() as session:
        task = open_task(session, task_id)
        check_completion(
            session, principal, task, data, _owned_by_process(session, runtime, task), now=runtime.now()
        )
        instance_id = task.instance_id
    runtime.complete(task_id, principal.username, dict(data))
    return instance_id


def claim_task(
    runtime: Engine, sessions: sessionmaker, principal: Principal, task_id: str, login: str
) -> None:
    """Claim for oneself (candidates) or for someone else (those who may assign)."""
    with sessions() as session:
        task = open_task(session, task_id)
        if login == principal.username:
            require_may_work(principal, task, "claim")
        else:
            require(principal, "assign", "task", task=task)
            check_assignee(session, login, task=task, now=runtime.now())
    runtime.claim(task_id, login)


def delegate_task(
    runtime: Engine, sessions: sessionmaker, principal: Principal, task_id: str, login: str
) -> None:
    """Hand a task to another active user who may work it (assignee or manager)."""
    with sessions() as session:
        task = open_task(session, task_id)
        require(principal, "assign", "task", task=task)
        now = runtime.now()
        login = check_assignee(session, login, now=now)
        if login not in {c.username for c in delegation_candidates(session, task, now=now) if c.offered}:
            raise UnknownAssigneeError(login, f"task {task.id} is not offered to them or their groups")
    runtime.delegate(task_id, login, principal.username)
