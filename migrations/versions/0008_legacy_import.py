"""Legacy import staging table and mapping

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

import engine.store

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "legacy_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("encoding", sa.String(length=16), nullable=False),
        sa.Column("delimiter", sa.String(length=1), nullable=True),
        sa.Column("id_column", sa.String(length=255), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("loaded_at", engine.store.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256", "kind", name="uq_legacy_file_sha_kind"),
    )
    op.create_table(
        "legacy_staging",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source_line", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["file_id"], ["legacy_file.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("file_id", "source_line", name="uq_legacy_staging_line"),
    )
    op.create_index("ix_legacy_staging_pick", "legacy_staging", ["kind", "status", "id"])
    op.create_index("ix_legacy_staging_external", "legacy_staging", ["file_id", "external_id"])
    op.create_table(
        "legacy_link",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("kind", "external_id"),
    )
    op.create_table(
        "legacy_mapping",
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("field", "source"),
    )
    op.create_table(
        "legacy_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", engine.store.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", engine.store.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", engine.store.UtcDateTime(timezone=True), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("legacy_run")
    op.drop_table("legacy_mapping")
    op.drop_table("legacy_link")
    op.drop_index("ix_legacy_staging_external", table_name="legacy_staging")
    op.drop_index("ix_legacy_staging_pick", table_name="legacy_staging")
    op.drop_table("legacy_staging")
    op.drop_table("legacy_file")
