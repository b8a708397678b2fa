"""DMN decisions: versioned decision definitions and the history of their evaluations

Revision ID: 0017
Revises: 0015

A .dmn deploys like a diagram: each decision (its id is the key) gets a version per new
content, and business rule tasks find it by key and binding. Every evaluation is kept with
its inputs, the rules that matched and the result, for the instance page and
/engine-rest/history/decision-instance.
"""

import sqlalchemy as sa
from alembic import op

import engine.store

revision = "0017"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "decision_definition",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("version_tag", sa.String(length=255), nullable=True),
        sa.Column("history_ttl", sa.String(length=64), nullable=True),
        sa.Column("deployment_id", sa.String(length=36), nullable=False),
        sa.Column("resource_name", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("deployed_at", engine.store.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["deployment_id"], ["deployment.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("decision_definition", schema=None) as batch_op:
        batch_op.create_index("ix_decision_key_version", ["key", "version"], unique=True)
        batch_op.create_index(
            batch_op.f("ix_decision_definition_deployment_id"), ["deployment_id"], unique=False
        )
    op.create_table(
        "decision_instance",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("decision_definition_id", sa.String(length=128), nullable=False),
        sa.Column("decision_key", sa.String(length=128), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=True),
        sa.Column("process_definition_id", sa.String(length=128), nullable=True),
        sa.Column("element_id", sa.String(length=128), nullable=True),
        sa.Column("activity_instance_id", sa.String(length=36), nullable=True),
        sa.Column("evaluated_at", engine.store.UtcDateTime(timezone=True), nullable=False),
        sa.Column("user", sa.String(length=64), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("matched_rules", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("collect_result_value", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["decision_definition_id"], ["decision_definition.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("decision_instance", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_decision_instance_decision_definition_id"),
            ["decision_definition_id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_decision_instance_decision_key"), ["decision_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_decision_instance_instance_id"), ["instance_id"], unique=False)


def downgrade() -> None:
    op.drop_table("decision_instance")
    op.drop_table("decision_definition")
