"""Migration 0014: partial indexes over open tasks for the group count and the definition page."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect, text

from web.db import alembic_config, upgrade

INDEXES = {
    "user_task": {
        "ix_user_task_open_unassigned": ["id"],
        "ix_user_task_open_element": ["definition_id", "element_id", "instance_id"],
    },
    "instance": {"ix_instance_not_running": ["definition_id", "id"]},
}


def _indexes(url: str, table: str) -> dict[str, dict]:
    engine = create_engine(url)
    try:
        return {ix["name"]: ix for ix in inspect(engine).get_indexes(table)}
    finally:
        engine.dispose()


def _partial_condition(url: str, name: str) -> str:
    """The index's WHERE as the database stores it (SQLite's DDL text, PostgreSQL's definition)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                return conn.execute(
                    text("SELECT pg_get_indexdef(CAST(:n AS regclass))"), {"n": name}
                ).scalar_one()
            return conn.execute(
                text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": name}
            ).scalar_one()
    finally:
        engine.dispose()


def test_open_task_indexes_are_partial_and_go_both_ways(database_url):
    upgrade(database_url)
    for table, expected in INDEXES.items():
        found = _indexes(database_url, table)
        for name, columns in expected.items():
            assert found[name]["column_names"] == columns, name
    assert "assignee IS NULL" in _partial_condition(database_url, "ix_user_task_open_unassigned")
    assert "open" in _partial_condition(database_url, "ix_user_task_open_element")
    assert "running" in _partial_condition(database_url, "ix_instance_not_running")

    command.downgrade(alembic_config(database_url), "0013")
    for table, expected in INDEXES.items():
        assert not set(expected) & set(_indexes(database_url, table)), table

    upgrade(database_url)
    assert set(INDEXES["user_task"]) <= set(_indexes(database_url, "user_task"))
