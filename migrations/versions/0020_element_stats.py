"""Per-element user-task counters for the definition page, kept by triggers (issue 20)

Revision ID: 0020
Revises: 0019

`element_stat` holds appended deltas per (version, element): instances waiting there, tasks,
tasks without `completed_at` and the sum of their `created_at` (epoch seconds), and the minutes
of the ended ones (engine.store.ElementStat). Triggers on `user_task` append them, so every
writer is covered (the engine writes tasks with Core statements no session hook sees).

SQLite runs row triggers as each row changes, so "another open task of the instance at that
element" is asked of the table as it is then. PostgreSQL runs statement triggers over the
statement's transition tables: one delta row per element and statement (a 1,000-row insert adds
one row, not 1,000), and the waiting count of each touched (version, element, instance) is
its open tasks after the statement against that number less the rows the statement added plus
those it removed — right even when one UPDATE moves two open tasks of an instance at once.
The migration counts the existing tasks (engine.element_stats.rebuild).
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

COLUMNS = (
    "definition_id, element_id, waiting_instances, tasks, unended_tasks, unended_created_sum, ended_minutes"
)


def _sqlite_row(row: str, sign: str) -> str:
    """SQLite: the delta of one task row (`NEW` counted in, `OLD` counted out)."""
    return (
        f"INSERT INTO element_stat ({COLUMNS}) VALUES ({row}.definition_id, {row}.element_id, "
        f"CASE WHEN {row}.status = 'open' AND NOT EXISTS (SELECT 1 FROM user_task u "
        f"WHERE u.definition_id = {row}.definition_id AND u.element_id = {row}.element_id "
        f"AND u.instance_id = {row}.instance_id AND u.status = 'open' AND u.id <> {row}.id) "
        f"THEN {sign}1 ELSE 0 END, {sign}1, "
        f"CASE WHEN {row}.completed_at IS NULL THEN {sign}1 ELSE 0 END, "
        f"CASE WHEN {row}.completed_at IS NULL "
        f"THEN {sign}(julianday({row}.created_at) - 2440587.5) * 86400.0 ELSE 0.0 END, "
        f"CASE WHEN {row}.completed_at IS NULL THEN 0.0 "
        f"ELSE {sign}(julianday({row}.completed_at) - julianday({row}.created_at)) * 1440 END);"
    )


RELEVANT = ("status", "definition_id", "element_id", "instance_id", "created_at", "completed_at")

SQLITE_TRIGGERS = (
    f"CREATE TRIGGER element_stat_insert AFTER INSERT ON user_task BEGIN {_sqlite_row('NEW', '')} END",
    f"CREATE TRIGGER element_stat_update AFTER UPDATE OF {', '.join(RELEVANT)} ON user_task "
    f"WHEN {' OR '.join(f'OLD.{c} IS NOT NEW.{c}' for c in RELEVANT)} "
    f"BEGIN {_sqlite_row('OLD', '-')} {_sqlite_row('NEW', '')} END",
    f"CREATE TRIGGER element_stat_delete AFTER DELETE ON user_task BEGIN {_sqlite_row('OLD', '-')} END",
)

_CHANGE_COLUMNS = "definition_id, element_id, instance_id, status, created_at, completed_at"

# PostgreSQL: one statement turns the changed rows (`change`, with sign +1 in and -1 out) into
# one delta row per element.
_PG_DELTA = f"""
WITH change AS ({{change}}),
pair AS (
    SELECT definition_id, element_id, instance_id,
           count(*) FILTER (WHERE sign > 0) AS added, count(*) FILTER (WHERE sign < 0) AS removed
    FROM change WHERE status = 'open' GROUP BY definition_id, element_id, instance_id
),
delta AS (
    SELECT definition_id, element_id, 0 AS waiting, sign AS tasks,
           CASE WHEN completed_at IS NULL THEN sign ELSE 0 END AS unended,
           CASE WHEN completed_at IS NULL THEN sign * extract(epoch FROM created_at) ELSE 0 END AS created,
           CASE WHEN completed_at IS NULL THEN 0
                ELSE sign * (extract(epoch FROM completed_at - created_at) / 60) END AS minutes
    FROM change
    UNION ALL
    SELECT p.definition_id, p.element_id,
           (n.open_now > 0)::int - (n.open_now - p.added + p.removed > 0)::int, 0, 0, 0, 0
    FROM pair p CROSS JOIN LATERAL (
        SELECT count(*) AS open_now FROM user_task u
        WHERE u.definition_id = p.definition_id AND u.element_id = p.element_id
          AND u.instance_id = p.instance_id AND u.status = 'open'
    ) n
)
INSERT INTO element_stat ({COLUMNS})
SELECT definition_id, element_id, sum(waiting), sum(tasks), sum(unended), sum(created), sum(minutes)
FROM delta GROUP BY definition_id, element_id
HAVING sum(waiting) <> 0 OR sum(tasks) <> 0 OR sum(unended) <> 0 OR sum(created) <> 0 OR sum(minutes) <> 0
"""

_IN = f"SELECT {_CHANGE_COLUMNS}, 1 AS sign FROM new_rows"
_OUT = f"SELECT {_CHANGE_COLUMNS}, -1 AS sign FROM old_rows"
PG_CHANGES = {
    "insert": ("REFERENCING NEW TABLE AS new_rows", _IN),
    "update": ("REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows", f"{_OUT} UNION ALL {_IN}"),
    "delete": ("REFERENCING OLD TABLE AS old_rows", _OUT),
}


def _create_postgres_triggers() -> None:
    for op_name, (referencing, change) in PG_CHANGES.items():
        op.execute(
            f"CREATE FUNCTION element_stat_{op_name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {_PG_DELTA.format(change=change)}; RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER element_stat_{op_name} AFTER {op_name.upper()} ON user_task {referencing} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION element_stat_{op_name}()"
        )


def upgrade() -> None:
    sum_type = sa.Float().with_variant(sa.Numeric(asdecimal=False), "postgresql")
    op.create_table(
        "element_stat",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("definition_id", sa.String(128), nullable=False),
        sa.Column("element_id", sa.String(128), nullable=False),
        sa.Column("waiting_instances", sa.Integer(), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.Column("unended_tasks", sa.Integer(), nullable=False),
        sa.Column("unended_created_sum", sum_type, nullable=False),
        sa.Column("ended_minutes", sum_type, nullable=False),
    )
    op.create_index("ix_element_stat_definition_element", "element_stat", ["definition_id", "element_id"])
    if op.get_bind().dialect.name == "postgresql":
        _create_postgres_triggers()
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)

    from engine.element_stats import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for op_name in PG_CHANGES:
        op.execute(
            f"DROP TRIGGER element_stat_{op_name} ON user_task"
            if postgres
            else f"DROP TRIGGER element_stat_{op_name}"
        )
        if postgres:
            op.execute(f"DROP FUNCTION element_stat_{op_name}()")
    op.drop_index("ix_element_stat_definition_element", table_name="element_stat")
    op.drop_table("element_stat")
