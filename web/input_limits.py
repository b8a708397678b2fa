"""Bounds on what a client may send: JSON depth, non-finite numbers, lone surrogates, sizes.

Every door that reads JSON asks these, so bad input becomes a 4xx naming the field rather
than a 500 from deep inside (a RecursionError, PostgreSQL refusing a lone surrogate, an
integer beyond 64 bits, a NaN stored as a variable).
"""

from __future__ import annotations

import json
from typing import Any

from engine.typed_values import LONG_RANGE

MAX_JSON_DEPTH = 32
DEFAULT_MAX_VARIABLE_BYTES = 1024 * 1024
DEFAULT_MAX_CALL_BYTES = 4 * 1024 * 1024


class InputError(ValueError):
    """Client input that cannot be accepted; `field` names where it is."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


def _no_constants(name: str) -> Any:
    raise InputError("(body)", f"{name} is not a number JSON allows; send a finite number or null")


def parse_json(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Strict JSON: no NaN/Infinity, integers within 64 bits, no lone surrogates, bounded depth."""
    try:
        value = json.loads(data, parse_constant=_no_constants)
    except RecursionError:
        raise InputError("(body)", f"is nested deeper than {max_depth} levels") from None
    except UnicodeDecodeError:
        raise InputError("(body)", "is not UTF-8") from None
    except InputError:
        raise
    except ValueError as err:
        raise InputError("(body)", f"is not valid JSON ({err})") from None
    check_value(value, "(body)", max_depth)
    return value


def parse_json_body(raw: bytes, max_bytes: int = DEFAULT_MAX_CALL_BYTES) -> Any:
    """A request body read as parse_json reads it, refused past `max_bytes` (the /api/* doors)."""
    if len(raw) > max_bytes:
        raise InputError("(body)", f"is over {max_bytes} bytes")
    return parse_json(raw)


def check_value(value: Any, where: str, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Walk a parsed value; InputError naming the first path that breaks a bound."""
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > max_depth:
            raise InputError(path, f"is nested deeper than {max_depth} levels")
        if isinstance(item, str):
            check_text(item, path)
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if not LONG_RANGE[0] <= item <= LONG_RANGE[1]:
                raise InputError(path, "is a whole number beyond 64 bits")
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                raise InputError(path, "is not a finite number")
        elif isinstance(item, dict):
            for key, child in item.items():
                check_text(str(key), path)
                stack.append((child, f"{path}.{key}" if path != "(body)" else str(key), depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))


def check_text(text: str, where: str) -> str:
    """Text that can be stored: no lone UTF-16 surrogates (PostgreSQL refuses them)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(where, "contains a lone surrogate, which is not valid Unicode text") from None
    return text


def parse_id(raw: str) -> int | None:
    """A numeric id from a URL, or None when it cannot name a row (not ASCII digits, beyond 64 bits)."""
    if not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value if value <= LONG_RANGE[1] else None


def value_size(value: Any) -> int:
    """Bytes a variable takes as stored JSON."""
    return len(json.dumps(value, ensure_ascii=False, default=str).encode("utf-8"))
