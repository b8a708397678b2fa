"""Process admin: variable audit, migration batches

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import engine.store

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "variable_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("old_value", sa.JSON(), nullable=True),
        sa.Column("new_value", sa.JSON(), nullable=True),
        sa.Column("existed", sa.Boolean(), nullable=False),
        sa.Column("user", sa.String(length=64), nullable=True),
        sa.Column("at", engine.store.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["instance.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("variable_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_variable_audit_instance_id"), ["instance_id"], unique=False)

    op.create_table(
        "migration_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_definition_id", sa.String(length=128), nullable=False),
        sa.Column("target_definition_id", sa.String(length=128), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", engine.store.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", engine.store.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["source_definition_id"], ["process_definition.id"]),
        sa.ForeignKeyConstraint(["target_definition_id"], ["process_definition.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("migration_batch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_migration_batch_status"), ["status"], unique=False)

    op.create_table(
        "migration_batch_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("finished_at", engine.store.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["migration_batch.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("migration_batch_item", schema=None) as batch_op:
        batch_op.create_index("ix_migration_item_batch_status", ["batch_id", "status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_migration_batch_item_instance_id"), ["instance_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("migration_batch_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_migration_batch_item_instance_id"))
        batch_op.drop_index("ix_migration_item_batch_status")
    op.drop_table("migration_batch_item")
    with op.batch_alter_table("migration_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_migration_batch_status"))
    op.drop_table("migration_batch")
    with op.batch_alter_table("variable_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_variable_audit_instance_id"))
    op.drop_table("variable_audit")
