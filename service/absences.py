"""Absences at every door: who may enter them, and handing an absent person's open tasks to their substitute.

The rules of an absence are desk.absence's; this module adds the permission (service.permissions)
and the engine calls, so the page, a script and a test all go through the same checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from desk import absence as rules
from desk.absence import Absence
from engine.runtime import Engine
from engine.store import TaskStatus, UserTask
from service.errors import ServiceError, UnknownAssigneeError
from service.permissions import Principal, require
from service.tasks import check_assignee


class AbsenceNotFoundError(ServiceError, LookupError):
    """No absence has that id (deleted, or never there)."""

    def __init__(self, absence_id: int) -> None:
        self.absence_id = absence_id
        super().__init__(f"No absence #{absence_id}; reload the absence schedule.")


class NoSubstituteError(ServiceError, ValueError):
    """Tasks cannot be handed over: the absence names no substitute."""

    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(
            f"The absence of {username!r} names no substitute; add one to the absence, or hand the tasks "
            "over one by one from each task's page."
        )


@dataclass(frozen=True)
class AwayWithWork:
    """An absence in force whose holder still has open tasks: what the dispatcher must hand over."""

    absence: Absence
    tasks: list[UserTask]


@dataclass
class Handover:
    """What a hand-over did: tasks moved to the substitute, and those refused with the reason."""

    substitute: str
    moved: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def record_absence(
    sessions: sessionmaker,
    principal: Principal | None,
    *,
    username: str,
    kind: str,
    starts_at: datetime,
    ends_at: datetime,
    substitute: str | None,
    note: str,
    now: datetime,
) -> int:
    """Enter an absence (managers and admins); returns its id. AbsenceError names what is wrong."""
    require(principal, "manage", "absence")
    with sessions() as session, session.begin():
        row = rules.add_absence(
            session,
            username=username,
            kind=kind,
            starts_at=starts_at,
            ends_at=ends_at,
            substitute=substitute,
            note=note,
            created_by=principal.username if principal else None,
            now=now,
        )
        return row.id


def delete_absence(sessions: sessionmaker, principal: Principal | None, absence_id: int) -> None:
    require(principal, "manage", "absence")
    with sessions() as session, session.begin():
        row = session.get(Absence, absence_id)
        if row is None:
            raise AbsenceNotFoundError(absence_id)
        session.delete(row)


def away_with_work(session: Session, now: datetime) -> list[AwayWithWork]:
    """Absences in force now whose holders hold open tasks, soonest-started first."""
    current = session.scalars(
        select(Absence).where(Absence.starts_at <= now, Absence.ends_at > now).order_by(Absence.starts_at)
    ).all()
    found = []
    for row in current:
        tasks = session.scalars(
            select(UserTask)
            .where(UserTask.assignee == row.username, UserTask.status == TaskStatus.OPEN.value)
            .order_by(UserTask.created_at)
        ).all()
        if tasks:
            found.append(AwayWithWork(row, list(tasks)))
    return found


def hand_over(
    runtime: Engine, sessions: sessionmaker, principal: Principal | None, absence_id: int
) -> Handover:
    """Give every open task of an absent person to the absence's substitute (dispatchers, managers).

    Each task is checked as any reassignment is (service.tasks.check_assignee): a substitute
    who may not take one task, or is away too, leaves that task where it is, with the reason.
    """
    require(principal, "hand_over", "absence")
    now = runtime.now()
    with sessions() as session:
        row = session.get(Absence, absence_id)
        if row is None:
            raise AbsenceNotFoundError(absence_id)
        if not row.substitute:
            raise NoSubstituteError(row.username)
        result = Handover(row.substitute)
        tasks = session.scalars(
            select(UserTask).where(
                UserTask.assignee == row.username, UserTask.status == TaskStatus.OPEN.value
            )
        ).all()
        movable = []
        for task in tasks:
            try:
                check_assignee(session, row.substitute, task=task, now=now)
            except UnknownAssigneeError as err:
                result.refused[task.id] = str(err)
            else:
                movable.append(task.id)
    for task_id in movable:
        runtime.delegate(task_id, result.substitute, principal.username if principal else None)
        result.moved.append(task_id)
    return result
