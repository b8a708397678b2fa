"""Blueprints of the staff UI, and the small request-argument readers they share."""

from __future__ import annotations

from datetime import date

from flask import abort, request


def date_arg(name: str) -> date | None:
    """A `?name=2026-11-23` query argument as a date; empty is None, anything else a 400 naming it."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(400, f"'{name}' must be a date like 2026-11-23, not {raw!r}.")
