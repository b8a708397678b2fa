"""Database wiring: the SQLAlchemy engine and session factory per app, and Alembic migrations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, current_app
from sqlalchemy.orm import sessionmaker

from engine.store import make_engine, make_session_factory

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["db_engine"] = engine
    app.extensions["sessions"] = make_session_factory(engine)


def sessions() -> sessionmaker:
    return current_app.extensions["sessions"]


def alembic_config(url: str) -> Config:
    from alembic.config import Config  # Alembic costs 0.15 s to import; only migrations need it

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")
