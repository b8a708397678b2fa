"""Scale-out throughput: service requests per second with 1, 2 and 4 RQ workers, and inline.

Each run pushes the same workload through bpmn/service_request.bpmn: N network requests
(classify, sla, route, dispatch, set_status, create_task, notify, resolve, notify, close: 8
service-task jobs, 2 user tasks, in-app notifications). This process opens the requests and
completes the user tasks as the dispatcher and the executor would; the service tasks run
either on `flask --app web rq-worker` processes over PostgreSQL and a Redis server of the
bench's own, or inline in this process on a SQLite file (the embedded default). A run is
timed from the first request opened to the last instance completed. Figures are printed,
never asserted.

Run: `.venv/bin/python bench/scale.py [--instances 100] [--workers 1,2,4] [--skip-inline]`.
PostgreSQL comes from BENCH_POSTGRES_URL, else TEST_POSTGRES_URL, else the test default,
in a throwaway schema per run; redis-server must be installed.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from redis import Redis  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench.engine import machine  # noqa: E402
from bench.rest import throwaway_schema  # noqa: E402
from desk.models import Request  # noqa: E402
from engine.errors import ConcurrentUpdateError, TaskAlreadyCompleted  # noqa: E402
from engine.store import Instance, UserTask  # noqa: E402
from web import create_app  # noqa: E402
from web.cli import deploy_paths  # noqa: E402
from web.db import upgrade  # noqa: E402
from web.demo import seed_demo_for_load  # noqa: E402
from web.intake import open_request  # noqa: E402

BIN = Path(sys.executable).parent
KNOWN_CLIENT = "ivan.petrov@romashka.example.ru"
ANSWERS = {"Task_Dispatch": ("dispatcher", {"executor": "executor"}), "Task_Resolve": ("executor", {})}
RESOLVE = {"resolution": "Сделано", "done": True}


@dataclass
class Result:
    label: str
    instances: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.instances / self.seconds

    def line(self) -> str:
        return (
            f"{self.label:<34} {self.instances:>5} instances in {self.seconds:7.1f} s = "
            f"{self.per_second:6.2f} inst/s ({1000 * self.seconds / self.instances:6.1f} ms each)"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server without persistence on a free port."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(200):
            try:
                Redis.from_url(url).ping()
                break
            except Exception:
                time.sleep(0.05)
        yield url
    finally:
        process.kill()
        process.wait()


def prepared_app(url: str, **config):
    """Migrate, deploy, seed the demo (its sample requests cancelled); the app and the last seeded id."""
    upgrade(url)
    seeding = create_app({"DATABASE_URL": url, "INLINE_JOBS": True, "WORKER_ID": "bench-seed"})
    with seeding.app_context():
        deploy_paths([ROOT / "bpmn"])
        before = seed_demo_for_load(reason="bench")
    seeding.extensions["db_engine"].dispose()
    return create_app({"DATABASE_URL": url, "WORKER_ID": "bench", **config}), before


def drive(app, instances: int, before: int) -> float:
    """Open the requests, work their user tasks until every instance completes; the seconds it took."""
    runtime = app.extensions["runtime"]
    sessions = app.extensions["sessions"]
    ours = Instance.id.in_(select(Request.instance_id).where(Request.id > before))
    started = time.perf_counter()
    with app.app_context():
        for n in range(instances):
            open_request(
                channel="web",
                subject=f"Не работает интернет #{n}",
                body="Нет интернета на этаже.",
                requester_email=KNOWN_CLIENT,  # a demo contact: straight to dispatch, as the figures measure
            )
    while True:
        with sessions() as session:
            open_tasks = session.execute(
                select(UserTask.id, UserTask.element_id)
                .where(UserTask.status == "open", UserTask.instance_id.in_(select(Instance.id).where(ours)))
                .order_by(UserTask.created_at)
            ).all()
            done = session.scalar(
                select(func.count()).select_from(Instance).where(ours, Instance.status == "completed")
            )
        if done >= instances:
            return time.perf_counter() - started
        for task_id, element in open_tasks:
            user, data = ANSWERS[element]
            try:
                runtime.complete(task_id, user, data or RESOLVE)
            except (TaskAlreadyCompleted, ConcurrentUpdateError):
                continue
        if not open_tasks:
            time.sleep(0.05)


def run_inline(instances: int) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        app, before = prepared_app(f"sqlite:///{tmp}/desk.db", INLINE_JOBS=True)
        seconds = drive(app, instances, before)
        app.extensions["db_engine"].dispose()
    return Result("inline, SQLite (embedded default)", instances, seconds)


def run_rq(instances: int, workers: int) -> Result:
    with throwaway_schema() as url, redis_server() as redis_url, tempfile.TemporaryDirectory() as tmp:
        app, before = prepared_app(url, REDIS_URL=redis_url, INLINE_JOBS=False)
        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "PYTHONPATH": str(ROOT)}
        logs = [Path(tmp) / f"worker{i}.log" for i in range(workers)]
        procs = []
        for log in logs:
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        [str(BIN / "flask"), "--app", "web", "rq-worker"],
                        env=env,
                        cwd=ROOT,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        try:
            while not all(b"Listening on" in log.read_bytes() for log in logs):
                if any(p.poll() is not None for p in procs):
                    raise SystemExit(f"a worker exited; see {logs}")
                time.sleep(0.2)
            seconds = drive(app, instances, before)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(30)
            app.extensions["db_engine"].dispose()
    label = f"RQ, PostgreSQL + Redis, {workers} worker{'s' if workers > 1 else ''}"
    return Result(label, instances, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    parser.add_argument("--skip-inline", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    print(machine())
    results = []
    if not args.skip_inline:
        results.append(run_inline(args.instances))
        print(results[-1].line(), flush=True)
    for count in (int(c) for c in args.workers.split(",")):
        results.append(run_rq(args.instances, count))
        print(results[-1].line(), flush=True)
    print()
    print("| mode | instances/s | ms per instance |")
    print("|---|---|---|")
    for r in results:
        print(f"| {r.label} | {r.per_second:.2f} | {1000 * r.seconds / r.instances:.0f} |")


if __name__ == "__main__":
    main()
