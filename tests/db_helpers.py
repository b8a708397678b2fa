"""A module-wide database on SQLite and on PostgreSQL, for modules that seed one demo desk and
read it in many tests (seeding per test would cost minutes on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import fresh_postgres_schema


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def module_database_url(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[str]:
    """One database for the whole module: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('desk')}/desk.db"
        return
    with fresh_postgres_schema() as url:
        yield url
