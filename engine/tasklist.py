"""Task-list queries on the user-task projection: who may see what, filtered, sorted and paged.

"My groups' tasks" is an indexed semi-join on `task_candidate`, so one group's first
page stays fast with 100,000 open tasks and never touches workflow state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, union
from sqlalchemy.orm import Session

from engine.errors import EngineError
from engine.store import TaskCandidate, UserTask

URGENCY = "urgency"
SORTS = {
    "created": UserTask.created_at,
    "due": UserTask.due,
    "priority": UserTask.priority,
    "name": UserTask.name,
}


class CountBoundError(EngineError, ValueError):
    """A bounded task count was asked for with a negative bound."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        super().__init__(
            f"A task count bound must be 0 or more, not {bound}; pass None for an exact count "
            "(TASK_LIST_COUNT_BOUND in the environment sets the task list's)."
        )


@dataclass
class TaskQuery:
    """Filters as the task list offers them; `user`+`groups` restrict to what that person may work."""

    user: str | None = None
    groups: list[str] = field(default_factory=list)
    everything: bool = False
    assignee: str | None = None
    unassigned: bool = False
    candidate_group: str | None = None
    candidate_user: str | None = None
    definition_key: str | None = None
    element_id: str | None = None
    instance_id: str | None = None
    business_key: str | None = None
    name_like: str | None = None
    min_priority: int | None = None
    due_before: datetime | None = None
    overdue_at: datetime | None = None
    created_after: datetime | None = None
    status: str = "open"
    sort: str = "created"
    descending: bool = True
    offset: int = 0
    limit: int = 50


@dataclass
class TaskView:
    id: str
    instance_id: str
    definition_id: str
    definition_key: str
    business_key: str | None
    element_id: str
    name: str | None
    assignee: str | None
    candidate_groups: list[str]
    candidate_users: list[str]
    due: datetime | None
    follow_up: datetime | None
    priority: int
    created_at: datetime
    form_key: str | None
    status: str
    owner: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TaskPage:
    """One page of tasks and how many match: exactly, or at least `total` when `bounded`."""

    tasks: list[TaskView]
    total: int
    bounded: bool = False

    @property
    def total_label(self) -> str:
        """The count as a person reads it: `1000+` when more match than were counted, never a wrong figure."""
        return f"{self.total}+" if self.bounded else str(self.total)


def visible_to(user: str, groups: list[str], *, walk: bool = False):
    """Who may see and work a task: its assignee, or, while unassigned, the users and groups it is offered to.

    Two spellings of one rule, for the two ways the database best answers it. To count them all,
    "id IN (offered UNION assigned)": it starts from the candidate index (a few thousand rows for
    one group) instead of scanning every open task. With `walk`, for a page (and on PostgreSQL a
    bounded count) that stops early, "assignee = me OR (unassigned AND EXISTS an offer)": the
    database walks the page's order index and probes each task's offers, stopping at the page
    (bench/engine.py at 100,000 open tasks: a group page in the day's order with a count to
    1,000, p50 65 -> 26 ms on PostgreSQL; an exact count that way is slower, so it keeps the
    first form).
    """
    offer = or_(
        and_(TaskCandidate.kind == "user", TaskCandidate.name == user),
        and_(TaskCandidate.kind == "group", TaskCandidate.name.in_(list(groups or ()))),
    )
    if walk:
        offered_here = exists().where(TaskCandidate.task_id == UserTask.id, offer)
        return or_(UserTask.assignee == user, and_(UserTask.assignee.is_(None), offered_here))
    offered = select(TaskCandidate.task_id).where(offer)
    assigned = select(UserTask.id).where(UserTask.assignee == user)
    return and_(
        UserTask.id.in_(union(offered, assigned)),
        or_(UserTask.assignee == user, UserTask.assignee.is_(None)),
    )


def may_work(task: UserTask, user: str, groups: list[str]) -> bool:
    """Same rule as `visible_to`, for one loaded task (completing checks this on the server)."""
    if task.assignee:
        return task.assignee == user
    return user in (task.candidate_users or []) or bool(set(groups) & set(task.candidate_groups or []))


def _filters(q: TaskQuery, *, walk: bool = False) -> list[Any]:
    """The query's conditions; `walk` spells visibility for a read that stops early (visible_to)."""
    conditions: list[Any] = [UserTask.status == q.status]
    if q.user and not q.everything:
        conditions.append(visible_to(q.user, q.groups, walk=walk))
    elif q.groups and not q.everything:
        conditions.append(
            exists().where(
                TaskCandidate.task_id == UserTask.id,
                TaskCandidate.kind == "group",
                TaskCandidate.name.in_(q.groups),
            )
        )
    if q.assignee:
        conditions.append(UserTask.assignee == q.assignee)
    if q.unassigned:
        conditions.append(UserTask.assignee.is_(None))
    if q.candidate_group:
        conditions.append(
            exists().where(
                TaskCandidate.task_id == UserTask.id,
                TaskCandidate.kind == "group",
                TaskCandidate.name == q.candidate_group,
            )
        )
    if q.candidate_user:
        conditions.append(
            exists().where(
                TaskCandidate.task_id == UserTask.id,
                TaskCandidate.kind == "user",
                TaskCandidate.name == q.candidate_user,
            )
        )
    if q.definition_key:
        conditions.append(UserTask.definition_key == q.definition_key)
    if q.element_id:
        conditions.append(UserTask.element_id == q.element_id)
    if q.instance_id:
        conditions.append(UserTask.instance_id == q.instance_id)
    if q.business_key:
        conditions.append(UserTask.business_key == q.business_key)
    if q.name_like:
        conditions.append(UserTask.name.ilike(f"%{q.name_like}%"))
    if q.min_priority is not None:
        conditions.append(UserTask.priority >= q.min_priority)
    if q.due_before is not None:
        conditions.append(UserTask.due <= q.due_before)
    if q.overdue_at is not None:
        conditions.append(and_(UserTask.due.is_not(None), UserTask.due < q.overdue_at))
    if q.created_after is not None:
        conditions.append(UserTask.created_at >= q.created_after)
    return conditions


def query_tasks(
    session: Session, q: TaskQuery, *, count: bool = True, count_bound: int | None = None
) -> TaskPage:
    """The page `q` asks for and, with `count`, how many tasks match.

    `count_bound` caps the count as Camunda's Tasklist does: counting stops after
    `count_bound + 1` matches, and the page then says "at least `count_bound`" (`bounded`).
    A group's 20,000 open tasks cost the database an exact count's full walk (~50 ms on
    PostgreSQL); a bounded one stops after a thousand index entries (under 1 ms).
    """
    if count_bound is not None and count_bound < 0:
        raise CountBoundError(count_bound)
    conditions = _filters(q, walk=True)  # the page stops early
    if q.sort == URGENCY:
        # The day's order: the nearest deadline first (tasks without one after), then the higher
        # priority. Written as NULLS LAST rather than "due IS NULL, due" so that PostgreSQL reads
        # the page from the (status, due DESC, id) index backwards and stops at it, instead of
        # sorting every visible task (bench/web.py: 150 ms -> 1 ms for a group's 23,000 tasks).
        order = (UserTask.due.asc().nulls_last(), UserTask.priority.desc())
    else:
        column = SORTS.get(q.sort, UserTask.created_at)
        order = (column.desc() if q.descending else column.asc(),)
    rows = session.scalars(
        select(UserTask).where(*conditions).order_by(*order, UserTask.id).offset(q.offset).limit(q.limit)
    ).all()
    if not count:
        return TaskPage([_view(r) for r in rows], len(rows))
    if count_bound is None:
        every = _filters(q)
        total = session.scalar(select(func.count()).select_from(UserTask).where(*every)) or 0
        return TaskPage([_view(r) for r in rows], total)
    # PostgreSQL walks to the bound fastest; SQLite's planner probes every offer for each open task
    # that way (bench/engine.py: 41 ms counting from the offers, 133 ms walking, at 100,000 tasks).
    walk = session.get_bind().dialect.name == "postgresql"
    counted = conditions if walk else _filters(q)
    matching = select(UserTask.id).where(*counted).limit(count_bound + 1).subquery()
    total = session.scalar(select(func.count()).select_from(matching)) or 0
    return TaskPage([_view(r) for r in rows], min(total, count_bound), bounded=total > count_bound)


def _view(r: UserTask) -> TaskView:
    return TaskView(
        id=r.id,
        instance_id=r.instance_id,
        definition_id=r.definition_id,
        definition_key=r.definition_key,
        business_key=r.business_key,
        element_id=r.element_id,
        name=r.name,
        assignee=r.assignee,
        candidate_groups=list(r.candidate_groups or []),
        candidate_users=list(r.candidate_users or []),
        due=r.due,
        follow_up=r.follow_up,
        priority=r.priority,
        created_at=r.created_at,
        form_key=r.form_key,
        status=r.status,
        owner=r.owner,
    )
