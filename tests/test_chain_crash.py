"""A process SIGKILLed inside a long chain of in-process service tasks leaves nothing behind.

From a person's act to the next wait state is one transaction (engine.runtime): completing
"begin" of tests/data/bpmn/long_chain.bpmn runs nine service tasks that each write an outbox
row, then one that pauses. A real process is killed there; the instance is back at "begin",
with no outbox row, job or history of the chain, and the same completion then runs it through.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from desk.models import Notification
from engine.deploy import deploy
from engine.store import HistoryEvent, Instance, Job, UserTask
from tests.chain_handlers import engine_on, registry
from tests.conftest import PROJECT, make_app

DIAGRAM = Path(__file__).parent / "data" / "bpmn" / "long_chain.bpmn"


def wait_for_file(path: Path, child: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if child.poll() is not None:
            raise AssertionError(f"the child exited ({child.returncode}) before the chain paused")
        if time.monotonic() > deadline:
            raise AssertionError(f"the chain did not reach its pause in {timeout}s")
        time.sleep(0.05)


def test_a_process_killed_inside_a_chain_leaves_the_instance_at_its_previous_wait_state(
    database_url: str, tmp_path: Path
) -> None:
    make_app(database_url)  # the migrated schema
    engine = engine_on(database_url, registry())
    deploy(
        engine.session_factory, {DIAGRAM.name: DIAGRAM.read_bytes()}, known_topics=engine.handlers.topics()
    )
    started = engine.start("long_chain")
    with engine.session_factory() as session:
        begin = session.scalars(select(UserTask).where(UserTask.instance_id == started.id)).one()
        version_before = session.get(Instance, started.id).version
        jobs_before = session.scalar(select(func.count()).select_from(Job))
        history_before = session.scalar(
            select(func.count()).select_from(HistoryEvent).where(HistoryEvent.instance_id == started.id)
        )

    marker = tmp_path / "paused"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.chain_handlers", database_url, begin.id, str(marker)],
        cwd=PROJECT,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
    )
    try:
        wait_for_file(marker, child)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL

    with engine.session_factory() as session:
        inst = session.get(Instance, started.id)
        assert inst.version == version_before
        assert list(inst.waiting.values()) == ["user"]
        assert session.get(UserTask, begin.id).status == "open"
        assert session.scalar(select(func.count()).select_from(Notification)) == 0
        assert session.scalar(select(func.count()).select_from(Job)) == jobs_before
        assert (
            session.scalar(
                select(func.count()).select_from(HistoryEvent).where(HistoryEvent.instance_id == started.id)
            )
            == history_before
        )

    # The same act again, in a process that lives: the whole chain runs, each outbox row once.
    engine_on(database_url, registry()).complete(begin.id, "operator", {})
    with engine.session_factory() as session:
        [review] = session.scalars(
            select(UserTask).where(UserTask.instance_id == started.id, UserTask.status == "open")
        )
        assert review.element_id == "review"
        notes = session.scalars(select(Notification.subject).order_by(Notification.id)).all()
        assert notes == [f"note_{i}" for i in range(1, 10)]
        jobs = session.scalars(select(Job.status).where(Job.instance_id == started.id)).all()
        assert jobs == ["done"] * 10
