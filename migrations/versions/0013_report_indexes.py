"""Indexes for the reports and the definition page's heat map

Revision ID: 0013
Revises: 0012

Every report chart filters done requests by `done_at` (or opened ones by `created_at`) over a
range, and neither column was indexed: each of the page's GROUP BYs read all 50,000 wide
request rows (bodies included). `ix_request_done_facts` keys on `done_at` and carries every
column the reports group or count by, so each chart is a range read of the index alone
(PostgreSQL also carries `stage_totals` as an INCLUDE column for the time-in-status unnesting;
JSON has no btree ordering, so it cannot be a key). `ix_request_created` serves opened per day
and the backlog when the range began.

The heat map sums each element's task time within one definition version and the element
counts read the version's open tasks: `ix_user_task_definition_element` answers both from
the index (definition, element, status, instance, created, completed). The page's list of the
version's latest 100 instances reads `ix_instance_definition_started` backwards instead of
sorting every instance of the version.
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

REPORT_COLUMNS = [
    "done_at",
    "processing_bucket",
    "processing_minutes",
    "sla_met",
    "pickup_minutes",
    "pickup_late",
    "category",
    "assignee",
    "channel",
    "priority",
]
TASK_COLUMNS = ["definition_id", "element_id", "status", "instance_id", "created_at", "completed_at"]


def upgrade() -> None:
    op.create_index("ix_request_done_facts", "request", REPORT_COLUMNS, postgresql_include=["stage_totals"])
    op.create_index("ix_request_created", "request", ["created_at"])
    op.create_index("ix_user_task_definition_element", "user_task", TASK_COLUMNS)
    op.create_index("ix_instance_definition_started", "instance", ["definition_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_instance_definition_started", table_name="instance")
    op.drop_index("ix_user_task_definition_element", table_name="user_task")
    op.drop_index("ix_request_created", table_name="request")
    op.drop_index("ix_request_done_facts", table_name="request")
