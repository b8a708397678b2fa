"""Shared fixtures: a throwaway database per test on SQLite, and on PostgreSQL when it is reachable.

The suite runs in parallel (pytest-xdist, `scripts/test.sh`), so nothing here is shared between
tests: each gets its own SQLite file, its own PostgreSQL schema and its own Redis database
(claimed per worker process, flushed per test). Set-up is paid once per worker process: the
Alembic migrations and the demo seed run once into template SQLite files that each test copies.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

PROJECT = Path(__file__).resolve().parent.parent
PEERS = PROJECT.parent / "shared" / "peers"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))


def require_service(what: str, reason: str) -> None:
    """Skip with a clear reason, or fail when CI says the service must be there."""
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is required on CI (REQUIRE_SERVICES=1) and {reason}")
    pytest.skip(f"{what}: {reason}")


def postgres_reachable() -> bool:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/desk.db"


@contextmanager
def fresh_postgres_schema() -> Iterator[str]:
    """A fresh schema in the `test` database (its URL), dropped afterwards; skips or fails when absent."""
    if not _PG.setdefault("reachable", postgres_reachable()):
        require_service("PostgreSQL", f"is not reachable at {POSTGRES_URL}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with _admin().begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _schema_url(schema)
    finally:
        with _admin().begin() as conn:
            _unflushed(conn)
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the `test` database, dropped afterwards."""
    with fresh_postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


# ---------------------------------------------------------------------- templates, once per process

_FINISH: list[Callable[[], object]] = []


def at_finish(action: Callable[[], object]) -> None:
    """Run `action` when the test session ends (pytest_sessionfinish), or at exit if it never does."""
    _FINISH.append(action)
    atexit.register(lambda: action() if action in _FINISH else None)


# Test apps hash passwords with one pbkdf2 round (see web.auth.hash_password); the product keeps scrypt.
TEST_PASSWORD_HASH = "pbkdf2:sha256:1"
# Overrides that do not change what the demo seed writes: an app made with only these may take
# its seeded database from the template (the browser tests' live server turns CSRF on).
SEED_NEUTRAL = frozenset({"TESTING", "WTF_CSRF_ENABLED"})
_TEMPLATES: dict[str, Path] = {}
_PG: dict[str, Any] = {}


def _template_dir() -> Path:
    if "dir" not in _TEMPLATES:
        folder = Path(tempfile.mkdtemp(prefix="desk-test-templates-"))
        at_finish(lambda: shutil.rmtree(folder, True))
        _TEMPLATES["dir"] = folder
    return _TEMPLATES["dir"]


def sqlite_file(url: str) -> Path | None:
    """The file behind a `sqlite:///path` URL (None for other databases and in-memory SQLite)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url[len(prefix) :] in ("", ":memory:"):
        return None
    return Path(url[len(prefix) :].split("?", 1)[0])


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (WAL included) through sqlite3's backup API."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def migrated_template() -> Path:
    """A SQLite file with every Alembic migration applied: built once per worker process."""
    if "migrated" not in _TEMPLATES:
        from web.db import upgrade

        path = _template_dir() / "migrated.db"
        upgrade(f"sqlite:///{path}")
        _TEMPLATES["migrated"] = path
    return _TEMPLATES["migrated"]


def seeded_template() -> Path:
    """A migrated SQLite file with bpmn/ deployed and the demo seed loaded at MONDAY_10 (once per process)."""
    if "seeded" not in _TEMPLATES:
        path = _template_dir() / "seeded.db"
        app = _create_app(f"sqlite:///{path}", {})
        copy_sqlite(migrated_template(), path)
        _seed(app)
        app.extensions["db_engine"].dispose()
        _TEMPLATES["seeded"] = path
    return _TEMPLATES["seeded"]


def postgres_schema(url: str) -> str | None:
    """The schema a test's PostgreSQL URL points its search_path at (see `postgres_url`)."""
    if not url.startswith("postgresql"):
        return None
    found = re.search(r"search_path%3D(\w+)", url)
    return found.group(1) if found else None


def _schema_url(schema: str) -> str:
    sep = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"


def _admin():
    """This process's engine for creating, copying and dropping schemas (two pooled connections)."""
    if "admin" not in _PG:
        _PG["admin"] = create_engine(POSTGRES_URL, pool_size=2)
    return _PG["admin"]


def _unflushed(conn) -> None:
    """Commit this transaction without waiting for its WAL to reach the disk: a test schema need
    not survive a server crash, and each test creates and drops one."""
    conn.exec_driver_sql("SET LOCAL synchronous_commit = off")


def _new_template_schema(stage: str) -> str:
    schema = f"tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}_{stage}"
    with _admin().begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))

    def drop() -> None:
        with _admin().begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))

    at_finish(drop)
    return schema


def _read_copy(schema: str):
    from tests.pg_clone import read_schema

    with _admin().connect() as conn:
        copy = read_schema(conn, schema)
        conn.rollback()
    return copy


def pg_migrated_template():
    """A schema with every Alembic migration applied, and how to copy it (once per worker process)."""
    if "migrated" not in _PG:
        from web.db import upgrade

        schema = _new_template_schema("m")
        upgrade(_schema_url(schema))
        _PG["migrated"] = _read_copy(schema)
    return _PG["migrated"]


def pg_seeded_template():
    """A migrated schema with bpmn/ deployed and the demo seed at MONDAY_10 (once per worker process)."""
    if "seeded" not in _PG:
        schema = _new_template_schema("s")
        with _admin().begin() as conn:
            pg_migrated_template().into(conn, schema)
        app = _create_app(_schema_url(schema), {})
        _seed(app)
        app.extensions["db_engine"].dispose()
        _PG["seeded"] = _read_copy(schema)
    return _PG["seeded"]


def _pg_schema_is_empty(schema: str) -> bool:
    with _admin().connect() as conn:
        return not conn.scalar(text("SELECT count(*) FROM pg_tables WHERE schemaname = :s"), {"s": schema})


def _create_app(url: str, overrides: dict):
    from web import create_app

    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "INLINE_JOBS": True,
            "WORKER_ID": "test",
            # One pbkdf2 round, not scrypt: test logins stay cheap (the product default is untouched).
            "PASSWORD_HASH_METHOD": TEST_PASSWORD_HASH,
            **overrides,
        }
    )


def make_app(url: str, **overrides):
    """The app on `url`, migrated. A new SQLite file starts as a copy of the migrated template
    (the migrations themselves are proven by tests/test_schema_indexes.py on both databases)."""
    from web.db import upgrade

    path, schema = sqlite_file(url), postgres_schema(url)
    if path is not None and not path.exists():
        copy_sqlite(migrated_template(), path)
        app = _create_app(url, overrides)
        stat = path.stat()
        app.extensions["test_template_copy"] = (path, stat.st_size, stat.st_mtime_ns, set(overrides))
        return app
    if schema is not None and _pg_schema_is_empty(schema):
        with _admin().begin() as conn:
            _unflushed(conn)
            pg_migrated_template().into(conn, schema)
        app = _create_app(url, overrides)
        app.extensions["test_template_copy"] = (schema, set(overrides))
        return app
    app = _create_app(url, overrides)
    upgrade(url)
    return app


@pytest.fixture
def app(sqlite_url: str):
    app = make_app(sqlite_url)
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture
def any_app(database_url: str):
    """The app on SQLite and on PostgreSQL (two runs of the test)."""
    app = make_app(database_url)
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture
def runtime(app):
    return app.extensions["runtime"]


def peers(folder: str) -> Path:
    path = PEERS / folder
    if not path.is_dir():
        pytest.skip(f"peer material {path} is absent")
    return path


class Clock:
    """An injected clock: tests move time instead of sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _seed(app):
    from web.cli import deploy_paths
    from web.demo import seed_demo

    app.extensions["runtime"].clock = Clock(MONDAY_10)
    with app.app_context():
        deploy_paths([PROJECT / "bpmn"])
        seed_demo()
    return app


# Tables the demo seed fills: a schema copied from the migrated template with all of them empty
# has not been written to since.
SEEDED_TABLES = ("desk_user", "deployment", "request", "business_calendar", "product")


def _untouched_pg_copy(app) -> str | None:
    copied = app.extensions.get("test_template_copy")
    if copied is None or len(copied) != 2 or not copied[1] <= SEED_NEUTRAL:
        return None
    schema = copied[0]
    written = " OR ".join(f'EXISTS (SELECT 1 FROM "{schema}"."{table}")' for table in SEEDED_TABLES)
    with _admin().connect() as conn:
        return None if conn.scalar(text(f"SELECT {written}")) else schema


def _untouched_template_copy(app) -> Path | None:
    """The app's SQLite file when it is still the migrated template's copy and the app's overrides
    cannot change what the seed writes; None otherwise."""
    copied = app.extensions.get("test_template_copy")
    if copied is None or len(copied) != 4:
        return None
    path, size, mtime_ns, overrides = copied
    if not overrides <= SEED_NEUTRAL or not path.exists():
        return None
    stat = path.stat()
    if (stat.st_size, stat.st_mtime_ns) != (size, mtime_ns) or Path(f"{path}-wal").exists():
        return None
    return path


def seed_desk(app):
    """Deploy the shipped diagrams and the demo seed, with the engine clock at Monday 10:00 Moscow time.

    On a SQLite file nothing has touched since make_app, the seeded template (built once per
    process by the same deploy and seed) is copied in instead: the same rows, without the cost.
    """
    if app.extensions.get("test_template_copy"):
        app.extensions["db_engine"].dispose()  # closing the last connection folds the WAL back in
    schema = _untouched_pg_copy(app)
    if schema is not None:
        # Built before the refill's transaction opens: building it reads the catalogs on another
        # connection, which would wait for the locks the refill holds on this one.
        template = pg_seeded_template()
        with _admin().begin() as conn:
            _unflushed(conn)
            template.rows_into(conn, schema)
        app.extensions.pop("test_template_copy", None)
        app.extensions["runtime"].clock = Clock(MONDAY_10)
        return app
    path = _untouched_template_copy(app)
    if path is None:
        return _seed(app)
    copy_sqlite(seeded_template(), path)
    app.extensions.pop("test_template_copy", None)
    app.extensions["runtime"].clock = Clock(MONDAY_10)
    return app


@pytest.fixture
def desk(any_app):
    """The seeded desk inside a pushed app context (engine-level tests call web.intake directly).

    Web tests use tests.web_helpers' `seeded` instead: with one app context around every
    request, Flask-WTF's CSRF token cached in `g` outlives the login that renews the session.
    """
    seed_desk(any_app)
    with any_app.app_context():
        yield any_app


# ---------------------------------------------------------------------- Redis: one database per worker

REDIS_CLAIM_SECONDS = 2 * 3600  # a killed run's claim lapses by itself
_REDIS: dict[str, object] = {}


def _redis_server_url() -> str:
    return REDIS_URL.rsplit("/", 1)[0]


def claim_redis_database() -> str:
    """A Redis database number of this process's own on the TEST_REDIS_URL server.

    Claims are keys in TEST_REDIS_URL's own database (0 by default), set only if absent, so two
    xdist workers, or two clones running their suites at once, never share a database; a claim
    is released when the process ends and expires by itself if it is killed.
    """
    if "url" in _REDIS:
        return _REDIS["url"]  # type: ignore[return-value]
    from redis import Redis

    claims_db = int(REDIS_URL.rsplit("/", 1)[1] or 0)
    try:
        claims = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        claims.ping()
    except Exception:
        require_service("Redis", f"is not reachable at {REDIS_URL}")
    token = f"{os.getpid()}-{uuid.uuid4().hex}"
    for number in range(1, 16):
        if number == claims_db:
            continue
        key = f"desk-tests:claim:{number}"
        if claims.set(key, token, nx=True, ex=REDIS_CLAIM_SECONDS):
            url = f"{_redis_server_url()}/{number}"

            def release(key: str = key) -> None:
                if claims.get(key) == token.encode():
                    claims.delete(key)

            at_finish(release)
            _REDIS["url"] = url
            return url
    require_service("Redis", f"has no free database on {_redis_server_url()}: test runs claim all 15")
    raise AssertionError("unreachable")


@pytest.fixture
def redis_db_url() -> str:
    """This worker's own Redis database on the TEST_REDIS_URL server, emptied for the test."""
    from redis import Redis

    url = claim_redis_database()
    connection = Redis.from_url(url, socket_connect_timeout=2)
    connection.flushdb()
    yield url
    connection.flushdb()
    connection.close()


# ---------------------------------------------------------------------- parallel runs (pytest-xdist)

# Tests that drive a whole machine's worth of processes run on one worker, one after another:
# the crash suite (its own redis-server, gunicorn and RQ workers) and Chromium.
XDIST_GROUPS = {"test_scale_crash.py": "crash"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the marks into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(pytest.mark.xdist_group("browser"))
        elif item.path.name in XDIST_GROUPS:
            item.add_marker(pytest.mark.xdist_group(XDIST_GROUPS[item.path.name]))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop this process's templates and give back its Redis claim (in every xdist worker too:
    workers leave through os._exit, past atexit)."""
    while _FINISH:
        try:
            _FINISH.pop()()
        except Exception:  # a service gone at the end of the run: a Redis claim lapses by itself
            pass


def npm_ready(folder: Path, *needed: Path, what: str) -> None:
    """Skip unless node and npm are here; `npm install` the pinned packages of `folder` once.

    Parallel test workers may all arrive on a fresh clone at once: the install runs under a file
    lock, and the `needed` paths are checked again inside it, so no worker reads a half-written
    node_modules.
    """
    import fcntl
    import subprocess

    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip(f"Node.js and npm are not installed, so {what} cannot run")
    with open(folder / ".npm-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all(path.exists() for path in needed):
            return
        installed = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if installed.returncode != 0 or not all(path.exists() for path in needed):
            require_service(f"npm install of {what}", f"failed: {installed.stderr[-500:]}")


@pytest.fixture(autouse=True)
def _task_walk_checked_against_the_library(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """In the Camunda 7 conformance tests (or everywhere with CHECK_TASK_WALK=1), every task walk
    the engine does is also done by SpiffWorkflow's own iterator, and the two must agree task for
    task and in order: engine.spiff_patches replaces that iterator for speed, not for behaviour.
    The same for the parallel join's decision (engine.spiff_joins)."""
    if not (request.module.__name__.startswith("tests.test_camunda7_") or os.environ.get("CHECK_TASK_WALK")):
        yield
        return
    from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator

    from engine import spiff_patches

    fast = spiff_patches.tasks_in_state

    def checked(workflow, state):
        ours = fast(workflow, state)
        library = list(BpmnTaskIterator(workflow.task_tree, state=state))
        assert [t.id for t in ours] == [t.id for t in library], f"task walk differs for state {state}"
        return ours

    monkeypatch.setattr(spiff_patches, "tasks_in_state", checked)

    # The parallel join's "may it fire" (engine.spiff_joins answers the library's descent questions
    # faster): both must decide alike on every arrival.
    from SpiffWorkflow.bpmn.specs.mixins.parallel_gateway import ParallelGateway

    from engine import spiff_joins

    def join_checked(spec, my_task):
        ours = spiff_joins.parallel_join_may_fire(spec, my_task)
        library = spiff_joins.library_parallel_may_fire(spec, my_task)
        assert ours == library, f"parallel join {spec.name} decides differently from the library"
        return ours

    monkeypatch.setattr(ParallelGateway, "_check_threshold_unstructured", join_checked)
    yield
