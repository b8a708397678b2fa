"""Migrations and the models agree on the task list's indexes, and migration 0010 goes both ways."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from engine.store import Base
from web.db import alembic_config, upgrade

DUE_INDEX = "ix_user_task_open_due"


def _user_task_indexes(url: str) -> dict[str, dict]:
    engine = create_engine(url)
    try:
        return {ix["name"]: ix for ix in inspect(engine).get_indexes("user_task")}
    finally:
        engine.dispose()


def test_due_index_is_created_and_dropped_by_its_migration(database_url):
    upgrade(database_url)
    assert _user_task_indexes(database_url)[DUE_INDEX]["column_names"] == ["status", "due", "id"]

    command.downgrade(alembic_config(database_url), "0009")
    assert DUE_INDEX not in _user_task_indexes(database_url)

    upgrade(database_url)
    assert DUE_INDEX in _user_task_indexes(database_url)


@pytest.mark.postgres
def test_postgres_user_task_indexes_match_the_model(postgres_url):
    """Autogenerate finds nothing to change on user_task; SQLite is left out as it does not reflect DESC."""
    upgrade(postgres_url)
    assert _user_task_indexes(postgres_url)[DUE_INDEX]["column_sorting"] == {"due": ("desc",)}
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": _only_user_task})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def _only_user_task(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Compare the user_task table and what hangs on it, so other tables' drift is not this test's."""
    return (name if type_ == "table" else obj.table.name) == "user_task"
