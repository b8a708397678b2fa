"""Reading Camunda's query parameters and JSON bodies; paging, sorting and counting queries."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, func, select

from engine.runtime import Engine
from engine.typed_values import parse_camunda_date
from web.engine_rest.blueprint import DEFAULT_MAX_RESULTS
from web.engine_rest.errors import RestError, bad_request
from web.input_limits import DEFAULT_MAX_CALL_BYTES, LONG_RANGE, InputError, parse_json


def db_sessions():
    return current_app.extensions["sessions"]


def engine_runtime() -> Engine:
    return current_app.extensions["runtime"]


def json_body() -> dict[str, Any]:
    """The JSON object sent, read strictly (web.input_limits): a 4xx naming the field otherwise."""
    limit = int(current_app.config.get("MAX_CALL_BYTES", DEFAULT_MAX_CALL_BYTES))
    if request.content_length is not None and request.content_length > limit:
        raise RestError(413, f"The request body is over {limit} bytes (MAX_CALL_BYTES).")
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    if len(raw) > limit:
        raise RestError(413, f"The request body is over {limit} bytes (MAX_CALL_BYTES).")
    try:
        data = parse_json(raw)
    except InputError as err:
        raise bad_request(f"The request body is refused: {err}") from None
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object.")
    return data


def date_arg(name: str) -> datetime | None:
    """A date query parameter (Camunda's format or ISO 8601); 400 naming it when unreadable."""
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return parse_camunda_date(raw)
    except ValueError:
        raise bad_request(
            f"Query parameter {name}={raw!r} is not a date like 2026-11-23T10:00:00.000+0000."
        ) from None


def flag(value: Any, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


def int_arg(name: str, default: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"Query parameter {name}={raw!r} is not a whole number.") from None
    if not LONG_RANGE[0] <= value <= LONG_RANGE[1]:
        raise bad_request(f"Query parameter {name}={raw!r} is beyond 64 bits.")
    return value


def int_field(body: Mapping[str, Any], name: str, default: int | None = None, minimum: int = 0) -> int:
    value = body.get(name)
    if value is None:
        value = default
    if value is None:
        raise bad_request(f"{name} is required.")
    if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer():
        raise bad_request(f"{name} must be a whole number, not {value!r}.")
    if not LONG_RANGE[0] <= value <= LONG_RANGE[1]:
        raise bad_request(f"{name} is beyond 64 bits.")
    if value < minimum:
        raise bad_request(f"{name} must be at least {minimum}, not {value}.")
    return int(value)


def paged(stmt: Select) -> Select:
    first = int_arg("firstResult", 0) or 0
    limit = int_arg("maxResults", DEFAULT_MAX_RESULTS)
    return stmt.offset(max(first, 0)).limit(max(limit if limit is not None else DEFAULT_MAX_RESULTS, 0))


def sorted_by(stmt: Select, columns: Mapping[str, Any], default: Any) -> Select:
    sort_by = request.args.get("sortBy")
    descending = request.args.get("sortOrder", "asc").lower() == "desc"
    if sort_by is not None and sort_by not in columns:
        raise bad_request(f"sortBy={sort_by!r} is not supported; use one of {', '.join(sorted(columns))}.")
    column = columns[sort_by] if sort_by else default
    return stmt.order_by(column.desc() if descending else column.asc())


def csv_arg(name: str) -> list[str] | None:
    raw = request.args.get(name)
    return [part for part in raw.split(",") if part] if raw else None


def self_link(endpoint: str, **values: Any) -> list[dict[str, str]]:
    return [{"method": "GET", "href": url_for(endpoint, _external=True, **values), "rel": "self"}]


def count_response(stmt: Select) -> ResponseReturnValue:
    with db_sessions()() as session:
        total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return jsonify({"count": total or 0})
