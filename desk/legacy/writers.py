"""Writing one batch of `import run`: upsert each kind's rows by external id, record every row's outcome.

`import run` (desk.legacy.runner) picks a batch and hands it here inside its
transaction: `Batch` holds the picked staging rows and what became of each, and
`WRITERS[kind]` maps and writes them. Bulk rows go by COPY on PostgreSQL and by
one executemany on SQLite; large `IN` lists go as one array (or JSON) parameter.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    Boolean,
    String,
    Table,
    any_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Row

from dbtypes import UtcDateTime
from desk import crm, report_store
from desk.legacy import mapping, premap
from desk.legacy.errors import RowError
from desk.legacy.mapping import ContactRef, MappingContext
from desk.legacy.store import LegacyFile, LegacyLink, RowStatus, StagingRow
from desk.models import Company, Contact, Deal, Request, deal_contact

__all__ = ["WRITERS", "Batch", "among", "file_level_problem"]

_REQUEST = Request.__table__
_CONTACT = Contact.__table__
_COMPANY = Company.__table__
_DEAL = Deal.__table__
_STAGING = StagingRow.__table__
_LINK = LegacyLink.__table__


def file_level_problem(row: Row, first_lines: Mapping[tuple[int, str], int]) -> str | None:
    """Why a staged row fails before mapping (unreadable, no external id, a repeated id), or None."""
    if row.problem:
        return row.problem
    if row.external_id is None:
        return f"external id is empty (column {row.id_column!r})"
    first = first_lines.get((row.file_id, row.external_id), row.source_line)
    if first != row.source_line:
        return f"duplicate external id {row.external_id!r}: line {first} of this file has it too"
    return None


class Batch:
    """One batch's picked rows and outcomes; the kind-specific writers fill `ok` and `failures`."""

    def __init__(
        self,
        conn: Connection,
        kind: str,
        rows: Sequence[Row],
        context: MappingContext,
        first_lines: Mapping[tuple[int, str], int],
        ahead: premap.Ahead | None = None,
    ) -> None:
        self.conn, self.kind, self.context = conn, kind, context
        self.ahead = ahead or premap.Ahead()
        self.ok: list[int] = []
        self.failures: list[dict[str, Any]] = []
        self.first_lines = first_lines  # (file, external id) -> first line, for repeated ids
        self.rows = rows

    def fail(self, row: Row, message: str) -> None:
        self.failures.append({"b_id": row.id, "b_message": message[:2000]})

    def fields(self) -> Iterable[tuple[Row, dict[str, str]]]:
        """Rows that passed the file-level checks, as field -> text; the others are failed here."""
        for row in self.candidates():
            yield row, premap.canonical_fields(row.raw, self.kind, row.id_column)

    def candidates(self) -> Iterable[Row]:
        """Rows that passed the file-level checks (readable, with a first-seen external id)."""
        for row in self.rows:
            problem = file_level_problem(row, self.first_lines)
            if problem is None:
                yield row
            else:
                self.fail(row, problem)

    def raw_of(self, rows: Iterable[Row]) -> dict[int, str]:
        """The raw JSON of `rows` (staging id -> text), read in one query when the pick left it out."""
        rows = list(rows)
        if not rows or "raw" in rows[0]._fields:
            return {row.id: row.raw for row in rows}
        return dict(
            self.conn.execute(
                select(StagingRow.id, StagingRow.raw).where(
                    among(self.conn, StagingRow.id, [r.id for r in rows])
                )
            ).all()
        )

    def finish(self) -> tuple[int, int]:
        """Record every row's outcome: failed ones with their message, then the rest as SUCCESS."""
        postgres = self.conn.dialect.name == "postgresql"
        if self.failures and postgres:
            # One statement, not one per failed row (an executemany of ~100 a batch).
            self.conn.exec_driver_sql(
                "UPDATE legacy_staging SET status = %s, message = failed.message "
                "FROM unnest(%s::integer[], %s::text[]) AS failed (id, message) "
                "WHERE legacy_staging.id = failed.id",
                (
                    RowStatus.FAILED.value,
                    [f["b_id"] for f in self.failures],
                    [f["b_message"] for f in self.failures],
                ),
            )
        elif self.failures:
            self.conn.execute(
                _STAGING.update()
                .where(_STAGING.c.id == bindparam("b_id"))
                .values(status=RowStatus.FAILED.value, message=bindparam("b_message")),
                self.failures,
            )
        if self.ok and postgres:
            # Every picked row either failed or succeeded, and the batch's lock keeps other writers
            # out of legacy_staging, so the rows still NEW between the first and the last picked id
            # are exactly the succeeded ones: a range of the pick's index instead of an array of
            # 5,000 ids, which psycopg dumps element by element in Python.
            done = self.conn.execute(
                update(StagingRow)
                .where(
                    StagingRow.kind == self.kind,
                    StagingRow.status == RowStatus.NEW.value,
                    StagingRow.id.between(self.rows[0].id, self.rows[-1].id),
                )
                .values(status=RowStatus.SUCCESS.value, message=None)
            ).rowcount
            if done != len(self.ok):
                raise RuntimeError(f"batch marked {done} staging rows done, expected {len(self.ok)}")
        elif self.ok:
            self.conn.execute(
                update(StagingRow)
                .where(among(self.conn, StagingRow.id, self.ok))
                .values(status=RowStatus.SUCCESS.value, message=None)
            )
        return len(self.ok), len(self.failures)


def among(conn: Connection, column: Any, values: Iterable[Any]) -> Any:
    """`column IN values` for thousands of values: one array parameter, whatever their number.

    An expanded IN list costs a bind parameter per value to compile and to
    send, and gives a new statement text for every list length: SQLite's
    driver keeps up to 128 prepared statements, and at thousands of
    parameters each, that cache alone grew a 290,000-row run by ~85 MB. So
    PostgreSQL gets `= ANY(array)`, SQLite `IN (SELECT value FROM json_each(?))`.
    """
    values = list(values)
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    listed = func.json_each(bindparam(None, orjson.dumps(values).decode(), type_=String))
    return column.in_(select(literal_column("value")).select_from(listed))


class _Ids:
    """Explicit ids for new rows: the table's maximum plus one, inside the batch's lock (deterministic)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.next: dict[str, int] = {}

    def take(self, table: Table) -> int:
        name = table.name
        if name not in self.next:
            self.next[name] = (self.conn.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1
        value = self.next[name]
        self.next[name] = value + 1
        return value

    def sync_sequences(self) -> None:
        """Move PostgreSQL sequences past the ids used, so live inserts continue after them."""
        if self.conn.dialect.name != "postgresql":
            return
        for name, following in self.next.items():
            sequence = f"pg_get_serial_sequence('{name}', 'id')"
            self.conn.exec_driver_sql(
                f"SELECT setval({sequence}, GREATEST({following - 1}, "
                f"COALESCE(pg_sequence_last_value({sequence}::regclass), 0)))"
            )


class _Links:
    """legacy_link rows of one kind: which real row an external id became and the digest written."""

    def __init__(self, conn: Connection, kind: str, external_ids: Iterable[str]) -> None:
        self.conn, self.kind = conn, kind
        ids = set(external_ids)
        self.known: dict[str, tuple[int, str]] = {}
        if ids:
            for external_id, target, digest in conn.execute(
                select(LegacyLink.external_id, LegacyLink.target_id, LegacyLink.digest).where(
                    LegacyLink.kind == kind, among(conn, LegacyLink.external_id, ids)
                )
            ):
                self.known[external_id] = (target, digest)
        self.new: list[dict[str, Any]] = []
        self.changed: list[dict[str, Any]] = []

    def record(self, external_id: str, target: int, digest: str) -> None:
        if external_id in self.known:
            self.changed.append({"b_id": external_id, "b_target": target, "b_digest": digest})
        else:
            self.new.append(
                {"kind": self.kind, "external_id": external_id, "target_id": target, "digest": digest}
            )
        self.known[external_id] = (target, digest)

    def targets(self) -> dict[str, int]:
        return {external_id: target for external_id, (target, _digest) in self.known.items()}

    def write(self) -> None:
        _bulk_insert(self.conn, _LINK, self.new)
        if self.changed:
            self.conn.execute(
                _LINK.update()
                .where(_LINK.c.kind == self.kind, _LINK.c.external_id == bindparam("b_id"))
                .values(target_id=bindparam("b_target"), digest=bindparam("b_digest")),
                self.changed,
            )


def _bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows fast: COPY on PostgreSQL, one executemany on SQLite.

    Values still pass through each column type's own bind processor (JSON; UTC
    datetimes on SQLite), so the rows read back exactly as ORM-written ones; what
    is skipped is SQLAlchemy's per-parameter bookkeeping, most of a batch's
    cost at 30 columns a row. Every row has the first row's keys, in its order.
    """
    if not rows:
        return
    keys = list(rows[0])
    dialect = conn.dialect
    processors = [table.c[k].type.dialect_impl(dialect).bind_processor(dialect) for k in keys]
    if dialect.name == "postgresql":
        _copy_rows(conn, table, keys, processors, rows)
        return
    pairs = list(zip(keys, processors, strict=True))
    compiled = insert(table).compile(dialect=dialect, column_keys=keys)
    order = [keys.index(name) for name in compiled.positiontup]
    values = ([p(row[k]) if p else row[k] for k, p in pairs] for row in rows)
    conn.exec_driver_sql(str(compiled), [tuple(v[i] for i in order) for v in values])


def _copy_rows(
    conn: Connection, table: Table, keys: list[str], processors: list[Any], rows: list[dict[str, Any]]
) -> None:
    """COPY `rows` into `table` (PostgreSQL). Aware datetimes and booleans go as they are: a
    timestamptz column stores the instant, so the UTC conversion the type makes for SQLite changes
    nothing stored, and the boolean processor only checks and coerces what PostgreSQL's boolean
    input takes anyway (together a third of the writer's per-cell work on a request row)."""
    convert = [
        (i, p)
        for i, (k, p) in enumerate(zip(keys, processors, strict=True))
        if p is not None and not isinstance(table.c[k].type, UtcDateTime | Boolean)
    ]
    cells = operator.itemgetter(*keys) if len(keys) > 1 else (lambda row: (row[keys[0]],))
    cursor = conn.connection.dbapi_connection.cursor()
    with cursor.copy(f"COPY {table.name} ({', '.join(keys)}) FROM STDIN") as copy:
        write = copy.write_row
        for row in rows:
            values = cells(row)
            if convert:
                values = list(values)
                for i, process in convert:
                    values[i] = process(values[i])
            write(values)


def _upsert(conn: Connection, table: Table, inserts: list[dict], updates: list[dict]) -> None:
    _bulk_insert(conn, table, inserts)
    if updates:
        columns = [c for c in updates[0] if c != "id"]
        conn.execute(
            table.update()
            .where(table.c.id == bindparam("b_id"))
            .values({c: bindparam(f"b_{c}") for c in columns}),
            [{f"b_{k}": v for k, v in u.items()} for u in updates],
        )


class _Contacts:
    """Finds or creates the contacts (and their companies) requests and contact rows refer to."""

    def __init__(self, conn: Connection, ids: _Ids) -> None:
        self.conn, self.ids = conn, ids
        self.by_email: dict[str, int] = {}
        self.by_phone: dict[str, int] = {}
        self.companies: dict[str, int] = {}
        self.new_contacts: list[dict[str, Any]] = []
        self.new_companies: list[dict[str, Any]] = []

    def preload(self, refs: Iterable[ContactRef]) -> None:
        refs = list(refs)
        emails = {ref.email for ref in refs if ref.email}
        phones = {ref.phone for ref in refs if ref.phone}
        names = {ref.company for ref in refs if ref.company}
        self._known(_CONTACT.c.email, emails, self.by_email)
        self._known(_CONTACT.c.phone_e164, phones, self.by_phone)
        if names:
            for cid, name in self.conn.execute(
                select(_COMPANY.c.id, _COMPANY.c.name)
                .where(among(self.conn, _COMPANY.c.name, names))
                .order_by(_COMPANY.c.id)
            ):
                self.companies.setdefault(name, cid)

    def _known(self, column, values: set[str], into: dict[str, int]) -> None:
        if values:
            for cid, value in self.conn.execute(
                select(_CONTACT.c.id, column).where(among(self.conn, column, values)).order_by(_CONTACT.c.id)
            ):
                into.setdefault(value, cid)

    def company(self, name: str) -> int | None:
        if not name:
            return None
        if name not in self.companies:
            company_id = self.ids.take(_COMPANY)
            self.new_companies.append({"id": company_id, "name": name[:255], "inn": None})
            self.companies[name] = company_id
        return self.companies[name]

    def find(self, email: str | None, phone: str | None) -> int | None:
        return (self.by_email.get(email) if email else None) or (self.by_phone.get(phone) if phone else None)

    def contact(self, ref: ContactRef, created: datetime) -> int:
        found = self.find(ref.email, ref.phone)
        if found is not None:
            return found
        contact_id = self.ids.take(_CONTACT)
        self.new_contacts.append(
            {
                "id": contact_id,
                "name": (ref.name or ref.email or ref.phone or "")[:255],
                "email": ref.email,
                "phones": [ref.phone] if ref.phone else [],
                "phone_e164": ref.phone,
                "responsible": None,
                "company_id": self.company(ref.company),
                "created_at": created,
                "updated_at": created,
            }
        )
        self.remember(contact_id, ref.email, ref.phone)
        return contact_id

    def remember(self, contact_id: int, email: str | None, phone: str | None) -> None:
        if email:
            self.by_email.setdefault(email, contact_id)
        if phone:
            self.by_phone.setdefault(phone, contact_id)

    def write(self) -> None:
        _bulk_insert(self.conn, _COMPANY, self.new_companies)
        _bulk_insert(self.conn, _CONTACT, self.new_contacts)


def _requests(batch: Batch) -> None:
    mapped: list[tuple[Row, mapping.MappedRequest]] = []
    candidates = list(batch.candidates())
    ahead = batch.ahead.outcomes
    raw = batch.raw_of(row for row in candidates if row.id not in ahead)
    for row in candidates:
        outcome = ahead.get(row.id) or premap.map_raw_request(raw[row.id], row.id_column, batch.context)
        if isinstance(outcome, RowError):
            batch.fail(row, str(outcome))
        else:
            mapped.append((row, outcome))
    conn = batch.conn
    ids = _Ids(conn)
    contacts = _Contacts(conn, ids)
    contacts.preload(m.contact for _, m in mapped if m.contact is not None)
    external = [row.external_id for row, _ in mapped]
    existing = dict(
        conn.execute(
            select(_REQUEST.c.external_id, _REQUEST.c.id).where(among(conn, _REQUEST.c.external_id, external))
        ).all()
        if external
        else []
    )
    links = _Links(conn, "requests", external)
    inserts: list[dict[str, Any]] = []
    inserted: list[int] = []
    updates: list[dict[str, Any]] = []
    for row, item in mapped:
        values = item.values  # the mapped row is this batch's own: extended in place, not copied
        values["external_id"] = row.external_id
        values["contact_id"] = (
            contacts.contact(item.contact, values["created_at"]) if item.contact is not None else None
        )
        digest = mapping.digest(values)
        target = existing.get(row.external_id)
        if target is None:
            target = ids.take(_REQUEST)
            values.update(
                id=target,
                number=crm.request_number(target),
                classify_score=None,
                escalated=False,
                instance_id=None,
                linked_to_id=None,
                version=1,
            )
            inserts.append(values)
            inserted.append(row.id)
            links.record(row.external_id, target, digest)
        elif links.known.get(row.external_id, (None, None))[1] != digest:
            values["id"] = target
            updates.append(values)
            links.record(row.external_id, target, digest)
        batch.ok.append(row.id)
    contacts.write()
    before = report_store.fact_rows(conn, [u["id"] for u in updates]) if updates else {}
    _upsert(conn, _REQUEST, inserts, [])
    if updates:
        conn.execute(
            _REQUEST.update()
            .where(_REQUEST.c.id == bindparam("b_id"))
            .values(
                {c: bindparam(f"b_{c}") for c in updates[0] if c != "id"}
                | {"version": _REQUEST.c.version + 1}
            ),
            [{f"b_{k}": v for k, v in u.items()} for u in updates],
        )
    links.write()
    ids.sync_sequences()
    # The reports' daily counters: as the worker summed them when just its rows went in as new.
    if not updates and batch.ahead.mapped == tuple(inserted):
        report_store.write(conn, batch.ahead.counters)
    else:
        report_store.replace(conn, before, inserts + updates)


def _companies(batch: Batch) -> None:
    _simple(batch, _COMPANY, lambda values, _ids: mapping.map_company(values))


def _simple(batch: Batch, table: Table, build: Callable[[dict[str, str], _Ids], dict[str, Any]]) -> None:
    """Companies and deals: map, then insert or update by the link of their external id."""
    rows = list(batch.fields())
    ids = _Ids(batch.conn)
    links = _Links(batch.conn, batch.kind, (row.external_id for row, _ in rows))
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for row, fields in rows:
        try:
            values = build(fields, ids)
        except RowError as err:
            batch.fail(row, str(err))
            continue
        digest = mapping.digest(values)
        known = links.known.get(row.external_id)
        if known is None:
            target = ids.take(table)
            inserts.append(values | {"id": target})
            links.record(row.external_id, target, digest)
        elif known[1] != digest:
            updates.append(values | {"id": known[0]})
            links.record(row.external_id, known[0], digest)
        batch.ok.append(row.id)
    _upsert(
        batch.conn,
        table,
        [_own_columns(table, v) for v in inserts],
        [_own_columns(table, v) for v in updates],
    )
    if table is _DEAL:
        _deal_contacts(batch.conn, inserts + updates)
    links.write()
    ids.sync_sequences()


def _own_columns(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k in table.c}


def _deals(batch: Batch) -> None:
    contact_links: dict[str, int] = {}

    def build(fields: dict[str, str], _ids: _Ids) -> dict[str, Any]:
        values = mapping.map_deal(fields, batch.context)
        wanted = [c for c in values["contacts"] if c not in contact_links]
        if wanted:
            contact_links.update(_Links(batch.conn, "contacts", wanted).targets())
        missing = [c for c in values["contacts"] if c not in contact_links]
        if missing:
            raise RowError(
                "contacts",
                f"contact(s) {', '.join(missing)} are not imported; load and run the contacts file first",
            )
        if values["updated_at"] is None:
            raise RowError("updated_at", "updated date is empty; deals need it to order owner changes")
        values["contact_ids"] = sorted({contact_links[c] for c in values.pop("contacts")})
        return values

    _simple(batch, _DEAL, build)


def _deal_contacts(conn: Connection, deals: list[dict[str, Any]]) -> None:
    if not deals:
        return
    conn.execute(delete(deal_contact).where(among(conn, deal_contact.c.deal_id, [d["id"] for d in deals])))
    pairs = [{"deal_id": d["id"], "contact_id": c} for d in deals for c in d["contact_ids"]]
    if pairs:
        conn.execute(insert(deal_contact), pairs)


def _contacts(batch: Batch) -> None:
    """Contact rows: upsert by external id; a new one matching a contact by e-mail or phone merges."""
    rows: list[tuple[Row, dict[str, Any]]] = []
    for row, fields in batch.fields():
        try:
            rows.append((row, mapping.map_contact(fields, batch.context)))
        except RowError as err:
            batch.fail(row, str(err))
    conn = batch.conn
    ids = _Ids(conn)
    contacts = _Contacts(conn, ids)
    contacts.preload(ContactRef(v["name"], v["email"], v["phone_e164"], "") for _, v in rows)
    links = _Links(conn, "contacts", (row.external_id for row, _ in rows))
    company_links = _Links(conn, "companies", {v["company"] for _, v in rows if v["company"]}).targets()
    by_name = {v["company"] for _, v in rows if v["company"] and v["company"] not in company_links}
    contacts.preload(ContactRef("", None, None, name) for name in by_name)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for row, values in rows:
        company = values.pop("company")
        values["company_id"] = company_links.get(company) or contacts.company(company)
        digest = mapping.digest(values)
        known = links.known.get(row.external_id)
        target = known[0] if known else contacts.find(values["email"], values["phone_e164"])
        if target is None:
            target = ids.take(_CONTACT)
            created = values["created_at"] or _file_loaded(conn, row.file_id)
            inserts.append(values | {"id": target, "created_at": created, "updated_at": created})
            contacts.remember(target, values["email"], values["phone_e164"])
            links.record(row.external_id, target, digest)
        elif known is None or known[1] != digest:
            values.pop("created_at")
            updates.append(values | {"id": target})
            links.record(row.external_id, target, digest)
        batch.ok.append(row.id)
    contacts.write()
    _upsert(conn, _CONTACT, inserts, updates)
    links.write()
    ids.sync_sequences()


def _file_loaded(conn: Connection, file_id: int) -> datetime:
    return conn.scalar(select(LegacyFile.loaded_at).where(LegacyFile.id == file_id))


WRITERS: dict[str, Callable[[Batch], None]] = {
    "companies": _companies,
    "contacts": _contacts,
    "deals": _deals,
    "requests": _requests,
}
