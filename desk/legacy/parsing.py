"""Reading export files as a stream of rows: CSV (UTF-8 or cp1251, `;` or `,`) or JSON Lines.

Old systems export in whatever their locale had: Excel's cp1251 with `;`, a web
tool's UTF-8 with `,`, or one JSON object per line. The format, encoding and
delimiter are detected from the file's start (or given), then the file is read
one physical line at a time, so memory stays flat however large the export is.
A line that does not decode in the file's encoding (an export that mixed two)
or a record with the wrong number of fields still becomes a row, carrying the
`problem`, so it is reported per line instead of stopping the load.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import orjson

from desk.legacy.errors import UnreadableFileError

__all__ = ["FileFormat", "SourceRow", "detect_format", "file_digest", "read_rows"]

ENCODINGS = ("utf-8", "cp1251")
DELIMITERS = (";", ",", "\t")
SAMPLE_BYTES = 1 << 20
_BOM = codecs.BOM_UTF8


@dataclass(frozen=True)
class FileFormat:
    """How to read a file: `csv` with an encoding and delimiter, or `jsonl` (always UTF-8)."""

    format: str
    encoding: str
    delimiter: str | None = None


@dataclass(frozen=True)
class SourceRow:
    """One record of the file: its first physical line, its values by column, what is wrong with it."""

    line: int
    values: dict[str, str]
    problem: str | None = None


def file_digest(path: Path) -> str:
    """SHA-256 of the file: loading the same export twice must find the rows it already staged."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def detect_format(
    path: Path, *, format: str | None = None, encoding: str | None = None, delimiter: str | None = None
) -> FileFormat:
    """Decide format, encoding and delimiter from the file's first megabyte (given values win).

    Encoding: lines with non-ASCII bytes vote for UTF-8 when they decode as
    UTF-8, otherwise for cp1251, so a few broken lines in a UTF-8 export do not
    flip the whole file. Delimiter: the one of `;`, `,` and tab that occurs most
    in the header line.
    """
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    if not sample.strip():
        raise UnreadableFileError(str(path), "the file is empty; export the data again.")
    fmt = format or ("jsonl" if sample.lstrip(_BOM + b" \t\r\n").startswith(b"{") else "csv")
    if fmt not in ("csv", "jsonl"):
        raise UnreadableFileError(str(path), f"unknown format {fmt!r}; use csv or jsonl.")
    if fmt == "jsonl":
        return FileFormat("jsonl", _check_encoding(path, encoding or "utf-8"))
    enc = _check_encoding(path, encoding or _vote_encoding(sample))
    if delimiter is not None and delimiter not in DELIMITERS:
        raise UnreadableFileError(
            str(path), f"delimiter {delimiter!r} is not supported; use ';', ',' or a tab."
        )
    header = sample.split(b"\n", 1)[0].decode(enc, errors="replace")
    found = delimiter or max(DELIMITERS, key=header.count)
    if found not in header:
        raise UnreadableFileError(
            str(path), "the first line has no ';', ',' or tab; the file needs a header row of column names."
        )
    return FileFormat("csv", enc, found)


def _vote_encoding(sample: bytes) -> str:
    if sample.startswith(_BOM):
        return "utf-8"
    utf8 = other = 0
    for line in sample.splitlines()[:-1] or sample.splitlines():
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8 += 1
        except UnicodeDecodeError:
            other += 1
    return "utf-8" if utf8 >= other else "cp1251"


def _check_encoding(path: Path, encoding: str) -> str:
    name = codecs.lookup(encoding).name if _known(encoding) else None
    if name not in ("utf-8", "cp1251"):
        raise UnreadableFileError(str(path), f"encoding {encoding!r} is not supported; use utf-8 or cp1251.")
    return name


def _known(encoding: str) -> bool:
    try:
        codecs.lookup(encoding)
    except LookupError:
        return False
    return True


def read_rows(path: Path, fmt: FileFormat) -> Iterator[SourceRow]:
    """Yield the file's records in order; CSV values are keyed by the header's column names."""
    with path.open("rb") as handle:
        lines = _DecodedLines(handle, fmt.encoding)
        if fmt.format == "jsonl":
            yield from _jsonl_rows(lines)
        else:
            yield from _csv_rows(lines, fmt.delimiter or ";", path)


class _DecodedLines:
    """Physical lines decoded one by one, remembering which of them did not decode cleanly."""

    def __init__(self, handle: BinaryIO, encoding: str) -> None:
        self.handle, self.encoding = handle, encoding
        self.number = 0
        self.problems: dict[int, str] = {}

    def __iter__(self) -> Iterator[str]:
        for raw in self.handle:
            self.number += 1
            if self.number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            yield self._decode(raw)

    def _decode(self, raw: bytes) -> str:
        try:
            text = raw.decode(self.encoding)
        except UnicodeDecodeError as err:
            self.problems[self.number] = (
                f"line {self.number} is not valid {self.encoding.upper()} (byte 0x{raw[err.start]:02x} at "
                f"position {err.start}): the export mixes encodings; re-export this row"
            )
            return raw.decode(self.encoding, errors="replace")
        if self.encoding == "cp1251" and not raw.isascii() and _is_utf8(raw):
            self.problems[self.number] = (
                f"line {self.number} is UTF-8 inside a cp1251 file: the export mixes encodings; "
                f"re-export this row"
            )
            return raw.decode("utf-8")
        return text

    def take_problem(self, first: int, last: int) -> str | None:
        found = [self.problems.pop(n) for n in range(first, last + 1) if n in self.problems]
        return "; ".join(found) or None


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _csv_rows(lines: _DecodedLines, delimiter: str, path: Path) -> Iterator[SourceRow]:
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise UnreadableFileError(str(path), "the file has no header row.") from None
    if len(set(header)) != len(header):
        repeated = sorted({h for h in header if header.count(h) > 1})
        raise UnreadableFileError(
            str(path), f"the header repeats column(s) {', '.join(repeated)}; rename them."
        )
    lines.take_problem(1, reader.line_num)
    last = reader.line_num
    for record in reader:
        first, last = last + 1, reader.line_num
        if not any(field.strip() for field in record):
            lines.take_problem(first, last)
            continue
        problem = lines.take_problem(first, last)
        if len(record) != len(header) and problem is None:
            problem = f"line {first} has {len(record)} fields, the header has {len(header)}"
        yield SourceRow(first, dict(zip(header, record, strict=False)), problem)


def _jsonl_rows(lines: Iterable[str]) -> Iterator[SourceRow]:
    assert isinstance(lines, _DecodedLines)
    for text in lines:
        number = lines.number
        if not text.strip():
            continue
        problem = lines.take_problem(number, number)
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as err:
            yield SourceRow(
                number, {"_line": text.strip()[:2000]}, problem or f"line {number} is not JSON: {err}"
            )
            continue
        if not isinstance(data, dict):
            yield SourceRow(
                number, {"_line": text.strip()[:2000]}, problem or f"line {number} is not a JSON object"
            )
            continue
        values = {
            str(k): "" if v is None else (v if isinstance(v, str) else _json_text(v)) for k, v in data.items()
        }
        yield SourceRow(number, values, problem)


def _json_text(value: object) -> str:
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value) if not isinstance(value, bool) else ("true" if value else "false")
