"""Call log, persisted round-robin rotation, public-form rate limit

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

import engine.store

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("caller_e164", sa.String(length=20), nullable=True),
        sa.Column("called", sa.String(length=64), nullable=False),
        sa.Column("extension", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("route_reason", sa.String(length=16), nullable=True),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("ring", sa.JSON(), nullable=True),
        sa.Column("rotation", sa.Integer(), nullable=True),
        sa.Column("routed_at", engine.store.UtcDateTime(timezone=True), nullable=True),
        sa.Column("started_at", engine.store.UtcDateTime(timezone=True), nullable=True),
        sa.Column("answered_at", engine.store.UtcDateTime(timezone=True), nullable=True),
        sa.Column("answered_by", sa.String(length=64), nullable=True),
        sa.Column("ended_at", engine.store.UtcDateTime(timezone=True), nullable=True),
        sa.Column("missed_at", engine.store.UtcDateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("recording_url", sa.String(length=2048), nullable=True),
        sa.Column("request_id", sa.Integer(), sa.ForeignKey("request.id"), nullable=True),
        sa.Column("callback_task_id", sa.Integer(), sa.ForeignKey("desk_task.id"), nullable=True),
        sa.Column("created_at", engine.store.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", engine.store.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_id"),
    )
    op.create_index("ix_call_caller_e164", "call", ["caller_e164"])
    op.create_index("ix_call_request_id", "call", ["request_id"])
    op.create_table(
        "call_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("at", engine.store.UtcDateTime(timezone=True), nullable=False),
        sa.Column("received_at", engine.store.UtcDateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_id", "event", name="uq_call_event_call_event"),
    )
    op.create_table(
        "call_rotation",
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("updated_at", engine.store.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("queue"),
    )
    op.create_table(
        "public_form_rate",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("window_start", engine.store.UtcDateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start"),
    )
    op.create_index("ix_public_form_rate_window_start", "public_form_rate", ["window_start"])
    op.create_table(
        "request_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "request_id", sa.Integer(), sa.ForeignKey("request.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_at", engine.store.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_request_attachment_request_id", "request_attachment", ["request_id"])


def downgrade() -> None:
    op.drop_table("request_attachment")
    op.drop_table("public_form_rate")
    op.drop_table("call_rotation")
    op.drop_table("call_event")
    op.drop_table("call")
