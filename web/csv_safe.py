"""CSV cells that a spreadsheet opens as data, never as a formula, in Russian Excel too.

A cell starting with = + - @ (or a tab or carriage return) is a formula to Excel and
LibreOffice: a request subject `=HYPERLINK(...)` would run on the manager's machine. Such
cells get a leading apostrophe (OWASP's advice). Files start with a UTF-8 byte-order mark,
without which Russian Excel reads UTF-8 as Windows-1251.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value as a CSV cell: times in ISO 8601 with the reader's offset, None empty, formula-looking
    text defused."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        from web.i18n import local_iso

        return local_iso(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Any) -> list[Any]:
    return [safe_cell(v) for v in values]
