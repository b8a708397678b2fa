"""Engine overhead and task-list speed: what persistence costs on top of SpiffWorkflow.

DESIGN §9 measured the 5-step diagram at 0.47 ms per instance in memory and 2.24 ms
with a JSON round trip at each wait state; the issue's goal is that our engine, which
also writes projections, jobs and history in one transaction per act (its service tasks'
handlers run inside it), stays within 3× of the in-memory figure. This script runs
tests/data/bpmn/five_step.bpmn (start, two in-process service tasks, one user task
completed, end) through `Engine` on a SQLite file (as the product runs) and on PostgreSQL,
and the same diagram on raw SpiffWorkflow, and prints per instance the SQL statements and
the transactions it took (`SQL`, `tx`: start, the task-list look-up, the completion). It
then seeds 100,000 open user tasks and times the task-list query of one group's first page
(with its count) and of an `everything` page. Last, it
profiles ~200 engine instances on SQLite and says where the time goes. Figures are
printed, never asserted.

Run: `.venv/bin/python bench/engine.py [--instances 300] [--tasks 100000] [--skip-postgres]
[--profile 200] [--explain]`; --explain prints the plans of the task-list statements.
PostgreSQL comes from BENCH_POSTGRES_URL, else TEST_POSTGRES_URL, else the test default,
in a throwaway schema dropped afterwards. The task-list tables are VACUUM ANALYZEd on
PostgreSQL after seeding (as autovacuum would); SQLite is left unanalyzed, as it runs.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

# This script is bench/engine.py: put the project root first so `engine` is the package, not this file.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402
from sqlalchemy import event, insert, select, text  # noqa: E402
from sqlalchemy.engine import Engine as SqlEngine  # noqa: E402

from bench.rest import throwaway_schema  # noqa: E402
from engine.deploy import deploy  # noqa: E402
from engine.handlers import HandlerRegistry  # noqa: E402
from engine.parser import EngineParser, load_xml  # noqa: E402
from engine.runtime import Engine  # noqa: E402
from engine.script_engine import SafeScriptEngine  # noqa: E402
from engine.serialization import dump_workflow, load_workflow  # noqa: E402
from engine.spiff_patches import library_task_walk  # noqa: E402
from engine.store import Instance, TaskCandidate, UserTask, make_engine, make_session_factory  # noqa: E402
from engine.tasklist import URGENCY, TaskQuery, query_tasks  # noqa: E402
from web.db import upgrade  # noqa: E402

DIAGRAM = ROOT / "tests" / "data" / "bpmn" / "five_step.bpmn"
PROCESS = "five_step"
FORM_DATA = {"ok": True, "score": 5}
SEED = 20261123
GROUPS = [f"group_{i}" for i in range(20)]
QUERY_USER = "someone"
QUERY_GROUP = "group_7"
GOAL_RATIO = 3.0
GOAL_RATIO_POSTGRES = 6.0
# The acts of a 5-step instance that write: the start (to the user task) and the completion (to
# the end); the task-list look-up between them only reads.
WRITING_TRANSACTIONS = 2
CAMUNDA_PYTHON = "camunda-python"
GOAL_GROUP_P95_MS = 50.0
DESIGN_RAW_MS, DESIGN_ROUND_TRIP_MS = 0.47, 2.24


# ---------------------------------------------------------------------------- machine


def machine() -> str:
    """One line naming what the figures were measured on, so runs on different boxes are not compared."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    libs = ", ".join(f"{name} {version(name)}" for name in ("SpiffWorkflow", "SQLAlchemy", "orjson"))
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}, {libs}"


# ---------------------------------------------------------------------------- raw SpiffWorkflow


def parse_diagram() -> tuple[Any, dict[str, Any]]:
    """The spec exactly as the engine parses it (our parser classes), without the deploy machinery."""
    parser = EngineParser()
    parser.add_bpmn_xml(load_xml(DIAGRAM.read_bytes(), DIAGRAM.name), filename=DIAGRAM.name)
    return parser.get_spec(PROCESS), parser.get_subprocess_specs(PROCESS)


def run_raw(
    spec: Any, subprocess_specs: dict[str, Any], script_engine: SafeScriptEngine, round_trip: bool
) -> None:
    """One instance by hand: service tasks wait in STARTED and are completed, the user task is run.

    With `round_trip`, the workflow goes through dump_workflow/load_workflow at each of
    the four wait states, as a naive "serialize every step" persistence would.
    """

    def settle(workflow: BpmnWorkflow) -> BpmnWorkflow:
        workflow.do_engine_steps()
        if round_trip:
            workflow = load_workflow(dump_workflow(workflow), spec, subprocess_specs)
            workflow.script_engine = script_engine
        return workflow

    workflow = settle(BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine))
    for outputs in ({"counter": 21}, {"doubled": 42}):
        [task] = workflow.get_tasks(state=TaskState.STARTED)
        task.data.update(outputs)
        task.complete()
        workflow = settle(workflow)
    [task] = workflow.get_tasks(state=TaskState.READY, manual=True)
    task.data.update(FORM_DATA)
    task.run()
    workflow = settle(workflow)
    if not workflow.completed:
        raise RuntimeError("raw five_step did not complete; the diagram or SpiffWorkflow changed")


def raw_ms_per_instance(
    instances: int, round_trip: bool, repeats: int = 3, *, library_walk: bool = True
) -> float:
    """Best of `repeats` runs: the in-memory floor the engine is compared against, SpiffWorkflow
    as released (its own task walk) unless `library_walk` is False (engine.spiff_patches' walk)."""
    if not library_walk:
        return _raw_ms_per_instance(instances, round_trip, repeats)
    with library_task_walk():
        return _raw_ms_per_instance(instances, round_trip, repeats)


def _raw_ms_per_instance(instances: int, round_trip: bool, repeats: int) -> float:
    spec, subprocess_specs = parse_diagram()
    script_engine = SafeScriptEngine()
    for _ in range(min(50, instances)):
        run_raw(spec, subprocess_specs, script_engine, round_trip)
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        for _ in range(instances):
            run_raw(spec, subprocess_specs, script_engine, round_trip)
        best = min(best, (time.perf_counter() - began) / instances)
    return best * 1000


# ---------------------------------------------------------------------------- the engine


def step_one(variables: dict[str, Any]) -> dict[str, Any]:
    return {"counter": 21}


def step_two(variables: dict[str, Any]) -> dict[str, Any]:
    return {"result": variables["value"] * 2, "label_seen": variables["label"]}


@dataclass
class SqlCounter:
    """Statements by kind with the time spent inside the driver, and transactions begun.

    The time between SQLAlchemy's before/after cursor events is the DB round trip plus the
    driver's own work; what the engine spends around it is ORM and our code.
    """

    kinds: dict[str, list[float]] = field(default_factory=dict)
    transactions: int = 0

    def attach(self, sql_engine: SqlEngine) -> None:
        event.listen(sql_engine, "before_cursor_execute", self._before)
        event.listen(sql_engine, "after_cursor_execute", self._after)
        event.listen(sql_engine, "begin", self._begin)

    def reset(self) -> None:
        self.kinds.clear()
        self.transactions = 0

    @property
    def statements(self) -> int:
        return int(sum(n for kind, (n, _) in self.kinds.items() if not kind.startswith("BEGIN")))

    @property
    def driver_seconds(self) -> float:
        return sum(seconds for _, seconds in self.kinds.values())

    def _before(self, conn, cursor, statement, params, context, executemany) -> None:
        conn.info["bench_began"] = time.perf_counter()

    def _after(self, conn, cursor, statement, params, context, executemany) -> None:
        entry = self.kinds.setdefault(statement_kind(statement), [0, 0.0])
        entry[0] += 1
        entry[1] += time.perf_counter() - conn.info.pop("bench_began", time.perf_counter())

    def _begin(self, conn) -> None:
        self.transactions += 1


def statement_kind(statement: str) -> str:
    """Verb and table ("UPDATE job", "SELECT instance"): enough to see which round trips a step makes."""
    words = statement.split()
    verb = words[0].upper() if words else "?"
    if verb == "SELECT" and "FROM" in words:
        return f"SELECT {words[words.index('FROM') + 1]}"
    if verb in ("INSERT", "DELETE") and len(words) > 2:
        return f"{verb} {words[2]}"
    if verb == "UPDATE" and len(words) > 1:
        return f"UPDATE {words[1]}"
    return " ".join(words[:2])


@dataclass
class Backend:
    """One database with the engine on it and five_step deployed."""

    name: str
    url: str
    sql_engine: SqlEngine
    runtime: Engine
    definition_id: str
    server: str
    counter: SqlCounter = field(default_factory=SqlCounter)


@contextmanager
def backend(name: str) -> Iterator[Backend]:
    """A fresh database, migrated like the product's (Alembic), with the engine and five_step deployed."""
    with _database_url(name) as url:
        upgrade(url)
        sql_engine = make_engine(url)
        try:
            handlers = HandlerRegistry()
            handlers.register("step_one", step_one)
            handlers.register("step_two", step_two)
            runtime = Engine(make_session_factory(sql_engine), handlers, inline_jobs=True, worker_id="bench")
            report = deploy(
                runtime.session_factory, {DIAGRAM.name: DIAGRAM.read_bytes()}, known_topics=handlers.topics()
            )
            with sql_engine.connect() as conn:
                server = conn.exec_driver_sql(
                    "SHOW server_version" if name == "PostgreSQL" else "SELECT sqlite_version()"
                ).scalar_one()
            found = Backend(name, url, sql_engine, runtime, report.definitions[0].id, f"{name} {server}")
            found.counter.attach(sql_engine)
            yield found
        finally:
            sql_engine.dispose()


@contextmanager
def _database_url(name: str) -> Iterator[str]:
    if name == "PostgreSQL":
        with throwaway_schema() as url:
            yield url
        return
    with tempfile.TemporaryDirectory(prefix="bench_engine_") as folder:
        yield f"sqlite:///{folder}/desk.db"


@dataclass
class EngineFigures:
    ms: float
    start_ms: float
    lookup_ms: float
    complete_ms: float
    statements: float
    transactions: float
    sql: dict[str, tuple[float, float]]  # kind -> (per instance, driver ms per instance)


def run_instance(runtime: Engine, timings: list[float] | None = None) -> None:
    """Start (both service tasks run inline), find the user task in the projection, complete it."""
    t0 = time.perf_counter()
    started = runtime.start(PROCESS, business_key="BENCH")
    t1 = time.perf_counter()
    with runtime.session_factory() as session:
        task_id = session.scalars(
            select(UserTask.id).where(UserTask.instance_id == started.id, UserTask.status == "open")
        ).one()
    t2 = time.perf_counter()
    runtime.complete(task_id, "olga", FORM_DATA)
    t3 = time.perf_counter()
    if timings is not None:
        timings.extend((t1 - t0, t2 - t1, t3 - t2))


def commit_ms(db: Backend, commits: int = 300) -> float:
    """What one durable transaction costs on this database and disk: a one-row INSERT and its
    COMMIT into a table of its own (an fsync on PostgreSQL; a WAL append on SQLite, whose
    synchronous=NORMAL syncs at checkpoints). An act is at least one such transaction, so this
    times the transactions per instance is a floor no engine on this database goes under."""
    with db.sql_engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE bench_commit_probe (x INTEGER)")
        conn.commit()
        began = time.perf_counter()
        for _ in range(commits):
            conn.exec_driver_sql("INSERT INTO bench_commit_probe VALUES (1)")
            conn.commit()
        elapsed = time.perf_counter() - began
        conn.exec_driver_sql("DROP TABLE bench_commit_probe")
        conn.commit()
    return elapsed / commits * 1000


def engine_figures(db: Backend, instances: int, warmup: int = 20) -> EngineFigures:
    for _ in range(warmup):
        run_instance(db.runtime)
    db.counter.reset()
    timings: list[float] = []
    began = time.perf_counter()
    for _ in range(instances):
        run_instance(db.runtime, timings)
    elapsed = time.perf_counter() - began
    start, lookup, complete = (sum(timings[i::3]) / instances * 1000 for i in range(3))
    return EngineFigures(
        elapsed / instances * 1000,
        start,
        lookup,
        complete,
        db.counter.statements / instances,
        db.counter.transactions / instances,
        {kind: (n / instances, sec / instances * 1000) for kind, (n, sec) in db.counter.kinds.items()},
    )


def camunda_python_note() -> str:
    """The issue asks for camunda-python 0.1.2 beside us when it is installed (an optional bench
    requirement). It is on no package index this project's machines reach, so no driver for it
    was written against an API nobody here could read; the line says which case this run is."""
    try:
        found = version(CAMUNDA_PYTHON)
    except PackageNotFoundError:
        return (
            f"{CAMUNDA_PYTHON}: not installed (not on this machine's package index), comparison skipped; "
            "issue 21 measured it at 15.7–17.0 ms/instance on SQLite, quiet machine."
        )
    return f"{CAMUNDA_PYTHON} {found} is installed but this script has no driver for it yet: skipped."


# ---------------------------------------------------------------------------- task list


def waiting_instance_row(
    instance_id: str, task_id: str, definition_id: str, key: str, business_key: str, created: datetime
) -> dict:
    """An `instance` row waiting on one user task, as bulk seeding inserts it (no workflow state)."""
    return {
        "id": instance_id,
        "definition_id": definition_id,
        "definition_key": key,
        "business_key": business_key,
        "status": "running",
        "state": b"{}",
        "variables": {},
        "waiting": {task_id: "user"},
        "started_at": created,
        "ended_at": None,
        "started_by": None,
        "version": 1,
    }


def open_task_row(
    instance: dict,
    task_id: str,
    element_id: str,
    name: str,
    *,
    assignee: str | None,
    groups: list[str],
    users: list[str],
    due: datetime | None,
    priority: int,
) -> dict:
    """The open `user_task` row of a seeded instance."""
    return {
        "id": task_id,
        "instance_id": instance["id"],
        "definition_id": instance["definition_id"],
        "definition_key": instance["definition_key"],
        "business_key": instance["business_key"],
        "element_id": element_id,
        "name": name,
        "lane": None,
        "assignee": assignee,
        "owner": None,
        "candidate_groups": groups,
        "candidate_users": users,
        "due": due,
        "follow_up": None,
        "priority": priority,
        "form": None,
        "form_key": None,
        "status": "open",
        "created_at": instance["started_at"],
        "completed_at": None,
        "completed_by": None,
    }


@dataclass
class Seeded:
    seconds: float
    visible: int  # open tasks QUERY_USER in QUERY_GROUP may see, by the rule in tasklist.visible_to
    group_open: int  # unassigned open tasks offered to QUERY_GROUP


def seed_open_tasks(db: Backend, count: int, seed: int = SEED, batch: int = 10_000) -> Seeded:
    """Bulk-insert `count` open user tasks (one lightweight instance each).

    Groups are skewed (a few big teams, a long tail), 30% of tasks are assigned, 60% have
    a due date, priorities cluster at Camunda's 50, creation spreads over 60 days. The
    number of tasks the benchmark's user may see is counted here too, so a faster query
    that returns a different total shows up in the table.
    """
    # A per-row offer flag on task_candidate (open and unassigned), if the schema has one.
    offer_flag = "active" in TaskCandidate.__table__.c
    rng = random.Random(seed)
    weights = [1 / (rank + 1) ** 0.7 for rank in range(len(GROUPS))]
    users = [f"user_{i:03d}" for i in range(200)] + [QUERY_USER]
    now = datetime.now(UTC)
    visible = 0
    group_open = 0  # unassigned tasks offered to QUERY_GROUP: the "My groups" tab of its members
    began = time.perf_counter()
    with db.sql_engine.begin() as conn:
        for first in range(0, count, batch):
            instances, tasks, candidates = [], [], []
            for _ in range(first, min(first + batch, count)):
                instance_id, task_id = str(uuid.uuid4()), str(uuid.uuid4())
                created = now - timedelta(seconds=rng.randrange(60 * 86400))
                roll = rng.random()
                groups = rng.choices(GROUPS, weights) if roll < 0.75 else []
                if 0.75 <= roll < 0.95:
                    groups = list(dict.fromkeys(rng.choices(GROUPS, weights, k=2)))
                cand_users = [rng.choice(users)] if roll >= 0.95 else []
                instances.append(
                    waiting_instance_row(
                        instance_id,
                        task_id,
                        db.definition_id,
                        PROCESS,
                        f"REQ-{first}-{len(instances)}",
                        created,
                    )
                )
                tasks.append(
                    open_task_row(
                        instances[-1],
                        task_id,
                        "review",
                        rng.choice(["Review", "Approve access", "Call back", "Triage"]),
                        assignee=rng.choice(users) if rng.random() < 0.3 else None,
                        groups=groups,
                        users=cand_users,
                        due=created + timedelta(hours=rng.randrange(4, 240)) if rng.random() < 0.6 else None,
                        priority=rng.choice([20, 50, 50, 50, 50, 70, 90]),
                    )
                )
                assignee = tasks[-1]["assignee"]
                offered = assignee is None and (QUERY_GROUP in groups or QUERY_USER in cand_users)
                visible += assignee == QUERY_USER or offered
                group_open += assignee is None and QUERY_GROUP in groups
                extra = {"active": assignee is None} if offer_flag else {}
                candidates += [{"task_id": task_id, "kind": "group", "name": g, **extra} for g in groups]
                candidates += [{"task_id": task_id, "kind": "user", "name": u, **extra} for u in cand_users]
            conn.execute(insert(Instance.__table__), instances)
            conn.execute(insert(UserTask.__table__), tasks)
            conn.execute(insert(TaskCandidate.__table__), candidates)
    if db.name == "PostgreSQL":
        with db.sql_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE instance, user_task, task_candidate"))
    return Seeded(time.perf_counter() - began, visible, group_open)


TASK_QUERIES = {
    f"{QUERY_GROUP} page": TaskQuery(user=QUERY_USER, groups=[QUERY_GROUP], limit=50),
    "everything page": TaskQuery(everything=True, limit=50),
}
# The task list's own way (web.views.tasks): the day's order (nearest deadline first) and a count
# that stops at TASK_LIST_COUNT_BOUND ("1000+", as Camunda's Tasklist says); the lines above sort
# newest first and count exactly, as /engine-rest does.
COUNT_BOUND = 1000
GROUP_TAB = f"{QUERY_GROUP}'s My groups tab (task list)"
BOUNDED_QUERIES = {
    # web.views.tasks' "My groups" for a member offered nothing by name: the group's unassigned
    # tasks in the day's order, one row more than the page (is there a next page?).
    GROUP_TAB: TaskQuery(groups=[QUERY_GROUP], unassigned=True, sort=URGENCY, limit=51),
    f"{QUERY_GROUP} page, day's order, count to {COUNT_BOUND:,}": TaskQuery(
        user=QUERY_USER, groups=[QUERY_GROUP], sort=URGENCY, limit=51
    ),
    f"{QUERY_GROUP} page, newest first, count to {COUNT_BOUND:,}": TASK_QUERIES[f"{QUERY_GROUP} page"],
}


@dataclass
class QueryFigures:
    p50: float
    p95: float
    total: int


def time_query(
    db: Backend, query: TaskQuery, repetitions: int, count_bound: int | None = None
) -> QueryFigures:
    """p50/p95 of one task-list request (a session, the page and its count), as a view does it."""
    samples, total = [], 0
    for i in range(repetitions + 5):
        began = time.perf_counter()
        with db.runtime.session_factory() as session:
            page = query_tasks(session, query, count_bound=count_bound)
        if i >= 5:
            samples.append((time.perf_counter() - began) * 1000)
        total = page.total
    quantiles = statistics.quantiles(samples, n=20, method="inclusive")
    return QueryFigures(statistics.median(samples), quantiles[18], total)


def explain_task_queries(db: Backend, query: TaskQuery) -> None:
    """Print the plans of the statements `query_tasks` sends (page, bounded count), run on PostgreSQL.

    The statements are captured as the engine emits them, so the plans stay true when
    tasklist.py changes; on PostgreSQL look for a "JIT:" section and rows removed by filter.
    """
    captured: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, params, context, executemany) -> None:
        captured.append((statement, params))

    event.listen(db.sql_engine, "before_cursor_execute", capture)
    try:
        with db.runtime.session_factory() as session:
            query_tasks(session, query, count_bound=COUNT_BOUND)
    finally:
        event.remove(db.sql_engine, "before_cursor_execute", capture)
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if db.name == "PostgreSQL" else "EXPLAIN QUERY PLAN "
    with db.sql_engine.connect() as conn:
        for statement, params in captured:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            print(f"\n  {db.name}: {' '.join(statement.split())[:160]}…")
            for row in conn.exec_driver_sql(prefix + statement, params):
                print("    " + " | ".join(str(v) for v in row))


# ---------------------------------------------------------------------------- profile

# (label, file fragment, function name): inclusive cost of the engine's phases per instance.
KEY_FUNCTIONS = [
    ("Engine.start (whole, incl. both service tasks)", "engine/runtime.py", "start"),
    ("Engine.complete (whole)", "engine/runtime_tasks.py", "complete"),
    ("Engine._run_service_task (2 handlers in the step)", "engine/runtime_jobs.py", "_run_service_task"),
    ("Session.commit", "sqlalchemy/orm/session.py", "commit"),
    ("Session.flush (ORM unit of work)", "sqlalchemy/orm/session.py", "flush"),
    ("Session.execute/scalars (SELECT/UPDATE)", "sqlalchemy/orm/session.py", "_execute_internal"),
    ("Session.get (PK loads)", "sqlalchemy/orm/session.py", "get"),
    ("dump_workflow (serialize)", "engine/serialization.py", "dump_workflow"),
    ("load_workflow (deserialize)", "engine/serialization.py", "load_workflow"),
    ("BpmnWorkflow.__init__", "SpiffWorkflow/bpmn/workflow.py", "__init__"),
    ("do_engine_steps", "SpiffWorkflow/bpmn/workflow.py", "do_engine_steps"),
    ("Task.complete", "SpiffWorkflow/task.py", "complete"),
    ("Engine._advance (projection sync)", "engine/runtime.py", "_advance"),
    ("Engine._save (dump + variables + flush)", "engine/runtime.py", "_save"),
    ("current_variables", "engine/runtime_support.py", "current_variables"),
    ("to_jsonable (history/variables)", "engine/serialization.py", "to_jsonable"),
    ("Engine.definition (cache hit)", "engine/runtime_definitions.py", "definition"),
    ("Engine._latest_row (query)", "engine/runtime_definitions.py", "_latest_row"),
    ("FormSchema.validate / from_dict", "engine/forms.py", "validate"),
    ("expressions.render (I/O mapping)", "engine/expressions.py", "render"),
]

# Exclusive (self) time by where the code lives: these add up to the total.
BUCKETS: list[tuple[str, Callable[[str, str], bool]]] = [
    ("DB driver (sqlite3/psycopg C calls)", lambda f, n: f == "~" and ("sqlite3" in n or "psycopg" in n)),
    ("DB driver (psycopg Python)", lambda f, n: "psycopg" in f),
    ("SQLAlchemy ORM/Core", lambda f, n: "sqlalchemy" in f),
    ("SpiffWorkflow serializer + orjson", lambda f, n: "serializer" in f or "orjson" in n),
    ("SpiffWorkflow engine", lambda f, n: "SpiffWorkflow" in f),
    ("engine/ (our code)", lambda f, n: f"{os.sep}engine{os.sep}" in f and "site-packages" not in f),
    ("uuid / datetime / copy / json stdlib", lambda f, n: any(m in f for m in ("uuid", "copy.py", "json"))),
    ("other", lambda f, n: True),
]


def profile_engine(instances: int) -> None:
    """cProfile `instances` engine instances on a SQLite file and print where the time goes."""
    with backend("SQLite") as db:
        for _ in range(20):
            run_instance(db.runtime)
        db.counter.reset()
        profiler = cProfile.Profile()
        began = time.perf_counter()
        profiler.enable()
        for _ in range(instances):
            run_instance(db.runtime)
        profiler.disable()
        wall = (time.perf_counter() - began) / instances * 1000
        stats = pstats.Stats(profiler)
        total = sum(row[2] for row in stats.stats.values())
        per = 1000 / instances
        print(f"\nProfile: {instances} instances on SQLite under cProfile, {wall:.2f} ms/instance wall")
        print(
            f"  {db.counter.statements / instances:.1f} SQL statements in "
            f"{db.counter.transactions / instances:.1f} transactions per instance, "
            f"{db.counter.driver_seconds * per:.2f} ms/instance inside the driver"
        )
        print("  Self time by layer (ms/instance, % of profiled time):")
        buckets = dict.fromkeys((label for label, _ in BUCKETS), 0.0)
        for (filename, _line, name), row in stats.stats.items():
            label = next(lb for lb, match in BUCKETS if match(filename, name))
            buckets[label] += row[2]
        for label, seconds in buckets.items():
            print(f"    {label:<40} {seconds * per:7.3f}  {seconds / total:6.1%}")
        print("  Inclusive time of the engine's phases (ms/instance, calls/instance):")
        for label, fragment, name in KEY_FUNCTIONS:
            rows = [
                row
                for (filename, _line, fn), row in stats.stats.items()
                if fn == name and filename.replace(os.sep, "/").endswith(fragment)
            ]
            if rows:
                cumulative = sum(row[3] for row in rows)
                calls = sum(row[1] for row in rows)
                print(f"    {label:<46} {cumulative * per:7.3f}  {calls / instances:5.1f}")
        print("  Top self time:")
        top = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:12]
        for (filename, line, name), row in top:
            where = f"{_short(filename)}:{line}({name})" if filename != "~" else name
            print(f"    {row[2] * per:7.3f} ms  {row[1] / instances:6.1f}×  {where}")


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# ---------------------------------------------------------------------------- main


def print_sql_breakdown(engines: dict[str, EngineFigures]) -> None:
    """Round trips per instance by statement kind, and the time inside the driver for each."""
    kinds = sorted({k for f in engines.values() for k in f.sql}, key=lambda k: (k.startswith("BEGIN"), k))
    print("\n  SQL per instance: statements × and ms inside the driver (the rest is Python)")
    print(f"  {'':<34}" + "".join(f"{name:>20}" for name in engines))
    for kind in kinds:
        cells = "".join(
            f"{f.sql[kind][0]:>10.1f}×{f.sql[kind][1]:>7.3f} ms" if kind in f.sql else f"{'':>20}"
            for f in engines.values()
        )
        print(f"  {kind:<34}{cells}")
    totals = "".join(
        f"{sum(n for n, _ in f.sql.values()):>10.1f}×{sum(ms for _, ms in f.sql.values()):>7.3f} ms"
        for f in engines.values()
    )
    print(f"  {'all statements':<34}{totals}")
    print(f"  {'engine wall time':<34}" + "".join(f"{f.ms:>17.3f} ms" for f in engines.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=300, help="engine instances per backend")
    parser.add_argument("--raw-instances", type=int, default=2000, help="raw SpiffWorkflow instances")
    parser.add_argument("--tasks", type=int, default=100_000, help="open user tasks to seed")
    parser.add_argument("--repetitions", type=int, default=200, help="runs of each task-list query")
    parser.add_argument("--profile", type=int, default=200, help="instances to profile on SQLite (0: skip)")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--explain", action="store_true", help="print the task-list query plans")
    args = parser.parse_args()

    print(f"Machine: {machine()}")
    raw = raw_ms_per_instance(args.raw_instances, round_trip=False)
    round_trip = raw_ms_per_instance(args.raw_instances // 2, round_trip=True)
    raw_our_walk = raw_ms_per_instance(args.raw_instances, round_trip=False, library_walk=False)
    backends = ["SQLite"] if args.skip_postgres else ["SQLite", "PostgreSQL"]
    engines: dict[str, EngineFigures] = {}
    commits: dict[str, float] = {}
    queries: dict[str, dict[str, QueryFigures]] = {}
    expected: dict[str, int] = {}
    for name in backends:
        with backend(name) as db:
            engines[name] = engine_figures(db, args.instances)
            commits[name] = commit_ms(db)
            seeded = seed_open_tasks(db, args.tasks)
            expected = {f"{QUERY_GROUP} page": seeded.visible, "everything page": args.tasks}
            expected |= {label: min(seeded.visible, COUNT_BOUND) for label in BOUNDED_QUERIES}
            expected[GROUP_TAB] = min(seeded.group_open, COUNT_BOUND)
            print(f"{db.server}: seeded {args.tasks:,} open tasks in {seeded.seconds:.1f} s")
            queries[name] = {
                label: time_query(db, query, args.repetitions) for label, query in TASK_QUERIES.items()
            } | {
                label: time_query(db, query, args.repetitions, COUNT_BOUND)
                for label, query in BOUNDED_QUERIES.items()
            }
            if args.explain:
                for query in BOUNDED_QUERIES.values():
                    explain_task_queries(db, query)

    print(f"\n5-step process ({DIAGRAM.relative_to(ROOT)}), {args.instances} instances per backend")
    print(
        f"  {'':<34}{'ms/inst':>8}{'inst/s':>8}{'vs raw':>8}{'start':>7}{'find':>6}"
        f"{'compl.':>7}{'SQL':>5}{'tx':>4}"
    )
    print(f"  {'raw SpiffWorkflow, in memory':<34}{raw:8.2f}{1000 / raw:8.0f}{1:7.1f}×")
    print(
        f"  {'raw, with the engine task walk':<34}{raw_our_walk:8.2f}{1000 / raw_our_walk:8.0f}"
        f"{raw_our_walk / raw:7.1f}×"
    )
    print(
        f"  {'raw + JSON round trip ×4':<34}{round_trip:8.2f}{1000 / round_trip:8.0f}{round_trip / raw:7.1f}×"
    )
    for name, f in engines.items():
        print(
            f"  {'engine on ' + name:<34}{f.ms:8.2f}{1000 / f.ms:8.0f}{f.ms / raw:7.1f}×"
            f"{f.start_ms:7.2f}{f.lookup_ms:6.2f}{f.complete_ms:7.2f}{f.statements:5.0f}{f.transactions:4.0f}"
        )
    print(
        f"  DESIGN §9: raw {DESIGN_RAW_MS} ms, round trips {DESIGN_ROUND_TRIP_MS} ms. "
        f"Goal: engine ≤ {GOAL_RATIO:.0f}× raw on SQLite, ≤ {GOAL_RATIO_POSTGRES:.0f}× on PostgreSQL."
    )
    for name in engines:
        floor = round_trip + WRITING_TRANSACTIONS * commits[name]
        print(
            f"  floor on {name}: raw + JSON round trips + {WRITING_TRANSACTIONS} commits × "
            f"{commits[name]:.2f} ms = {floor:.2f} ms ({floor / raw:.1f}× raw), before any SQL of the acts"
        )
    print(f"  {camunda_python_note()}")
    print_sql_breakdown(engines)

    print(f"\nTask list, {args.tasks:,} open tasks, {args.repetitions} runs each (page of 50 + count)")
    print(f"  {'':<46}{'p50 ms':>8}{'p95 ms':>8}{'total':>8}")
    for name, figures in queries.items():
        for label, q in figures.items():
            wrong = "" if q.total == expected[label] else f"  WRONG TOTAL, expected {expected[label]:,}"
            print(f"  {name + ', ' + label:<46}{q.p50:8.1f}{q.p95:8.1f}{q.total:8,}{wrong}")
    print(f"  Goal: PostgreSQL {QUERY_GROUP} page p95 ≤ {GOAL_GROUP_P95_MS:.0f} ms (exact or bounded count).")

    if args.profile:
        profile_engine(args.profile)


if __name__ == "__main__":
    main()
