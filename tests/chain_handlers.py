"""Test topics for the engine's transaction boundaries, and the child process the crash test kills.

`chain_note` writes an outbox row through handlers._common.transaction, as the desk's handlers
do; `chain_pause` marks that the chain has reached it and, in the child, sleeps until killed.
Run as `python -m tests.chain_handlers URL TASK_ID MARKER`: completes user task TASK_ID on the
database at URL with those topics registered, so the chain runs inside that completion.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from desk.models import Notification
from engine.handlers import HandlerRegistry, JobContext
from engine.runtime import Engine
from engine.store import make_engine, make_session_factory
from handlers._common import DeskResources, job_key, transaction


def note(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    """One outbox row per call, keyed by the job as the desk's notify handler keys its rows."""
    with transaction(context) as session:
        session.add(
            Notification(
                recipient="operator",
                channel="inapp",
                template="chain_note",
                payload={"element": context.element_id},
                subject=context.element_id,
                idempotency_key=job_key(context),
                created_at=context.now,
            )
        )
    return {"notes": int(variables.get("notes", 0)) + 1}


def pause_until_killed(marker: Path) -> Any:
    def pause(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
        marker.write_text(str(context.job_id))
        time.sleep(600)  # the test SIGKILLs this process long before
        return {}

    return pause


def registry(pause: Any = None) -> HandlerRegistry:
    handlers = HandlerRegistry()
    handlers.register("chain_note", note)
    handlers.register("chain_pause", pause or (lambda variables: {"paused": True}))
    return handlers


def engine_on(url: str, handlers: HandlerRegistry) -> Engine:
    sessions = make_session_factory(make_engine(url))
    return Engine(sessions, handlers, worker_id="chain", resources=DeskResources(sessions))


def main(url: str, task_id: str, marker: str) -> None:
    engine_on(url, registry(pause_until_killed(Path(marker)))).complete(task_id, "operator", {})


if __name__ == "__main__":
    main(*sys.argv[1:4])
