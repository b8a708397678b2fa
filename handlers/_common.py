"""What every handler shares: a transaction on the desk's tables, opened from the job context."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from engine.handlers import HandlerInput, JobContext, Text


@dataclass(frozen=True)
class DeskResources:
    """Handed to handlers through JobContext.resources by the app (web) or the RQ worker."""

    sessions: sessionmaker


@contextmanager
def transaction(context: JobContext) -> Iterator[Session]:
    """The handler's changes and its outbox rows, kept or dropped together.

    Inside the instance's step (context.session set) this is the step's own session: the engine
    runs the whole handler call in a SAVEPOINT (engine.runtime_jobs), so a failing handler's
    writes are undone without undoing the step, and what it writes commits with the step (a
    crash before that commit leaves nothing). Run on its own, the handler gets a transaction.
    """
    if context.session is not None:
        yield context.session
        return
    resources: DeskResources = context.resources
    with resources.sessions() as session, session.begin():
        yield session


def job_key(context: JobContext, *parts: Any) -> str:
    """A stable idempotency key: the same job re-run produces the same key."""
    return ":".join(["job", str(context.job_id), *(str(p) for p in parts)])


#: The request a process handles; intake starts service processes with it set.
REQUEST_ID = HandlerInput(
    "request_id",
    Text("Обращение (id)", "Request (id)"),
    type="integer",
    required=True,
    default="${request_id}",
    description=Text(
        "Номер обращения; по умолчанию переменная процесса request_id, которую задаёт приём обращений.",
        "The request's database id; by default the process variable request_id that intake sets.",
    ),
)


#: The field specialist doing the work; field_pick_specialist sets the process variable.
SPECIALIST = HandlerInput(
    "specialist",
    Text("Специалист (логин)", "Specialist (login)"),
    required=True,
    default="${specialist}",
)
