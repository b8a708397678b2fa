"""`import load`: copy an export file into the staging table, streaming, resumable.

Rows go in chunks, each chunk one transaction (COPY on PostgreSQL, executemany on
SQLite), always in file order, so what is staged is a prefix of the file: a
load that was killed resumes after the last staged line, and loading the same
file again (same SHA-256 and kind) stages nothing twice.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from desk.legacy.errors import UnreadableFileError
from desk.legacy.mapping import ALIASES, header_fields
from desk.legacy.parsing import FileFormat, SourceRow, detect_format, file_digest, read_rows
from desk.legacy.store import KINDS, LegacyFile, RowStatus, StagingRow

__all__ = ["LoadReport", "load_file"]

CHUNK_ROWS = 10_000
_COLUMNS = ("file_id", "kind", "source_line", "external_id", "raw", "problem", "status")
_PEEK_ROWS = 1000


@dataclass(frozen=True)
class LoadReport:
    """What a load did: the file's identity and format, and how many rows it staged now and in all."""

    file_id: int
    name: str
    format: FileFormat
    id_column: str
    staged_now: int
    staged_total: int
    seconds: float


def load_file(
    engine: Engine,
    path: Path,
    kind: str,
    *,
    now: datetime,
    format: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    id_column: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
) -> LoadReport:
    """Stage every row of `path` as `kind` with status NEW; returns what was staged."""
    if kind not in KINDS:
        raise UnreadableFileError(str(path), f"unknown kind {kind!r}; use one of {', '.join(KINDS)}.")
    started = time.perf_counter()
    fmt = detect_format(path, format=format, encoding=encoding, delimiter=delimiter)
    sha = file_digest(path)
    rows = read_rows(path, fmt)
    head = list(itertools.islice(rows, _PEEK_ROWS))
    column = _id_column(path, kind, head, id_column)
    with engine.begin() as conn:
        file_id, done = _file_row(conn, path, kind, sha, fmt, column, now)
        resume_after = conn.scalar(
            select(func.coalesce(func.max(StagingRow.source_line), 0)).where(StagingRow.file_id == file_id)
        )
    staged = 0
    if not done:
        pending = (r for r in itertools.chain(head, rows) if r.line > resume_after)
        for chunk in _chunks(pending, chunk_rows):
            records = [_record(file_id, kind, column, row) for row in chunk]
            with engine.begin() as conn:
                _write(conn, records)
                conn.execute(
                    update(LegacyFile)
                    .where(LegacyFile.id == file_id)
                    .values(rows=LegacyFile.rows + len(records))
                )
            staged += len(records)
            if progress is not None:
                progress(len(records))
        with engine.begin() as conn:
            conn.execute(update(LegacyFile).where(LegacyFile.id == file_id).values(complete=True))
    with engine.connect() as conn:
        total = conn.scalar(select(LegacyFile.rows).where(LegacyFile.id == file_id))
    return LoadReport(file_id, path.name, fmt, column, staged, total or 0, time.perf_counter() - started)


def _id_column(path: Path, kind: str, head: list[SourceRow], given: str | None) -> str:
    sample = next((r for r in head if r.problem is None), None)
    if sample is None:
        raise UnreadableFileError(
            str(path), f"none of the first {len(head)} rows could be read; check the format and encoding."
        )
    if given is not None:
        if given not in sample.values:
            raise UnreadableFileError(
                str(path), f"--id-column {given!r} is not a column (columns: {', '.join(sample.values)})."
            )
        return given
    for header, name in header_fields(sample.values, kind).items():
        if name == "external_id":
            return header
    raise UnreadableFileError(
        str(path),
        f"no external-id column: looked for {', '.join(ALIASES[kind]['external_id'])} among "
        f"{', '.join(sample.values)}; name it with --id-column.",
    )


def _file_row(
    conn: Connection, path: Path, kind: str, sha: str, fmt: FileFormat, column: str, now: datetime
) -> tuple[int, bool]:
    found = conn.execute(
        select(LegacyFile.id, LegacyFile.complete).where(LegacyFile.sha256 == sha, LegacyFile.kind == kind)
    ).first()
    if found is not None:
        return found.id, found.complete
    file_id = conn.execute(
        insert(LegacyFile)
        .values(
            kind=kind,
            name=path.name[:255],
            sha256=sha,
            format=fmt.format,
            encoding=fmt.encoding,
            delimiter=fmt.delimiter,
            id_column=column[:255],
            rows=0,
            complete=False,
            loaded_at=now,
        )
        .returning(LegacyFile.id)
    ).scalar_one()
    return file_id, False


def _record(file_id: int, kind: str, column: str, row: SourceRow) -> tuple:
    external = (row.values.get(column) or "").strip() or None
    problem = row.problem
    if external is not None and len(external) > 64 and problem is None:
        problem = f"external id {external[:70]!r}… is longer than 64 characters"
    raw = orjson.dumps(row.values).decode()
    return (file_id, kind, row.line, external[:64] if external else None, raw, problem, RowStatus.NEW.value)


def _chunks(rows: Iterator[SourceRow], size: int) -> Iterator[list[SourceRow]]:
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


def _write(conn: Connection, records: list[tuple]) -> None:
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.dbapi_connection.cursor()
        with cursor.copy(f"COPY legacy_staging ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
            for record in records:
                copy.write_row(record)
        return
    conn.execute(insert(StagingRow), [dict(zip(_COLUMNS, r, strict=True)) for r in records])
