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
    pass


def downgrade() -> None:
    pass
