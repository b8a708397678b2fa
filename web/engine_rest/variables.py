"""Camunda's typed values (`{value, type, valueInfo}`) and its date format at the REST door.

The conversion rules live in engine.typed_values (the CLI and the engine use them too);
this module only turns a bad value into Camunda's 400 and reads `deserializeValues`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from flask import current_app, request

from engine import typed_values
from web.engine_rest.errors import RestError, bad_request
from web.engine_rest.params import flag
from web.input_limits import DEFAULT_MAX_VARIABLE_BYTES, value_size


def camunda_date(value: datetime | None) -> str | None:
    """Camunda's "yyyy-MM-dd'T'HH:mm:ss.SSSZ", always in UTC: 2026-11-23T10:00:00.000+0000."""
    return None if value is None else typed_values.camunda_date(value)


parse_camunda_date = typed_values.parse_camunda_date


def decode_variables(raw: Any, what: str = "variables") -> dict[str, Any]:
    """Camunda's `{name: {value, type, valueInfo}}` to Python values; 400 naming the variable otherwise."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise bad_request(f"{what} must be an object mapping names to {{value, type}}.")
    values = {str(name): decode_value(str(name), dto) for name, dto in raw.items()}
    limit = int(current_app.config.get("MAX_VARIABLE_BYTES", DEFAULT_MAX_VARIABLE_BYTES))
    for name, value in values.items():
        size = value_size(value)
        if size > limit:
            raise RestError(
                413, f"Variable {name!r} is {size} bytes, over the {limit}-byte limit (MAX_VARIABLE_BYTES)."
            )
    return values


def decode_value(name: str, dto: Any) -> Any:
    try:
        return typed_values.decode(name, dto)
    except typed_values.TypedValueError as err:
        raise bad_request(str(err)) from err


def _serialized() -> bool:
    """Camunda's `deserializeValues=false` asks for Object values as their JSON text."""
    return not flag(request.args.get("deserializeValues"), default=True)


def encode_value(value: Any, declared: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A value as Camunda's typed value: its declared type when the instance kept one."""
    return typed_values.encode(value, declared, serialized=_serialized())


def encode_variables(
    values: Mapping[str, Any], names: Iterable[str] | None = None, types: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    wanted = set(names) if names is not None else None
    types = types or {}
    return {k: encode_value(v, types.get(k)) for k, v in values.items() if wanted is None or k in wanted}
