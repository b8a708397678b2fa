"""Read tokens for the admin-edited tables, changed by triggers on every write (issue 21)

Revision ID: 0022
Revises: 0021

`read_token` holds one row per admin-edited table (`read_tokens.TABLES`); a trigger on the table gives it
a new random token whenever a statement inserts, updates or deletes rows of it (PostgreSQL:
truncates too), so a process may keep what it read while the token stays (read_tokens). Every
writer is covered, as with the counters of 0020. SQLite runs the trigger per row, PostgreSQL
once per statement. Tokens start random, so two databases never share one by accident.
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# read_tokens.TABLES as of this migration (a later table gets a migration of its own).
TABLES = (
    "business_calendar",
    "classifier_entry",
    "decision_definition",
    "desk_user",
    "notification_preference",
    "notification_template",
    "route_rule",
    "sla_policy",
)
OPERATIONS = ("insert", "update", "delete")
SQLITE_TOKEN = "lower(hex(randomblob(16)))"
PG_TOKEN = "gen_random_uuid()::text"


def upgrade() -> None:
    op.create_table(
        "read_token",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("token", sa.String(36), nullable=False),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    token = PG_TOKEN if postgres else SQLITE_TOKEN
    for table in TABLES:
        op.execute(f"INSERT INTO read_token (name, token) VALUES ('{table}', {token})")
    if postgres:
        op.execute(
            "CREATE FUNCTION read_token_renew() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"UPDATE read_token SET token = {PG_TOKEN} WHERE name = TG_TABLE_NAME; RETURN NULL; END $$"
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER read_token_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION read_token_renew()"
            )
        return
    for table in TABLES:
        for operation in OPERATIONS:
            op.execute(
                f"CREATE TRIGGER read_token_{table}_{operation} AFTER {operation.upper()} ON {table} "
                f"BEGIN UPDATE read_token SET token = {SQLITE_TOKEN} WHERE name = '{table}'; END"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        if postgres:
            op.execute(f"DROP TRIGGER read_token_{table} ON {table}")
        else:
            for operation in OPERATIONS:
                op.execute(f"DROP TRIGGER read_token_{table}_{operation}")
    if postgres:
        op.execute("DROP FUNCTION read_token_renew()")
    op.drop_table("read_token")
