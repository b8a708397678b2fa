"""History cleanup on PostgreSQL: millions of history rows generated in bulk, half of them expired;
cleaning them up, with a task-list query timed beside it (issue 23).

    python bench/history.py                     # 1,000,000 history rows (about 2 minutes here)
    python bench/history.py --rows 10000000     # the issue's 10,000,000 (see README for the time)

What is generated (INSERT … SELECT generate_series, in a throwaway schema): instances of one
definition, each with HISTORY_PER_INSTANCE history events, a completed user task with its
candidate, and two done jobs; half the instances ended 400 days ago (time to live 30 days:
expired, not yet stamped), a quarter (at most 10,000) are running with an open task offered to
the "support" group, the rest ended yesterday. "History rows" counts history events.

Printed: the seeding time; the cleanup's removed instances and rows, rows/s, batches and the
longest single transaction (stamping and removal alike); and the p50/p95 of the task list's
"support" page with its count, measured alone first and then in a separate process while the
cleanup runs. Never asserts on time.
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from bench.engine import machine  # noqa: E402
from bench.rest import throwaway_schema  # noqa: E402

HISTORY_PER_INSTANCE = 20
RUNNING_CAP = 10_000
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
DEFINITION = "bench_history:1:00000000-0000-0000-0000-000000000000"


def seed(url: str, rows: int) -> tuple[int, float]:
    """Generate `rows` history events (and everything else) in bulk; returns (instances, seconds)."""
    from web.db import upgrade

    upgrade(url)
    instances = rows // HISTORY_PER_INSTANCE
    # Open work does not grow with history: at most RUNNING_CAP running instances (open tasks).
    running = min(instances // 4, RUNNING_CAP)
    expired = instances // 2
    recent = instances - expired - running
    began = time.perf_counter()
    engine = create_engine(url)
    params = {
        "n": instances,
        "expired": expired,
        "recent": recent,
        "per": HISTORY_PER_INSTANCE,
        "now": NOW,
        "def": DEFINITION,
    }
    statements = [
        """INSERT INTO deployment (id, name, source, deployed_at) VALUES ('bench', 'bench', 'bench', :now)""",
        """INSERT INTO process_definition (id, key, name, version, deployment_id, resource_name, sha256,
               deployed_at, suspended, history_ttl)
           VALUES (:def, 'bench_history', 'Bench', 1, 'bench', 'bench.bpmn', 'x', :now, false, 30)""",
        # i <= expired: ended 400 days ago; next `recent`: ended yesterday; the rest run.
        """INSERT INTO instance (id, definition_id, definition_key, business_key, status, state, variables,
               variable_types, waiting, started_at, ended_at, started_by, version)
           SELECT 'i' || lpad(i::text, 9, '0'), :def, 'bench_history', 'REQ-' || i,
                  CASE WHEN i <= :expired + :recent THEN 'completed' ELSE 'running' END,
                  '\\x7b7d'::bytea, '{"request_id": 1, "category": "network"}'::json, NULL, '{}'::json,
                  :now - (CASE WHEN i <= :expired THEN interval '401 days' ELSE interval '2 days' END),
                  CASE WHEN i <= :expired THEN :now - interval '400 days'
                       WHEN i <= :expired + :recent THEN :now - interval '1 day' END,
                  'operator', 1
           FROM generate_series(1, :n) AS i""",
        """INSERT INTO history_event (instance_id, at, kind, element_id, task_id, "user", data)
           SELECT 'i' || lpad(i::text, 9, '0'), :now - interval '1 day', 'task_completed', 'el' || e,
                  NULL, 'executor', '{"variables": {"approved": true}}'::json
           FROM generate_series(1, :n) AS i, generate_series(1, :per) AS e""",
        """INSERT INTO user_task (id, instance_id, definition_id, definition_key, business_key, element_id,
               name, candidate_groups, candidate_users, priority, status, created_at, completed_at)
           SELECT 't' || lpad(i::text, 9, '0'), 'i' || lpad(i::text, 9, '0'), :def, 'bench_history',
                  'REQ-' || i, 'work', 'Work', '["support"]'::json, '[]'::json, 50,
                  CASE WHEN i <= :expired + :recent THEN 'completed' ELSE 'open' END,
                  :now - interval '2 days' + (i % 1000) * interval '1 second',
                  CASE WHEN i <= :expired + :recent THEN :now - interval '1 day' END
           FROM generate_series(1, :n) AS i""",
        """INSERT INTO task_candidate (task_id, kind, name)
           SELECT 't' || lpad(i::text, 9, '0'), 'group', 'support' FROM generate_series(1, :n) AS i""",
        """INSERT INTO job (instance_id, task_id, element_id, topic, external, status, priority, attempts,
               retries, due_at, created_at, finished_at, version)
           SELECT 'i' || lpad(i::text, 9, '0'), 's' || j, 'service' || j, 'classify', false, 'done', 0, 1, 3,
                  :now - interval '2 days', :now - interval '2 days', :now - interval '2 days', 1
           FROM generate_series(1, :n) AS i, generate_series(1, 2) AS j""",
    ]
    numbers = {k: str(int(v)) for k, v in params.items() if isinstance(v, int)}  # psycopg binds small ints
    with engine.begin() as conn:  # as smallint, and `:expired + :recent` would overflow it
        for statement in statements:
            for name, value in numbers.items():
                statement = re.sub(rf":{name}\b", value, statement)
            conn.execute(text(statement), {k: v for k, v in params.items() if k not in numbers})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE instance, history_event, user_task, task_candidate, job"))
    engine.dispose()
    return instances, time.perf_counter() - began


def task_list_samples(url: str, count: int | None, out) -> None:
    """In its own process: time the "support" page + count, `count` times or until told to stop.

    Says "ready" after five warm-up queries, so the cleanup starts only once samples are taken.
    """
    from engine.store import make_engine, make_session_factory
    from engine.tasklist import TaskQuery, query_tasks

    sessions = make_session_factory(make_engine(url))
    query = TaskQuery(user="dispatcher", groups=["support"], limit=50)

    def once() -> float:
        began = time.perf_counter()
        with sessions() as session:
            query_tasks(session, query)
        return (time.perf_counter() - began) * 1000

    for _ in range(5):
        once()
    out.send("ready")
    samples: list[float] = []
    while (count is None and not out.poll()) or (count is not None and len(samples) < count):
        samples.append(once())
    out.send(samples)


def quantiles(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), statistics.quantiles(samples, n=20, method="inclusive")[18]


def run(rows: int, batch: int) -> None:
    from service.permissions import Principal
    from web import create_app
    from web import retention as web_retention

    print(f"machine: {machine()}")
    with throwaway_schema() as url:
        instances, seeded = seed(url, rows)
        print(
            f"seeded {rows:,} history rows ({instances:,} instances, {instances // 2:,} expired) "
            f"in {seeded:.1f} s"
        )
        app = create_app({"DATABASE_URL": url, "INLINE_JOBS": True, "WORKER_ID": "bench", "TESTING": False})
        app.extensions["runtime"].clock = lambda: NOW
        app.config["HISTORY_CLEANUP_BATCH_SIZE"] = batch

        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        alone = ctx.Process(target=task_list_samples, args=(url, 200, child))
        alone.start()
        parent.recv()
        baseline = parent.recv()
        alone.join()
        base_p50, base_p95 = quantiles(baseline)

        parent, child = ctx.Pipe()
        beside = ctx.Process(target=task_list_samples, args=(url, None, child))
        beside.start()
        parent.recv()  # warmed up
        with app.app_context():
            result = web_retention.run_now(app, Principal.of("bench", roles=("admin",)), "bench")
        parent.send("stop")
        during = parent.recv()
        beside.join()
        during_p50, during_p95 = quantiles(during)
        app.extensions["db_engine"].dispose()

    print(
        f"cleanup (batch {batch}): {result.removed_instances:,} instances, {result.removed_rows:,} rows in "
        f"{result.seconds:.1f} s = {result.removed_rows / result.seconds:,.0f} rows/s; "
        f"{result.batches} batches, longest transaction {result.longest_batch_ms:.0f} ms; "
        f"{result.remaining_due} due left"
    )
    print(f"task list 'support' page + count alone:        p50 {base_p50:.1f} ms, p95 {base_p95:.1f} ms")
    print(
        f"task list beside the cleanup ({len(during)} samples): "
        f"p50 {during_p50:.1f} ms, p95 {during_p95:.1f} ms "
        f"({(during_p95 / base_p95 - 1) * 100:+.0f}% p95)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="history rows to generate")
    parser.add_argument("--batch", type=int, default=500, help="instances per cleanup transaction")
    args = parser.parse_args()
    run(args.rows, args.batch)


if __name__ == "__main__":
    main()
