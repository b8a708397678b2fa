"""Scale-out: service-task jobs on RQ workers over Redis. The database job row stays the truth;
an RQ message only carries a job id, so a duplicate or redelivered message finds the job done.
"""

from __future__ import annotations

import logging
import os
from functools import cache

from flask import Flask
from redis import Redis
from rq import Queue

log = logging.getLogger(__name__)

QUEUES = ("high", "default", "low")


def queue_for(priority: int) -> str:
    return "high" if priority > 50 else "low" if priority < 0 else "default"


def init_app(app: Flask) -> None:
    """With REDIS_URL, jobs created by a step are enqueued after commit instead of run inline."""
    url = app.config.get("REDIS_URL")
    if not url:
        return
    connection = Redis.from_url(url)
    queues = {name: Queue(name, connection=connection) for name in QUEUES}
    runtime = app.extensions["runtime"]
    app.extensions["redis"] = connection

    def dispatch(job_ids: list[int]) -> None:
        for job_id in job_ids:
            queues["default"].enqueue(
                "web.queue.run_job", job_id, job_id=f"desk-job-{job_id}-{os.urandom(4).hex()}"
            )

    runtime.dispatch = dispatch


@cache
def _worker_app() -> Flask:
    """One app per worker process, built from the same environment as the web."""
    from web import create_app

    return create_app({"INLINE_JOBS": False})


def run_job(job_id: int) -> str:
    """RQ entry point: claim the job row (skipped if someone has it or it is done), run it, commit."""
    app = _worker_app()
    runtime = app.extensions["runtime"]
    outcome = runtime.execute_job(job_id, worker_id=runtime.worker_id)
    log.info("job %s: %s", job_id, outcome)
    return outcome


def enqueue_due(app: Flask, limit: int = 500) -> int:
    """Scheduler body: enqueue due pending jobs (retries, lease-expired) and fire due timers."""
    runtime = app.extensions["runtime"]
    ids = runtime.due_job_ids(limit)
    dispatch = runtime.dispatch
    if ids and dispatch is not None:
        dispatch(ids)
    return len(ids) + runtime.fire_due_timers()
