"""Client cards, staff absences, calendar events and their feeds (issue 24)

Revision ID: 0019
Revises: 0018

`contact.notes` keeps what a new client needs, in the words of the manager who made their
card. `absence` holds staff leave, sick leave and business trips with an optional substitute
(desk.absence); "on duty" is the user's flag and no absence covering now, so the index
leads with the user and the end (absences still running or to come). `calendar_event` holds
the events processes put in a user's or a group's calendar, `calendar_feed` each user's
secret iCalendar feed token (desk.calendar_events).
"""

import sqlalchemy as sa
from alembic import op

from dbtypes import UtcDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contact") as batch:
        batch.add_column(sa.Column("notes", sa.Text(), nullable=True))
    op.create_table(
        "absence",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column("ends_at", UtcDateTime(), nullable=False),
        sa.Column("substitute", sa.String(64), nullable=True),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_absence_user_ends", "absence", ["username", "ends_at"])
    op.create_index("ix_absence_ends_at", "absence", ["ends_at"])
    op.create_table(
        "calendar_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("uid", sa.String(128), nullable=False, unique=True),
        sa.Column("username", sa.String(64), nullable=True),
        sa.Column("group_name", sa.String(64), nullable=True),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column("ends_at", UtcDateTime(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Integer(), sa.ForeignKey("request.id"), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_calendar_event_username", "calendar_event", ["username"])
    op.create_index("ix_calendar_event_group_name", "calendar_event", ["group_name"])
    op.create_index("ix_calendar_event_request_id", "calendar_event", ["request_id"])
    op.create_table(
        "calendar_feed",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("calendar_feed")
    op.drop_index("ix_calendar_event_request_id", table_name="calendar_event")
    op.drop_index("ix_calendar_event_group_name", table_name="calendar_event")
    op.drop_index("ix_calendar_event_username", table_name="calendar_event")
    op.drop_table("calendar_event")
    op.drop_index("ix_absence_ends_at", table_name="absence")
    op.drop_index("ix_absence_user_ends", table_name="absence")
    op.drop_table("absence")
    with op.batch_alter_table("contact") as batch:
        batch.drop_column("notes")
