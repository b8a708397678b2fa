"""Alembic environment: one linear history for the engine's and the desk's tables."""

from alembic import context
from sqlalchemy import pool

import desk.absence  # noqa: F401  (staff absences)
import desk.billing  # noqa: F401  (products, field-service rules, invoices, payments)
import desk.calendar_events  # noqa: F401  (calendar events, iCalendar feed tokens)
import desk.calls  # noqa: F401  (call log, queue rotation)
import desk.erasure  # noqa: F401  (record of contact erasures)
import desk.legacy.store  # noqa: F401  (legacy import: files, staging, links, mappings, runs)
import desk.messages  # noqa: F401  (registers its tables on DeskBase.metadata)
import desk.preferences  # noqa: F401  (notification channel preferences per user and event)
import desk.public_form  # noqa: F401  (public-form rate limit, request attachments)
import desk.report_store  # noqa: F401  (per-day report counters)
import desk.staff  # noqa: F401  (staff groups, template overrides, login failures)
import engine.admin_store  # noqa: F401  (variable audit, migration batches)
import engine.retention_state  # noqa: F401  (the history cleanup's lease and progress)
from desk.models import Base as DeskBase
from engine.store import Base as EngineBase
from engine.store import make_engine

target_metadata = [EngineBase.metadata, DeskBase.metadata]

config = context.config


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
