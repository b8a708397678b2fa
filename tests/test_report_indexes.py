"""Migration 0013 and the models agree on the reports' and definition page's indexes, both ways."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from desk.models import Base as DeskBase
from engine.store import Base as EngineBase
from web.db import alembic_config, upgrade

INDEXES = {
    "request": {"ix_request_done_facts", "ix_request_created"},
    "user_task": {"ix_user_task_definition_element"},
    "instance": {"ix_instance_definition_started"},
}


def _indexes(url: str, table: str) -> dict[str, dict]:
    engine = create_engine(url)
    try:
        return {ix["name"]: ix for ix in inspect(engine).get_indexes(table)}
    finally:
        engine.dispose()


def test_report_indexes_are_created_and_dropped_by_their_migration(database_url):
    upgrade(database_url)
    for table, names in INDEXES.items():
        assert names <= set(_indexes(database_url, table)), table
    assert _indexes(database_url, "request")["ix_request_done_facts"]["column_names"][0] == "done_at"

    command.downgrade(alembic_config(database_url), "0012")
    for table, names in INDEXES.items():
        assert not names & set(_indexes(database_url, table)), table

    upgrade(database_url)
    assert INDEXES["request"] <= set(_indexes(database_url, "request"))


@pytest.mark.postgres
def test_postgres_report_indexes_match_the_models(postgres_url):
    """Autogenerate finds nothing to change on the three tables (stage_totals is an INCLUDE column)."""
    upgrade(postgres_url)
    included = _indexes(postgres_url, "request")["ix_request_done_facts"]
    assert included["dialect_options"]["postgresql_include"] == ["stage_totals"]
    diff = _index_changes(postgres_url, EngineBase, {"user_task", "instance"})
    diff += _index_changes(postgres_url, DeskBase, {"request"})
    assert diff == []


def _index_changes(url: str, base: Any, tables: set[str]) -> list[Any]:
    """What autogenerate would change on the indexes of `tables`, which `base` owns."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return (name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)) in tables

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": include})
            return [d for d in compare_metadata(context, base.metadata) if _is_index_change(d)]
    finally:
        engine.dispose()


def _is_index_change(change: Any) -> bool:
    return isinstance(change, tuple) and change[0] in ("add_index", "remove_index")
