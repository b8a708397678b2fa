"""Shared fixtures: a throwaway database per test on SQLite, and on PostgreSQL when it is reachable."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

PROJECT = Path(__file__).resolve().parent.parent
PEERS = PROJECT.parent / "shared" / "peers"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
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


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the `test` database, dropped afterwards."""
    if not postgres_reachable():
        require_service("PostgreSQL", f"is not reachable at {POSTGRES_URL}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


def make_app(url: str, **overrides):
    from web import create_app
    from web.db import upgrade

    app = create_app(
        {"TESTING": True, "DATABASE_URL": url, "INLINE_JOBS": True, "WORKER_ID": "test", **overrides}
    )
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
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def seed_desk(app):
    """Deploy the shipped diagrams and the demo seed, with the engine clock at Monday 10:00 Moscow time."""
    from web.cli import deploy_paths
    from web.demo import seed_demo

    app.extensions["runtime"].clock = Clock(MONDAY_10)
    with app.app_context():
        deploy_paths([PROJECT / "bpmn"])
        seed_demo()
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
