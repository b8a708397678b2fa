"""Scale-out mode: service-task jobs run on real RQ worker processes over Redis and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import func, select

from desk.models import Request
from engine.store import Job
from tests.conftest import PROJECT, make_app
from web.cli import deploy_paths
from web.demo import seed_demo
from web.intake import open_request

pytestmark = [pytest.mark.services, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def redis_url(redis_db_url: str) -> str:
    """This worker's own Redis database, empty (tests/conftest.py claims one per process)."""
    return redis_db_url


@pytest.fixture
def scaled(postgres_url, redis_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    app = make_app(postgres_url, REDIS_URL=redis_url, INLINE_JOBS=False)
    with app.app_context():
        deploy_paths([PROJECT / "bpmn"])
        seed_demo()
    # The demo's sample requests queued their first jobs; the tests watch only their own request,
    # so the workers below need not fork a work horse for each of the samples' jobs.
    Redis.from_url(redis_url).flushdb()
    yield app
    app.extensions["db_engine"].dispose()


def run_workers(redis_url: str, postgres_url: str) -> None:
    """Drain the queues with a real `rq worker --burst` process, as the Procfile runs it."""
    env = {**os.environ, "DATABASE_URL": postgres_url, "REDIS_URL": redis_url, "PYTHONPATH": str(PROJECT)}
    rq = Path(sys.executable).with_name("rq")
    subprocess.run(
        [str(rq), "worker", "--burst", "--url", redis_url, "high", "default", "low"],
        env=env,
        cwd=PROJECT,
        check=True,
        capture_output=True,
        timeout=300,
    )


def test_jobs_wait_for_workers_and_a_redelivered_message_does_nothing(scaled, redis_url, postgres_url):
    with scaled.app_context():
        request = open_request(
            channel="email", subject="Не печатает принтер", body="Принтер HP зажевал бумагу."
        )
    with scaled.extensions["sessions"]() as session:
        stored = session.get(Request, request.id)
        assert stored.category is None, "nothing runs before a worker takes the job"
        mine = select(func.count()).select_from(Job).where(Job.instance_id == stored.instance_id)
        assert session.scalar(mine.where(Job.status == "pending")) == 1
    for _ in range(4):  # classify, sla, route: each job's step enqueues the next
        run_workers(redis_url, postgres_url)
    with scaled.extensions["sessions"]() as session:
        assert session.get(Request, request.id).category == "printer"
        done = session.scalars(
            select(Job).where(Job.status == "done", Job.instance_id == stored.instance_id)
        ).all()
        assert {j.topic for j in done} >= {"classify", "sla", "route"}
    from rq import Queue

    from web.queue import QUEUES

    Queue(QUEUES[1], connection=Redis.from_url(redis_url)).enqueue("web.queue.run_job", done[0].id)
    run_workers(redis_url, postgres_url)
    with scaled.extensions["sessions"]() as session:
        assert session.get(Job, done[0].id).attempts == 1, "a duplicate message must not run the job again"
