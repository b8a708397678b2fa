"""The definition page's element counts and heat map as they were computed before migration 0020:
straight from the version's user tasks. tests/test_element_stats.py checks the counters against them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from desk import reports as desk_reports
from engine.store import Instance, InstanceStatus, UserTask
from web.views.processes import waits_beside_tasks


def element_times(session: Session, definition_id: str, now: datetime) -> dict[str, desk_reports.ElementTime]:
    """Per user-task element: tasks and their average minutes there; an open task counts until now."""
    end = func.coalesce(UserTask.completed_at, now)
    if session.get_bind().dialect.name == "postgresql":
        minutes = func.extract("epoch", end - UserTask.created_at) / 60
    else:
        minutes = (func.julianday(end) - func.julianday(UserTask.created_at)) * 1440
    rows = session.execute(
        select(UserTask.element_id, func.count(), func.sum(minutes))
        .where(UserTask.definition_id == definition_id)
        .group_by(UserTask.element_id)
    ).all()
    return desk_reports.element_times_from_sums(rows)


def element_counts(session: Session, definition_id: str) -> tuple[dict[str, int], dict[str, int]]:
    """Element id -> running instances waiting there, and -> open incidents."""
    not_running = select(Instance.id).where(
        Instance.definition_id == definition_id, Instance.status != InstanceStatus.RUNNING.value
    )
    open_pairs = (
        select(UserTask.element_id)
        .where(
            UserTask.definition_id == definition_id,
            UserTask.status == "open",
            UserTask.instance_id.not_in(not_running),
        )
        .group_by(UserTask.element_id, UserTask.instance_id)
        .subquery()
    )
    counts: dict[str, int] = dict(
        session.execute(select(open_pairs.c.element_id, func.count()).group_by(open_pairs.c.element_id)).all()
    )
    others, incidents = waits_beside_tasks(session, definition_id)  # not what 0020 changed
    for element_id, waiting in others.items():
        counts[element_id] = counts.get(element_id, 0) + waiting
    return counts, incidents
