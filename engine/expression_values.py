"""What an expression's code calls at run time: Camunda's value semantics and the functions.

The sandbox (engine.expressions) rewrites attribute and item access, arithmetic, comparisons and
calls into calls of the helpers here, so EL's coercions ("1500" > 1000), null-safe map reads and
the size limits hold whatever the diagram wrote; `Functions` is the whitelist of what an
expression may call, checked at deploy and honoured when it runs.
"""

from __future__ import annotations

import keyword
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from datetime import date, time, timedelta
from typing import Any

from engine.execution_view import EXECUTION_METHODS, current_user, now
from engine.expression_errors import ExpressionFunctionError
from engine.juel import LITERAL_NAMES

#: Longest expression text accepted. With the size limits below it bounds what one
#: expression can allocate (a few tens of MB in the worst case).
MAX_SOURCE_LENGTH = 4000
#: Longest text a repetition (`'-' * 40`) may build.
MAX_REPEAT_LENGTH = 100_000
#: Longest text or list a concatenation or replace() may build.
MAX_TEXT_LENGTH = 1_000_000
#: Largest integer exponent, and largest integer (in bits) `**` and `*` may build.
MAX_EXPONENT = 1000
MAX_INT_BITS = 100_000

FUNCTION_PREFIX = "_fn_"


class Refused(Exception):
    """Raised inside the sandbox; Expression.evaluate turns it into ExpressionEvaluationError."""


def is_empty(value: Any) -> bool:
    """JUEL's `empty`: null, "" and empty lists, maps and sets are empty; 0 and false are not."""
    return value is None or (isinstance(value, Sized) and len(value) == 0)


def contains(container: Any, item: Any) -> bool:
    """`contains(subject, 'VPN')`: substring, list member or map key; null contains nothing."""
    return container is not None and item in container


def to_boolean(value: Any) -> bool:
    """EL's coercion to Boolean, so a form's "false" string does not pass a condition."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def to_text(value: Any) -> str:
    """EL's coercion to String, used when a value lands inside a text template."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


_TEMPORAL_FIELDS = frozenset(
    {"year", "month", "day", "hour", "minute", "second", "microsecond", "days", "seconds"}
)


def _attr(obj: Any, name: str) -> Any:
    """`x.y`: a map's key (null when absent, as in JUEL), or a date/time field."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    if isinstance(obj, (date, time, timedelta)) and name in _TEMPORAL_FIELDS:
        return getattr(obj, name)
    raise Refused(f"cannot read field {name!r} of {_describe(obj)}; fields can be read from maps only")


def _item(obj: Any, key: Any) -> Any:
    """`x[k]`: map key or list index; missing keys and out-of-range indexes give null, as in JUEL."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    if isinstance(obj, Sequence):
        if isinstance(key, str) and key.lstrip("-").isdigit():
            key = int(key)
        if not isinstance(key, int):
            raise Refused(f"a list index must be a whole number, not {_describe(key)}")
        try:
            return obj[key]
        except IndexError:
            return None
    raise Refused(f"cannot index {_describe(obj)}")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_int_size(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise Refused(f"the result would exceed {MAX_INT_BITS} bits")
    return value


def multiply(left: Any, right: Any) -> Any:
    """`*` without memory bombs: text repetition is capped, list repetition refused."""
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, (list, tuple)):
            raise Refused("repeating lists with '*' is not allowed")
        if isinstance(seq, str) and isinstance(times, int):
            if len(seq) * times > MAX_REPEAT_LENGTH:
                raise Refused(f"the text would be longer than {MAX_REPEAT_LENGTH} characters")
    if (
        isinstance(left, int)
        and isinstance(right, int)
        and left.bit_length() + right.bit_length() > MAX_INT_BITS
    ):
        raise Refused(f"the result would exceed {MAX_INT_BITS} bits")
    return left * right


def power(base: Any, exponent: Any) -> Any:
    """`**` with a bounded result size."""
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1 and exponent > 0:
        if exponent > MAX_EXPONENT or base.bit_length() * exponent > MAX_INT_BITS:
            raise Refused(f"{base} ** {exponent} is too large")
    return base**exponent


def _mod(left: Any, right: Any) -> Any:
    """`%` / `mod` is arithmetic only: Python's text formatting can build huge strings."""
    if isinstance(left, (str, bytes)):
        raise Refused("'%' on text (printf-style formatting) is not allowed; join text with '+'")
    return left % right


def add(left: Any, right: Any) -> Any:
    """`+` with a cap on the length of text or lists it builds. A number meets text as a number
    (EL 1.7.1: `${i + 1}` with i the text "0" is 1, as a Camunda JUEL script's literal gives)."""
    if is_number(left) and isinstance(right, str):
        right = _number(right)
    elif isinstance(left, str) and is_number(right):
        left = _number(left)
    if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
        if len(left) + len(right) > MAX_TEXT_LENGTH:
            raise Refused(f"the result would be longer than {MAX_TEXT_LENGTH}")
    return left + right


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise Refused(f"cannot use the text {text!r} as a number") from None


def _coerce_pair(left: Any, right: Any) -> tuple[Any, Any]:
    """EL 1.8: a number meets a numeric string as a number; a boolean meets a string as a boolean."""
    if is_number(left) and isinstance(right, str):
        return left, _number(right)
    if isinstance(left, str) and is_number(right):
        return _number(left), right
    if isinstance(left, bool) and isinstance(right, str):
        return left, to_boolean(right)
    if isinstance(left, str) and isinstance(right, bool):
        return to_boolean(left), right
    return left, right


_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _compare(op: str, left: Any, right: Any) -> bool:
    """JUEL comparison: EL coercions, and ordering against null is false rather than an error."""
    left, right = _coerce_pair(left, right)
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        return bool(_ORDERING[op](left, right))
    except TypeError:
        raise Refused(f"cannot compare {_describe(left)} {op} {_describe(right)}") from None


def _text(obj: Any, method: str) -> str:
    if not isinstance(obj, str):
        raise Refused(f".{method}() works on text, not on {_describe(obj)}")
    return obj


def _text_method(name: str, python_name: str) -> Callable[..., Any]:
    def call(obj: Any, *args: Any) -> Any:
        return getattr(_text(obj, name), python_name)(*args)

    return call


def _replace(obj: Any, old: str, new: str, *count: int) -> str:
    text = _text(obj, "replace")
    growth = len(new) - len(old)
    if growth > 0 and len(text) + text.count(old) * growth > MAX_TEXT_LENGTH:
        raise Refused(f"replace() would build text longer than {MAX_TEXT_LENGTH}")
    return text.replace(old, new, *count)


def _get(obj: Any, key: Any, default: Any = None) -> Any:
    value = _item(obj, key)
    return default if value is None else value


def _index_of(obj: Any, item: Any) -> int:
    if isinstance(obj, str):
        return obj.find(item)
    return obj.index(item) if item in obj else -1


def _mapping(obj: Any, method: str) -> Mapping[Any, Any]:
    if not isinstance(obj, Mapping):
        raise Refused(f".{method}() works on maps, not on {_describe(obj)}")
    return obj


def _spin_number(obj: Any) -> int | float:
    if is_number(obj):
        return obj
    if isinstance(obj, str):
        return _number(obj)
    raise Refused(f".numberValue() works on numbers, not on {_describe(obj)}")


def _spin_bool(obj: Any) -> bool:
    if isinstance(obj, (bool, str)):
        return to_boolean(obj)
    raise Refused(f".boolValue() works on booleans, not on {_describe(obj)}")


def _elements(obj: Any) -> list[Any]:
    if isinstance(obj, (str, Mapping)) or not isinstance(obj, Sequence):
        raise Refused(f".elements() works on lists, not on {_describe(obj)}")
    return list(obj)


#: Methods an expression may call, by the name analysts write (Java/JUEL or Python spelling).
#: The Spin JSON ones (prop, numberValue, ...) read JSON variables, which are plain dicts here.
METHODS: Mapping[str, Callable[..., Any]] = {
    "contains": contains,
    "containsKey": lambda obj, key: key in _mapping(obj, "containsKey"),
    "startsWith": _text_method("startsWith", "startswith"),
    "startswith": _text_method("startswith", "startswith"),
    "endsWith": _text_method("endsWith", "endswith"),
    "endswith": _text_method("endswith", "endswith"),
    "toLowerCase": _text_method("toLowerCase", "lower"),
    "lower": _text_method("lower", "lower"),
    "toUpperCase": _text_method("toUpperCase", "upper"),
    "upper": _text_method("upper", "upper"),
    "trim": _text_method("trim", "strip"),
    "strip": _text_method("strip", "strip"),
    "lstrip": _text_method("lstrip", "lstrip"),
    "rstrip": _text_method("rstrip", "rstrip"),
    "split": _text_method("split", "split"),
    "count": lambda obj, item: obj.count(item),
    "replace": _replace,
    "substring": lambda obj, start, end=None: _text(obj, "substring")[start:end],
    "indexOf": _index_of,
    "length": len,
    "size": len,
    "isEmpty": is_empty,
    "equals": lambda obj, other: obj == other,
    "equalsIgnoreCase": lambda obj, other: _text(obj, "equalsIgnoreCase").lower() == str(other).lower(),
    "toString": to_text,
    "get": _get,
    "keys": lambda obj: list(_mapping(obj, "keys").keys()),
    "values": lambda obj: list(_mapping(obj, "values").values()),
    "items": lambda obj: [list(pair) for pair in _mapping(obj, "items").items()],
    "prop": lambda obj, name: _mapping(obj, "prop").get(name),
    "hasProp": lambda obj, name: name in _mapping(obj, "hasProp"),
    "fieldNames": lambda obj: list(_mapping(obj, "fieldNames").keys()),
    "elements": _elements,
    "numberValue": _spin_number,
    "stringValue": lambda obj: _text(obj, "stringValue"),
    "boolValue": _spin_bool,
    "value": lambda obj: obj,
    "isNull": lambda obj: obj is None,
    **EXECUTION_METHODS,
}
_NULL_RECEIVERS = frozenset({"isNull", "isEmpty"})


def _method(obj: Any, name: str, *args: Any) -> Any:
    if obj is None and name not in _NULL_RECEIVERS:
        raise Refused(f"cannot call .{name}() on null")
    return METHODS[name](obj, *args)


def _round(number: Any, ndigits: int | None = None) -> Any:
    if ndigits is None:
        return round(number)
    if abs(ndigits) > 100:
        raise Refused("round() keeps at most 100 digits")
    return round(number, ndigits)


def _sum(values: Iterable[Any], start: Any = 0) -> Any:
    numbers = list(values)
    if not all(is_number(v) or isinstance(v, bool) for v in [start, *numbers]):
        raise Refused("sum() adds numbers only")
    return sum(numbers, start)


#: Functions every expression may call.
SAFE_FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "len": len,
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "min": min,
    "max": max,
    "abs": abs,
    "round": _round,
    "sum": _sum,
    "any": any,
    "all": all,
    "sorted": sorted,
    "is_empty": is_empty,
    "contains": contains,
    # Camunda's internal context functions (currentUserGroups needs the desk's groups: refused).
    "now": now,
    "currentUser": current_user,
}

_HELPERS: dict[str, Any] = {
    "_attr": _attr,
    "_item": _item,
    "_method": _method,
    "_mul": multiply,
    "_pow": power,
    "_mod": _mod,
    "_add": add,
    "_compare": _compare,
    "_bool": to_boolean,
}


class Functions:
    """The functions expressions may call: the safe built-ins plus any the engine adds.

    Built once per engine and passed to both compile and evaluate, so the whitelist
    checked at deploy is the one honoured at run time. Function names never collide
    with variables: `${max}` reads a variable, `${max(a, b)}` calls the function.
    """

    __slots__ = ("names", "namespace")

    def __init__(self, extra: Mapping[str, Callable[..., Any]] | None = None) -> None:
        table = dict(SAFE_FUNCTIONS)
        for name, func in (extra or {}).items():
            if not name.isidentifier() or keyword.iskeyword(name) or name in LITERAL_NAMES:
                raise ExpressionFunctionError(name, "it is not a plain identifier")
            if name.startswith("_"):
                raise ExpressionFunctionError(name, "names starting with '_' are reserved for the sandbox")
            if not callable(func):
                raise ExpressionFunctionError(name, "it is not callable")
            table[name] = func
        self.names: frozenset[str] = frozenset(table)
        self.namespace: dict[str, Any] = {
            "__builtins__": {},
            **_HELPERS,
            **{FUNCTION_PREFIX + name: func for name, func in table.items()},
        }


DEFAULT_FUNCTIONS = Functions()
