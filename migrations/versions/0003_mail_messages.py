"""Mail message and attachment tables (channels: e-mail in)

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

import engine.store

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Integer(), sa.ForeignKey("request.id"), nullable=True),
        sa.Column("task_id", sa.Integer(), sa.ForeignKey("desk_task.id"), nullable=True),
        sa.Column("notification_id", sa.Integer(), sa.ForeignKey("notification.id"), nullable=True),
        sa.Column("in_reply_to", sa.String(length=998), nullable=True),
        sa.Column("references", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("from_address", sa.String(length=320), nullable=False),
        sa.Column("from_name", sa.String(length=255), nullable=False),
        sa.Column("to_addresses", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("quoted_text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=True),
        sa.Column("defects", sa.Text(), nullable=False),
        sa.Column("at", engine.store.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index("ix_mail_message_request_id", "mail_message", ["request_id"])
    op.create_index("ix_mail_message_task_id", "mail_message", ["task_id"])
    op.create_index("ix_mail_message_notification_id", "mail_message", ["notification_id"])
    op.create_index("ix_mail_message_request_at", "mail_message", ["request_id", "at"])
    op.create_index("ix_mail_message_action", "mail_message", ["action"])
    op.create_table(
        "mail_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "message_id", sa.Integer(), sa.ForeignKey("mail_message.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_mail_attachment_message_id", "mail_attachment", ["message_id"])


def downgrade() -> None:
    op.drop_table("mail_attachment")
    op.drop_table("mail_message")
