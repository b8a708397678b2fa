"""Copy a PostgreSQL schema (tables, rows, sequences, constraints, indexes, functions, triggers).

The suite gives every test its own schema. Running the Alembic migrations (and the demo seed)
into each costs seconds; copying a template schema built once per worker process costs a
fraction of that. The copy keeps every name (constraints and indexes are re-created from
their definitions, not renamed by CREATE TABLE ... LIKE), so the product sees the same schema.

Creating the ~350 tables, indexes and sequences is most of a copy's cost, so a schema that
already has the source's tables (a copy of the migrated template nothing has written to) takes
only the source's rows (`rows_into`): the seeded desk then costs one copy, not two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from graphlib import TopologicalSorter

from sqlalchemy import Connection, text

NEXTVAL = re.compile(r"nextval\('([^']+)'::regclass\)")


@dataclass(frozen=True)
class SchemaCopy:
    """The statements that recreate one schema's contents, read once from the catalogs."""

    source: str
    statements: tuple[str, ...]
    rows: tuple[str, ...]

    def into(self, conn: Connection, target: str) -> None:
        """Create schema `target` as a copy of the source (in the caller's transaction)."""
        conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{target}"')
        conn.exec_driver_sql(f'SET LOCAL search_path TO "{target}"')
        conn.exec_driver_sql(";\n".join(self.statements))

    def rows_into(self, conn: Connection, target: str) -> None:
        """Replace every row of `target`, which has the source's tables, by the source's rows, and
        set its sequences as the source's (in the caller's transaction). Triggers do not fire: the
        rows they would keep (counters) are copied with the rest."""
        conn.exec_driver_sql(f'SET LOCAL search_path TO "{target}"')
        conn.exec_driver_sql(";\n".join(self.rows))


def read_schema(conn: Connection, source: str) -> SchemaCopy:
    """Read what `into` needs from the catalogs of schema `source` (rendered unqualified)."""
    conn.exec_driver_sql(f'SET search_path TO "{source}"')
    q = f'"{source}"'
    tables = list(
        conn.scalars(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND c.relkind = 'r' ORDER BY c.relname"
            ),
            {"s": source},
        )
    )
    sequences = list(
        conn.execute(
            text("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = :s ORDER BY 1"),
            {"s": source},
        )
    )
    # pg_catalog joined on the namespace, the LIKE applied here: information_schema.columns may
    # evaluate pg_get_expr on every schema's defaults, and so wait on another schema's DROP.
    defaults = [
        row
        for row in conn.execute(
            text(
                "SELECT c.relname, a.attname, pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d "
                "JOIN pg_class c ON c.oid = d.adrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
                "WHERE n.nspname = :s ORDER BY 1, 2"
            ),
            {"s": source},
        )
        if row[2].startswith("nextval(")
    ]
    constraints = list(
        conn.execute(
            text(
                "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid), k.contype "
                "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND k.contype IN ('p', 'u', 'f', 'x') "
                "ORDER BY k.contype = 'f', c.relname, k.conname"
            ),
            {"s": source},
        )
    )
    indexes = list(
        conn.scalars(
            text(
                "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid) "
                "ORDER BY 1"
            ),
            {"s": source},
        )
    )
    # Functions and the triggers that call them (migration 0020 keeps counters with them): created
    # after the rows are copied, so the copy does not fire them.
    functions = list(
        conn.scalars(
            text(
                "SELECT pg_get_functiondef(p.oid) FROM pg_proc p "
                "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = :s ORDER BY p.proname"
            ),
            {"s": source},
        )
    )
    triggers = list(
        conn.scalars(
            text(
                "SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND NOT t.tgisinternal "
                "ORDER BY t.tgname"
            ),
            {"s": source},
        )
    )
    references = list(
        conn.execute(
            text(
                "SELECT c.relname, r.relname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
                "JOIN pg_class r ON r.oid = k.confrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND k.contype = 'f'"
            ),
            {"s": source},
        )
    )
    triggered = sorted(
        conn.scalars(
            text(
                "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND NOT t.tgisinternal"
            ),
            {"s": source},
        )
    )
    conn.exec_driver_sql("RESET search_path")
    statements: list[str] = []
    for name, _last in sequences:
        statements.append(f'CREATE SEQUENCE "{name}"')
    for table in tables:
        # Columns, NOT NULL, CHECK constraints (by name) and plain defaults; keys and indexes below.
        statements.append(
            f'CREATE TABLE "{table}" (LIKE {q}."{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
            "INCLUDING GENERATED INCLUDING IDENTITY)"
        )
    for table, column, default in defaults:
        found = NEXTVAL.search(default)
        if found is None:
            continue
        sequence = found.group(1).strip('"')
        statements.append(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET DEFAULT {default}')
        statements.append(f'ALTER SEQUENCE "{sequence}" OWNED BY "{table}"."{column}"')
    for table in tables:
        statements.append(f'INSERT INTO "{table}" SELECT * FROM {q}."{table}"')
    for name, last in sequences:
        if last is not None:
            statements.append(f"SELECT setval('\"{name}\"', {int(last)}, true)")
    for table, name, definition, _kind in constraints:
        statements.append(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    for index in indexes:  # pg_get_indexdef names the table with its schema whatever the search_path
        statements.append(index.replace(f" ON {source}.", " ON ", 1).replace(f' ON "{source}".', " ON ", 1))
    for definition in functions + triggers:  # both name the source schema; the copy's objects are unqualified
        for qualified in (f"{source}.", f'"{source}".'):
            definition = definition.replace(f" {qualified}", " ")
        statements.append(definition)
    return SchemaCopy(
        source, tuple(statements), _rows_statements(source, tables, sequences, references, triggered)
    )


def _rows_statements(
    source: str,
    tables: list[str],
    sequences: list[tuple[str, int | None]],
    references: list[tuple[str, str]],
    triggered: list[str],
) -> tuple[str, ...]:
    """What `SchemaCopy.rows_into` runs: deletes from referencing tables first, inserts into
    referenced tables first (a table's references to itself are checked at the end of its one
    INSERT), user triggers off meanwhile."""
    graph = TopologicalSorter({table: set() for table in tables})
    for table, referenced in references:
        if table != referenced:
            graph.add(table, referenced)
    order = list(graph.static_order())
    rows = [f'ALTER TABLE "{table}" DISABLE TRIGGER USER' for table in triggered]
    rows += [f'DELETE FROM "{table}"' for table in reversed(order)]
    rows += [f'INSERT INTO "{table}" SELECT * FROM "{source}"."{table}"' for table in order]
    for name, last in sequences:
        if last is None:
            rows.append(f'ALTER SEQUENCE "{name}" RESTART')
        else:
            rows.append(f"SELECT setval('\"{name}\"', {int(last)}, true)")
    rows += [f'ALTER TABLE "{table}" ENABLE TRIGGER USER' for table in triggered]
    return tuple(rows)
