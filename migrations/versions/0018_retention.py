"""Retention: history time to live per definition, removal time per instance, the cleanup's
progress row and the record of contact erasures

Revision ID: 0018
Revises: 0017

`process_definition.history_ttl` is the diagram's `camunda:historyTimeToLive` in days (None when
the diagram has none: the configured default applies). `instance.removal_time` is when a finished
instance may go; the cleanup reads due instances in removal-time order from
`ix_instance_removal_time` and stamps finished instances that have none through
`ix_instance_unstamped`, both partial so running instances cost nothing.
`history_cleanup_state` is one row: who runs the cleanup (a lease, so one runs at a time across
processes), its progress and the last run. `erasure_log` records who erased which contact when,
with row counts only.
"""

import sqlalchemy as sa
from alembic import op

from dbtypes import UtcDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _where(condition: str) -> dict:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def upgrade() -> None:
    with op.batch_alter_table("process_definition") as batch:
        batch.add_column(sa.Column("history_ttl", sa.Integer(), nullable=True))
    with op.batch_alter_table("instance") as batch:
        batch.add_column(sa.Column("removal_time", UtcDateTime(), nullable=True))
    op.create_index(
        "ix_instance_removal_time", "instance", ["removal_time"], **_where("removal_time IS NOT NULL")
    )
    op.create_index(
        "ix_instance_unstamped", "instance", ["id"], **_where("status <> 'running' AND removal_time IS NULL")
    )
    with op.batch_alter_table("contact") as batch:
        batch.add_column(sa.Column("erased_at", UtcDateTime(), nullable=True))
    state = op.create_table(
        "history_cleanup_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("holder", sa.String(128), nullable=True),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.Column("due_at", UtcDateTime(), nullable=True),
        sa.Column("trigger", sa.String(32), nullable=True),
        sa.Column("started_at", UtcDateTime(), nullable=True),
        sa.Column("heartbeat_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("removed_instances", sa.Integer(), nullable=False),
        sa.Column("removed_rows", sa.Integer(), nullable=False),
        sa.Column("remaining_due", sa.Integer(), nullable=True),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("longest_batch_ms", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.bulk_insert(
        state,
        [
            {
                "id": 1,
                "status": "idle",
                "removed_instances": 0,
                "removed_rows": 0,
                "batches": 0,
                "longest_batch_ms": 0.0,
            }
        ],
    )
    op.create_table(
        "erasure_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("erased_by", sa.String(64), nullable=True),
        sa.Column("erased_at", UtcDateTime(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
    )
    op.create_index("ix_erasure_log_contact_id", "erasure_log", ["contact_id"])


def downgrade() -> None:
    op.drop_index("ix_erasure_log_contact_id", table_name="erasure_log")
    op.drop_table("erasure_log")
    op.drop_table("history_cleanup_state")
    with op.batch_alter_table("contact") as batch:
        batch.drop_column("erased_at")
    op.drop_index("ix_instance_unstamped", table_name="instance")
    op.drop_index("ix_instance_removal_time", table_name="instance")
    with op.batch_alter_table("instance") as batch:
        batch.drop_column("removal_time")
    with op.batch_alter_table("process_definition") as batch:
        batch.drop_column("history_ttl")
