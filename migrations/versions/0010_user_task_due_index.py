"""User task list sorted by due date: index (status, due DESC, id)

Revision ID: 0010
Revises: 0009

The task list orders by `due` then `id` and shows 25 rows; without this index PostgreSQL
reads and sorts every open task (100,000 in bench/web.py) for each page. `due` is stored
descending because PostgreSQL puts NULLs first in `due DESC`: with `due` ascending, the
latest-due-first page would start with every task that has no due date (40% in the bench),
all tied and re-sorted by `id`. This way latest-due-first is the index order and earliest-due-first
is the index read backwards, re-sorting only ties on one due moment; both stop after the
page. (SQLite puts NULLs first in `due ASC`, so there earliest-due-first still sorts those ties.)
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_user_task_open_due", "user_task", ["status", sa.text("due DESC"), "id"])


def downgrade() -> None:
    op.drop_index("ix_user_task_open_due", table_name="user_task")
