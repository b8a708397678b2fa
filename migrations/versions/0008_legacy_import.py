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
    pass


def downgrade() -> None:
    pass
