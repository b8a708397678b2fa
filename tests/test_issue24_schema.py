"""Migration 0019 matches the models (absence, calendar tables, contact.notes) and goes both ways."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import desk.absence  # noqa: F401  (registers absence)
import desk.calendar_events  # noqa: F401  (registers calendar_event, calendar_feed)
from desk.models import Base
from web.db import alembic_config, upgrade

TABLES = {"absence", "calendar_event", "calendar_feed"}


def _ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Only what migration 0019 adds, so other tables' drift is not this test's."""
    if type_ == "table":
        return name in TABLES or name == "contact"
    table = obj.table.name
    if type_ == "column":
        return table in TABLES or (table == "contact" and name == "notes")
    return table in TABLES


def test_migration_0019_matches_the_models_and_downgrades(database_url):
    upgrade(database_url)
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": _ours, "compare_type": False})
            diff = compare_metadata(context, Base.metadata)
        assert diff == [], diff
        command.downgrade(alembic_config(database_url), "0019-1")
        names = set(inspect(engine).get_table_names())
        assert not TABLES & names
        assert "notes" not in {c["name"] for c in inspect(engine).get_columns("contact")}
    finally:
        engine.dispose()
    upgrade(database_url)
    assert "absence" in set(inspect_tables(database_url))


def inspect_tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()
