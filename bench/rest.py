"""External-task throughput over /engine-rest: concurrent workers doing fetchAndLock + complete.

Camunda external-task workers poll over HTTP, so what a worker fleet can push through is
bounded by the REST round trips and the conditional UPDATE that locks each task. This
script serves the app the way the Procfile does (gunicorn, threaded so long polls do not
block it) on a throwaway PostgreSQL schema, preloads instances of
tests/data/bpmn/rest_external.bpmn (two external tasks each), then lets N worker
processes fetchAndLock both topics and complete every task over keep-alive HTTP with a
bearer token. Figures are printed, never asserted.

Run: `.venv/bin/python bench/rest.py [--instances 1000] [--workers 4] [--max-tasks 5]`.
PostgreSQL comes from BENCH_POSTGRES_URL, else TEST_POSTGRES_URL, else the test default.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# This script is bench/rest.py: put the project root first so `web` and `engine` import.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

DIAGRAM = ROOT / "tests" / "data" / "bpmn" / "rest_external.bpmn"
TOPICS = ("charge_card", "ship_order")
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BENCH_USER = "bench-worker"


@contextmanager
def throwaway_schema() -> Iterator[str]:
    """A fresh schema for the run, dropped afterwards; yields a DATABASE_URL pointing into it."""
    base = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL") or DEFAULT_URL
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def prepare(url: str, instances: int) -> str:
    """Migrate, create the worker's user and token, deploy, start `instances`; return the token."""
    from datetime import UTC, datetime

    from engine.deploy import deploy
    from web import create_app
    from web.auth import issue_token
    from web.db import upgrade
    from web.demo import create_user

    upgrade(url)
    app = create_app({"DATABASE_URL": url, "INLINE_JOBS": True})
    runtime = app.extensions["runtime"]
    sessions = app.extensions["sessions"]
    with app.app_context():
        create_user(BENCH_USER, uuid.uuid4().hex, roles=["operator"], groups=[])
    with sessions() as session, session.begin():
        token = issue_token(
            session,
            name="bench",
            username=BENCH_USER,
            now=datetime.now(UTC),
            scopes=["engine:worker"],
        )
    deploy(sessions, {DIAGRAM.name: DIAGRAM.read_bytes()}, known_topics=runtime.handlers.topics())
    for n in range(instances):
        runtime.start("rest_external", business_key=f"BENCH-{n}", variables={"amount": n, "note": "x" * 40})
    app.extensions["db_engine"].dispose()
    return token


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn(url: str, workers: int, threads: int) -> Iterator[int]:
    """The Procfile's web process with threads, on a free local port."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        "web:create_app()",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start; run it by hand to see why") from None
                time.sleep(0.2)
        yield port
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def worker(port: int, token: str, name: str, max_tasks: int, total: int, done, results) -> None:
    """One external-task worker: fetchAndLock both topics, complete each task, until all are done."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(path: str, body: dict) -> tuple[int, bytes, float]:
        began = time.perf_counter()
        conn.request("POST", f"/engine-rest/external-task{path}", json.dumps(body), headers)
        response = conn.getresponse()
        payload = response.read()
        return response.status, payload, time.perf_counter() - began

    fetch_body = {
        "workerId": name,
        "maxTasks": max_tasks,
        "usePriority": True,
        "asyncResponseTimeout": 1000,
        "topics": [{"topicName": t, "lockDuration": 60_000, "variables": ["amount"]} for t in TOPICS],
    }
    fetch_times, complete_times, completed = [], [], 0
    while done.value < total:
        status, payload, took = post("/fetchAndLock", fetch_body)
        if status != 200:
            raise RuntimeError(f"fetchAndLock answered {status}: {payload[:300]!r}")
        fetch_times.append(took)
        for task in json.loads(payload):
            body = {"workerId": name, "variables": {"handled": {"value": name, "type": "String"}}}
            status, payload, took = post(f"/{task['id']}/complete", body)
            if status != 204:
                raise RuntimeError(f"complete answered {status}: {payload[:300]!r}")
            complete_times.append(took)
            completed += 1
            with done.get_lock():
                done.value += 1
    results.put((name, completed, fetch_times, complete_times))


def run(instances: int, workers: int, max_tasks: int, server_workers: int, threads: int) -> dict[str, float]:
    total = instances * len(TOPICS)
    with throwaway_schema() as url:
        token = prepare(url, instances)
        with gunicorn(url, server_workers, threads) as port:
            context = multiprocessing.get_context("spawn")
            done, results = context.Value("i", 0), context.Queue()
            procs = [
                context.Process(
                    target=worker, args=(port, token, f"worker-{n}", max_tasks, total, done, results)
                )
                for n in range(workers)
            ]
            began = time.perf_counter()
            for proc in procs:
                proc.start()
            reports = [results.get(timeout=600) for _ in procs]
            elapsed = time.perf_counter() - began
            for proc in procs:
                proc.join(timeout=30)
    completed = sum(r[1] for r in reports)
    fetches = [t for r in reports for t in r[2]]
    completes = [t for r in reports for t in r[3]]
    return {
        "tasks completed": completed,
        "tasks/s (fetchAndLock + complete)": completed / elapsed,
        "fetchAndLock calls": len(fetches),
        "fetchAndLock p50 (ms)": statistics.median(fetches) * 1000,
        "fetchAndLock p95 (ms)": statistics.quantiles(fetches, n=20)[-1] * 1000,
        "complete p50 (ms)": statistics.median(completes) * 1000,
        "complete p95 (ms)": statistics.quantiles(completes, n=20)[-1] * 1000,
        "tasks per worker (min..max)": f"{min(r[1] for r in reports)}..{max(r[1] for r in reports)}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=1000, help="instances, two tasks each")
    parser.add_argument("--workers", type=int, default=4, help="concurrent worker processes")
    parser.add_argument("--max-tasks", type=int, default=5, help="maxTasks per fetchAndLock")
    parser.add_argument("--server-workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    args = parser.parse_args()
    figures = run(args.instances, args.workers, args.max_tasks, args.server_workers, args.threads)
    title = (
        f"External tasks over /engine-rest on PostgreSQL: {args.workers} workers, maxTasks {args.max_tasks}, "
        f"gunicorn {args.server_workers}x{args.threads} threads, {args.instances} instances"
    )
    width = max(len(name) for name in figures)
    print(title)
    for name, value in figures.items():
        shown = f"{value:,.1f}" if isinstance(value, float) else str(value)
        print(f"  {name:<{width}}  {shown:>12}")


if __name__ == "__main__":
    main()
