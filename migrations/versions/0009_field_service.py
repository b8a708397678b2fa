"""Field service: products, invoices, payments

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

import engine.store

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
