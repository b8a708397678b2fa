"""Per-day report counters (report_day, report_stage_day) and each staff user's time zone

Revision ID: 0015
Revises: 0014

The reports page counted 25,000 done requests and unnested each one's `stage_totals` (time in
status) per view. `report_day` holds, per desk-local day, the requests opened and closed with
their SLA, pickup and processing figures, overall and per category, executor, channel and
priority (with the processing bucket); `report_stage_day` holds the working and wall minutes
per status of the requests done that day. Every writer of a request keeps them in its own
transaction (desk/report_store.py); this migration fills them from the existing rows.

`ix_request_late_pickups` (late pickups in overrun order) lets the reports' 20 worst late pickups
stop after 20 index entries instead of sorting every late pickup of the range.

`desk_user.time_zone` is the zone a user reads times in; NULL means the desk's zone.
"""

from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_day",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("dimension", sa.String(16), primary_key=True),
        sa.Column("value", sa.String(64), primary_key=True),
        sa.Column("bucket", sa.String(32), primary_key=True),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in ("opened", "closed", "minutes_count")),
        sa.Column("minutes_sum", sa.Float(), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in ("pickup_measured", "pickup_late", "pickup_on_time", "sla_measured", "sla_met")
        ),
    )
    op.create_table(
        "report_stage_day",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("status", sa.String(16), primary_key=True),
        sa.Column("working_minutes", sa.Float(), nullable=False),
        sa.Column("wall_minutes", sa.Float(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_request_late_pickups",
        "request",
        ["pickup_overrun_minutes", "done_at"],
        postgresql_where=sa.text("pickup_late IS true"),
        sqlite_where=sa.text("pickup_late IS 1"),
    )
    with op.batch_alter_table("desk_user") as batch:
        batch.add_column(sa.Column("time_zone", sa.String(64), nullable=True))

    from desk.calendar import DEFAULT_CALENDARS
    from desk.report_store import rebuild

    rebuild(op.get_bind(), ZoneInfo(DEFAULT_CALENDARS["support"].tz))


def downgrade() -> None:
    with op.batch_alter_table("desk_user") as batch:
        batch.drop_column("time_zone")
    op.drop_index("ix_request_late_pickups", table_name="request")
    op.drop_table("report_stage_day")
    op.drop_table("report_day")
