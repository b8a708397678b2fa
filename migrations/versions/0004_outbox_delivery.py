"""Outbox delivery: attempts, backoff, dead letter, channel preferences

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

import engine.store

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs: no table rebuild on SQLite, where mail_message already points at this table
    # (a rebuild would DROP a referenced table); SQLite accepts REFERENCES in ADD COLUMN itself.
    references = {"task_id": "desk_task", "fallback_of_id": "notification"}
    for column, table in references.items():
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE notification ADD COLUMN {column} INTEGER REFERENCES {table} (id)")
        else:
            op.add_column("notification", sa.Column(column, sa.Integer(), sa.ForeignKey(f"{table}.id")))
    op.add_column("notification", sa.Column("next_attempt_at", engine.store.UtcDateTime(timezone=True)))
    op.add_column("notification", sa.Column("lease_until", engine.store.UtcDateTime(timezone=True)))
    op.add_column("notification", sa.Column("claimed_by", sa.String(length=255)))
    op.add_column("notification", sa.Column("message_id", sa.String(length=998)))
    op.add_column("notification", sa.Column("dead_reason", sa.Text()))
    op.create_index("ix_notification_task_id", "notification", ["task_id"])
    op.create_index("ix_notification_fallback_of_id", "notification", ["fallback_of_id"])
    op.create_table(
        "notification_preference",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["desk_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "event", name="uq_notification_preference_user_event"),
    )


def downgrade() -> None:
    op.drop_table("notification_preference")
    op.drop_index("ix_notification_fallback_of_id", table_name="notification")
    op.drop_index("ix_notification_task_id", table_name="notification")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        for column in (
            "dead_reason",
            "message_id",
            "claimed_by",
            "lease_until",
            "next_attempt_at",
            "fallback_of_id",
            "task_id",
        ):
            batch_op.drop_column(column)
