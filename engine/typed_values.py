"""Camunda's typed variables: {value, type, valueInfo} in, the same type back out.

Camunda keeps each variable's type beside its value: a `Date` sent by the Modeler's start
form comes back as a `Date`, a `Long` 5 as a `Long`, a `Json` as a JSON string. Python
values alone cannot say Long from Integer or Object from Json, so the few types that share
a Python type are small subclasses (`Long(int)`, `Short(int)`, `ObjectValue(dict)`): a
condition still sees an int, a datetime, a dict; the workflow state keeps the subclass
(engine.serialization registers them) and each save records a name -> type map beside the
instance's variables (`types_of`), so the REST layer can answer from the stored row.

Formats follow engine-rest's VariableValueDto and the REST reference's "Variables" page:
Date as `yyyy-MM-dd'T'HH:mm:ss.SSSZ`, Bytes as base64, Json as a string of JSON, Object
with `valueInfo.objectTypeName` and `serializationDataFormat` (only application/json).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

INT_RANGE = (-(2**31), 2**31 - 1)
LONG_RANGE = (-(2**63), 2**63 - 1)
SHORT_RANGE = (-(2**15), 2**15 - 1)
TYPE_NAMES = "String, Boolean, Integer, Short, Long, Double, Date, Json, Object (JSON), Bytes, Null"
JSON_FORMAT = "application/json"


class TypedValueError(ValueError):
    """A variable's value does not fit its declared Camunda type; the message names the variable."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(message)


class Long(int):
    """An int declared as Camunda `Long` (kept so it comes back as Long, not Integer)."""


class Short(int):
    """An int declared as Camunda `Short`."""


class ObjectValue(dict):
    """A dict sent as Camunda `Object` serialized as application/json, with its Java type name."""

    def __init__(self, value: Mapping[str, Any], object_type_name: str | None = None) -> None:
        super().__init__(value)
        self.object_type_name = object_type_name


def camunda_date(value: datetime) -> str:
    """Camunda's "yyyy-MM-dd'T'HH:mm:ss.SSSZ", in UTC: 2026-11-23T10:00:00.000+0000."""
    value = value.astimezone(UTC) if value.tzinfo else value
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def parse_camunda_date(text: str) -> datetime:
    """Camunda's date format, or any ISO 8601 moment; a moment without zone is UTC."""
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------- decoding


def _whole(value: Any, bounds: tuple[int, int]) -> int:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, str):
        value = int(value.strip())
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("it has a fractional part")
        value = int(value)
    if not isinstance(value, int):
        raise ValueError("it is not a number")
    if not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"it is outside {bounds[0]}..{bounds[1]}")
    return value


def _double(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("it is not a number")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError("it is not a finite number")
    return result


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError("it is not a string")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError("it is neither true nor false")


def _date(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("a date is written as a string like 2026-11-23T10:00:00.000+0300")
    try:
        return parse_camunda_date(value)
    except ValueError as err:
        raise ValueError("a date is written like 2026-11-23T10:00:00.000+0300") from err


def _json(value: Any) -> Any:
    if isinstance(value, dict | list):
        return value
    if not isinstance(value, str):
        raise ValueError("a Json value is a string holding JSON")
    return json.loads(value)


def _object(value: Any, info: Mapping[str, Any]) -> Any:
    data_format = info.get("serializationDataFormat")
    if data_format != JSON_FORMAT:
        raise ValueError(
            f"only Object values serialized as {JSON_FORMAT} are accepted, not {data_format!r}; "
            "send the value as type Json instead"
        )
    parsed = _json(value)
    if isinstance(parsed, dict):
        return ObjectValue(parsed, info.get("objectTypeName"))
    return parsed


def _bytes(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("Bytes are sent as a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as err:
        raise ValueError("it is not base64") from err


_DECODERS: dict[str, Callable[[Any, Mapping[str, Any]], Any]] = {
    "string": lambda v, _: _string(v),
    "boolean": lambda v, _: _boolean(v),
    "integer": lambda v, _: _whole(v, INT_RANGE),
    "short": lambda v, _: Short(_whole(v, SHORT_RANGE)),
    "long": lambda v, _: Long(_whole(v, LONG_RANGE)),
    "double": lambda v, _: _double(v),
    "date": lambda v, _: _date(v),
    "json": lambda v, _: _json(v),
    "object": _object,
    "bytes": lambda v, _: _bytes(v),
    "null": lambda v, _: None,
}


def decode(name: str, dto: Any) -> Any:
    """One `{value, type, valueInfo}` as the Python value the process works with.

    Without a type the value is taken as JSON gives it, as Camunda does for untyped values.
    """
    if not isinstance(dto, dict):
        raise TypedValueError(
            name, f'Variable {name!r} must be an object like {{"value": 1, "type": "Integer"}}.'
        )
    value, type_name = dto.get("value"), dto.get("type")
    if type_name in (None, ""):
        return value
    decoder = _DECODERS.get(str(type_name).lower())
    if decoder is None:
        raise TypedValueError(
            name, f"Variable {name!r} has unsupported type {type_name!r}; use one of {TYPE_NAMES}."
        )
    if value is None:
        return None
    try:
        return decoder(value, dto.get("valueInfo") or {})
    except (ValueError, TypeError) as err:
        raise TypedValueError(
            name, f"Cannot convert value {value!r} of type {type_name!r} for variable {name!r}: {err}."
        ) from err


# ---------------------------------------------------------------------------- the type a value has


def type_of(value: Any) -> dict[str, Any]:
    """The Camunda type (and valueInfo) of a Python value, as kept beside the instance's variables."""
    if value is None:
        return {"type": "Null"}
    if isinstance(value, bool):
        return {"type": "Boolean"}
    if isinstance(value, Long):
        return {"type": "Long"}
    if isinstance(value, Short):
        return {"type": "Short"}
    if isinstance(value, int):
        return {"type": "Integer" if INT_RANGE[0] <= value <= INT_RANGE[1] else "Long"}
    if isinstance(value, float):
        return {"type": "Double"}
    if isinstance(value, datetime):
        return {"type": "Date"}
    if isinstance(value, bytes | bytearray):
        return {"type": "Bytes"}
    if isinstance(value, ObjectValue):
        info = {"serializationDataFormat": JSON_FORMAT}
        if value.object_type_name:
            info["objectTypeName"] = value.object_type_name
        return {"type": "Object", "valueInfo": info}
    if isinstance(value, dict | list | tuple):
        return {"type": "Json"}
    return {"type": "String"}


_KEPT = ("Long", "Short", "Date", "Bytes", "Object")
_FITS: dict[str, Callable[[Any], bool]] = {
    "Long": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "Short": lambda v: (
        isinstance(v, int) and not isinstance(v, bool) and SHORT_RANGE[0] <= v <= SHORT_RANGE[1]
    ),
    "Object": lambda v: isinstance(v, dict),
}


def types_of(
    values: Mapping[str, Any], previous: Mapping[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """name -> type for every variable whose JSON form alone would not tell its type back.

    A variable keeps the type it was declared with while its value still fits it (a Long
    incremented by a script is a plain int, an Object copied between scopes a plain dict),
    as a Camunda variable keeps its type until it is set with another.
    """
    previous = previous or {}
    out = {}
    for name, value in values.items():
        kind = type_of(value)
        before = previous.get(name)
        if (
            before
            and before.get("type") in _FITS
            and _FITS[before["type"]](value)
            and kind["type"]
            in (
                "Integer",
                "Json",
            )
        ):
            kind = dict(before)
        if kind["type"] in _KEPT:
            out[name] = kind
    return out


def jsonable(value: Any) -> Any:
    """orjson's `default` for what it cannot write: bytes as base64, anything else as text."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


# ---------------------------------------------------------------------------- encoding


def encode(
    value: Any, declared: Mapping[str, Any] | None = None, *, serialized: bool = False
) -> dict[str, Any]:
    """A value as Camunda's typed value: the declared type when one was kept, else the value's own.

    `value` may be live (a datetime, bytes) or as stored in the variables column (an ISO
    string, base64); `serialized` asks for an Object's JSON text, as deserializeValues=false.
    """
    kind = dict(declared) if declared else type_of(value)
    type_name = kind["type"]
    info = dict(kind.get("valueInfo") or {})
    if value is None:
        return {"type": "Null", "value": None, "valueInfo": {}}
    if type_name == "Date":
        moment = value if isinstance(value, datetime) else parse_camunda_date(str(value))
        return {"type": "Date", "value": camunda_date(moment), "valueInfo": {}}
    if type_name == "Bytes":
        text = value if isinstance(value, str) else base64.b64encode(bytes(value)).decode("ascii")
        return {"type": "Bytes", "value": text, "valueInfo": {}}
    if type_name == "Json":
        return {"type": "Json", "value": json.dumps(value, ensure_ascii=False, default=str), "valueInfo": {}}
    if type_name == "Object":
        shown = json.dumps(value, ensure_ascii=False, default=str) if serialized else dict(value)
        return {"type": "Object", "value": shown, "valueInfo": info}
    return {"type": type_name, "value": value, "valueInfo": {}}
