"""Suspending and activating a process definition, as Camunda 7's SuspendProcessDefinitionCmd does.

A suspended definition starts no new instances: `Engine.start` refuses it, and its timer
start jobs are suspended with it (Camunda suspends the definition's job definitions and so
the timer start jobs), so they do not fire until the definition is activated again. A job
keeps its due moment while suspended; activated after that moment it fires at the next
scan, as a Camunda job that became due while suspended is acquired right after activation.

Suspending the definition's running instances (`includeProcessInstances`) and a delayed
`executionDate` are not supported; `SuspensionNotSupportedError` says so instead of
pretending.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from engine.errors import EngineError, InvalidStateError, NotFoundError
from engine.store import ProcessDefinition, StartTimer

PENDING = "pending"
SUSPENDED = "suspended"


class SuspensionNotSupportedError(EngineError):
    """A suspension option this engine cannot carry out (instances, a delayed execution date)."""


def set_suspended(
    session_factory: sessionmaker,
    suspended: bool,
    *,
    definition_id: str | None = None,
    key: str | None = None,
) -> list[str]:
    """Suspend (or activate) one definition, or every version of `key`; returns the ids changed.

    Camunda's PUT /process-definition/{id}/suspended acts on one version, the by-key form
    on all versions of the key.
    """
    with session_factory() as session, session.begin():
        stmt = select(ProcessDefinition)
        if definition_id is not None:
            stmt = stmt.where(ProcessDefinition.id == definition_id)
        elif key is not None:
            stmt = stmt.where(ProcessDefinition.key == key)
        else:
            raise ValueError("give a definition id or a key")
        rows = list(session.scalars(stmt))
        if not rows:
            what = f"id {definition_id!r}" if definition_id is not None else f"key {key!r}"
            raise NotFoundError(f"No process definition with {what}; check it in the definition list.")
        ids = [row.id for row in rows]
        for row in rows:
            row.suspended = suspended
        before, after = (PENDING, SUSPENDED) if suspended else (SUSPENDED, PENDING)
        session.execute(
            update(StartTimer)
            .where(StartTimer.definition_id.in_(ids), StartTimer.status == before)
            .values(status=after)
        )
    return ids


def check_startable(session: Session, definition_id: str) -> None:
    """Refuse to start an instance of a suspended definition, as Camunda does."""
    row = session.get(ProcessDefinition, definition_id)
    if row is not None and row.suspended:
        raise InvalidStateError(
            f"Cannot start process instance. Process definition {row.key} (id {row.id}) is suspended; "
            "activate it first (PUT /engine-rest/process-definition/{id}/suspended with "
            '{"suspended": false}).'
        )


def timer_status_for(session: Session, definition_id: str) -> str:
    """The status a new timer start job of this definition gets: suspended with its definition."""
    row = session.get(ProcessDefinition, definition_id)
    return SUSPENDED if row is not None and row.suspended else PENDING
