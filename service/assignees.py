"""Who may take a task: the people a picker offers (dispatch, delegate, reassign), with their open work.

One rule for every door: the UI's pickers list exactly these people, and service.tasks
refuses anyone else whether the login came from the form, /engine-rest or the CLI. A person
is eligible when they are active, belong to the task's group (or are named on it; an admin
is no exception: work goes to the people of the group) and are not absent now
(desk.absence). Absent people are still listed, marked absent with their substitute, so a
dispatcher sees why someone is missing, but they are not offered. Each candidate carries the
number of open tasks they already hold, so a dispatcher picks the least loaded on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from desk.absence import Period, away_now
from desk.models import User
from engine.store import UserTask

# Form fields whose value is a login that a later task is assigned to, and the group that
# login must belong to (service_request.bpmn: Task_Dispatch's `executor` -> Task_Resolve).
ASSIGNEE_FIELDS = {"executor": "executors", "approver": "approvers", "specialist": "executors"}


@dataclass(frozen=True)
class Candidate:
    """One person a picker lists; `absence` set means shown as absent and not offered."""

    username: str
    full_name: str
    open_tasks: int
    absence: Period | None = None

    @property
    def offered(self) -> bool:
        return self.absence is None

    @property
    def label(self) -> str:
        return f"{self.full_name or self.username} ({self.open_tasks})"


def in_scope(username: str, user_groups: Iterable[str] | None, groups: set[str], users: set[str]) -> bool:
    """The one membership rule: named on the task, or in one of its groups."""
    return username in users or bool(set(user_groups or ()) & groups)


def open_task_counts(session: Session, usernames: Iterable[str]) -> dict[str, int]:
    """Open user tasks held by each person: the workload pickers and group offers count."""
    names = list(usernames)
    if not names:
        return {}
    return dict(
        session.execute(
            select(UserTask.assignee, func.count())
            .where(UserTask.status == "open", UserTask.assignee.in_(names))
            .group_by(UserTask.assignee)
        ).all()
    )


def eligible_assignees(
    session: Session,
    *,
    now: datetime,
    groups: Iterable[str] = (),
    users: Iterable[str] = (),
    exclude: Iterable[str] = (),
    away: Mapping[str, Period] | None = None,
) -> list[Candidate]:
    """Active users who are in one of `groups` or named in `users`, with open-task counts and absences.

    Ordered present first, then by open tasks, then name: the least loaded present person
    comes first, as a dispatcher would look for them.
    """
    wanted_groups, wanted_users, skip = set(groups), set(users), set(exclude)
    away = away_now(session, now) if away is None else away
    rows = session.execute(
        select(User.username, User.full_name, User.groups).where(User.active.is_(True))
    ).all()
    chosen = [
        r
        for r in rows
        if r.username not in skip and in_scope(r.username, r.groups, wanted_groups, wanted_users)
    ]
    load = open_task_counts(session, [r.username for r in chosen])
    people = [
        Candidate(r.username, r.full_name or "", load.get(r.username, 0), away.get(r.username))
        for r in chosen
    ]
    return sorted(people, key=lambda c: (not c.offered, c.open_tasks, c.full_name or c.username))


def delegation_candidates(session: Session, task: UserTask, *, now: datetime) -> list[Candidate]:
    """Whom an open task may be handed to: its candidate groups and users, or else its assignee's groups.

    A task assigned by expression (`camunda:assignee="${executor}"`) has no candidates of its
    own; the people who share the assignee's groups do the same work.
    """
    groups, users = list(task.candidate_groups or ()), list(task.candidate_users or ())
    if not groups and not users and task.assignee:
        groups = session.scalars(select(User.groups).where(User.username == task.assignee)).first() or []
    return eligible_assignees(session, now=now, groups=groups, users=users, exclude=[task.assignee or ""])


def field_candidates(session: Session, field_id: str, *, now: datetime) -> list[Candidate] | None:
    """The people an assignee field (e.g. dispatch's `executor`) may name; None for other fields."""
    group = ASSIGNEE_FIELDS.get(field_id)
    if group is None:
        return None
    return eligible_assignees(session, now=now, groups=[group])
