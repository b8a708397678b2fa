"""Camunda 7 fidelity at deploy: timer start jobs per definition, variable types per instance

Revision ID: 0012
Revises: 0011

A timer start event is scheduled when its definition is deployed (no instance exists yet),
so its job hangs off the definition, not off an instance like `timer`. Camunda's REST keeps
each variable's type (Date, Long, Short, Json, Bytes…) beside its value; plain JSON cannot
tell a Long 5 from an Integer 5 or a Date from a String, so the instance keeps a type map.
"""

import sqlalchemy as sa
from alembic import op

import engine.store

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "start_timer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("definition_id", sa.String(length=128), nullable=False),
        sa.Column("definition_key", sa.String(length=128), nullable=False),
        sa.Column("element_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("expression", sa.String(length=255), nullable=False),
        sa.Column("due_at", engine.store.UtcDateTime(timezone=True), nullable=True),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("fired", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["definition_id"], ["process_definition.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("start_timer", schema=None) as batch_op:
        batch_op.create_index("ix_start_timer_due", ["status", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_start_timer_definition_id"), ["definition_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_start_timer_definition_key"), ["definition_key"], unique=False)
    with op.batch_alter_table("instance", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variable_types", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instance", schema=None) as batch_op:
        batch_op.drop_column("variable_types")
    op.drop_table("start_timer")
