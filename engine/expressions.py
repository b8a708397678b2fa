"""Safe evaluation of the Camunda-style expressions analysts write in Camunda Modeler.

Gateway conditions, multi-instance settings, timers and inputOutput values arrive as
JUEL (`${amount > 1000 && category == 'network'}`) or as plain Python
(`not approved`). Both become a Python syntax tree that is checked against a whitelist
when the diagram is deployed and compiled once. Evaluation runs that code object
against the process variables with no builtins: an expression can read data,
compare, calculate and call a short list of functions, never reach the interpreter.

JUEL keeps Camunda's meaning: operator precedence, `x.y` reading a map key (null when
it is absent), `empty`, and EL's coercions in comparisons and boolean operators, so a
form value "1500" compares with 1000 and a string "false" is false. Reading JUEL into a
tree is engine.juel's job; this module checks, sandboxes, compiles and evaluates.
"""

from __future__ import annotations

import ast
import difflib
import functools
import keyword
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any

from engine.errors import EngineError
from engine.execution_view import EXECUTION_METHODS, ExecutionUnavailable, current_user, now, with_execution
from engine.juel import LITERAL_NAMES, MAX_DEPTH, OPENING, JuelParser, JuelSyntax, load_name, tokenize

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


# --------------------------------------------------------------------------- errors


class ExpressionError(EngineError):
    """An expression cannot be compiled (bad syntax or a refused construct); raised at deploy."""

    def __init__(self, expression: str, reason: str, *, subject: str | None = None, hint: str = "") -> None:
        self.expression, self.reason, self.subject = expression, reason, subject
        head = f"uses {subject!r}: {reason}" if subject else f"is not valid: {reason}"
        super().__init__(f"Expression {expression} {head}." + (f" {hint}" if hint else ""))


class ExpressionSyntaxError(ExpressionError, SyntaxError):
    """An expression is not well-formed; also a SyntaxError, which SpiffWorkflow's DMN code probes for."""


class ExpressionEvaluationError(EngineError):
    """An expression failed while running: unknown variable, wrong type, or a size limit."""

    def __init__(
        self, expression: str, reason: str, *, variable: str | None = None, available: Iterable[str] = ()
    ) -> None:
        self.expression, self.reason, self.variable = expression, reason, variable
        self.available = tuple(available)
        super().__init__(f"Expression {expression} failed: {reason}")

    @classmethod
    def unknown_variable(
        cls, expression: str, variable: str, available: Iterable[str]
    ) -> ExpressionEvaluationError:
        """Camunda says "Unknown property used in expression"; we also say what is set and what was meant."""
        names = sorted(name for name in available if isinstance(name, str) and not name.startswith("_"))
        guess = difflib.get_close_matches(variable, names, n=1)
        shown = ", ".join(names[:30]) + (f" and {len(names) - 30} more" if len(names) > 30 else "")
        reason = (
            f"unknown variable {variable!r} (Unknown property used in expression)."
            + (f" Did you mean {guess[0]!r}?" if guess else "")
            + (f" Set variables: {shown}." if names else " No variables are set.")
            + " Set it before this step or fix the name in the diagram"
        )
        return cls(expression, reason, variable=variable, available=names)


class ExpressionFunctionError(EngineError):
    """Engine code offered an expression function under a name expressions cannot call."""

    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason = name, reason
        super().__init__(f"Expression function {name!r} cannot be registered: {reason}.")


class _Refused(Exception):
    """Raised inside the sandbox; Expression.evaluate turns it into ExpressionEvaluationError."""


# ------------------------------------------------------------------ runtime helpers


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
    raise _Refused(f"cannot read field {name!r} of {_describe(obj)}; fields can be read from maps only")


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
            raise _Refused(f"a list index must be a whole number, not {_describe(key)}")
        try:
            return obj[key]
        except IndexError:
            return None
    raise _Refused(f"cannot index {_describe(obj)}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int_size(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise _Refused(f"the result would exceed {MAX_INT_BITS} bits")
    return value


def _mul(left: Any, right: Any) -> Any:
    """`*` without memory bombs: text repetition is capped, list repetition refused."""
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, (list, tuple)):
            raise _Refused("repeating lists with '*' is not allowed")
        if isinstance(seq, str) and isinstance(times, int):
            if len(seq) * times > MAX_REPEAT_LENGTH:
                raise _Refused(f"the text would be longer than {MAX_REPEAT_LENGTH} characters")
    if (
        isinstance(left, int)
        and isinstance(right, int)
        and left.bit_length() + right.bit_length() > MAX_INT_BITS
    ):
        raise _Refused(f"the result would exceed {MAX_INT_BITS} bits")
    return left * right


def _pow(base: Any, exponent: Any) -> Any:
    """`**` with a bounded result size."""
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1 and exponent > 0:
        if exponent > MAX_EXPONENT or base.bit_length() * exponent > MAX_INT_BITS:
            raise _Refused(f"{base} ** {exponent} is too large")
    return base**exponent


def _mod(left: Any, right: Any) -> Any:
    """`%` / `mod` is arithmetic only: Python's text formatting can build huge strings."""
    if isinstance(left, (str, bytes)):
        raise _Refused("'%' on text (printf-style formatting) is not allowed; join text with '+'")
    return left % right


def _add(left: Any, right: Any) -> Any:
    """`+` with a cap on the length of text or lists it builds."""
    if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
        if len(left) + len(right) > MAX_TEXT_LENGTH:
            raise _Refused(f"the result would be longer than {MAX_TEXT_LENGTH}")
    return left + right


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise _Refused(f"cannot use the text {text!r} as a number") from None


def _coerce_pair(left: Any, right: Any) -> tuple[Any, Any]:
    """EL 1.8: a number meets a numeric string as a number; a boolean meets a string as a boolean."""
    if _is_number(left) and isinstance(right, str):
        return left, _number(right)
    if isinstance(left, str) and _is_number(right):
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
        raise _Refused(f"cannot compare {_describe(left)} {op} {_describe(right)}") from None


def _text(obj: Any, method: str) -> str:
    if not isinstance(obj, str):
        raise _Refused(f".{method}() works on text, not on {_describe(obj)}")
    return obj


def _text_method(name: str, python_name: str) -> Callable[..., Any]:
    def call(obj: Any, *args: Any) -> Any:
        return getattr(_text(obj, name), python_name)(*args)

    return call


def _replace(obj: Any, old: str, new: str, *count: int) -> str:
    text = _text(obj, "replace")
    growth = len(new) - len(old)
    if growth > 0 and len(text) + text.count(old) * growth > MAX_TEXT_LENGTH:
        raise _Refused(f"replace() would build text longer than {MAX_TEXT_LENGTH}")
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
        raise _Refused(f".{method}() works on maps, not on {_describe(obj)}")
    return obj


def _spin_number(obj: Any) -> int | float:
    if _is_number(obj):
        return obj
    if isinstance(obj, str):
        return _number(obj)
    raise _Refused(f".numberValue() works on numbers, not on {_describe(obj)}")


def _spin_bool(obj: Any) -> bool:
    if isinstance(obj, (bool, str)):
        return to_boolean(obj)
    raise _Refused(f".boolValue() works on booleans, not on {_describe(obj)}")


def _elements(obj: Any) -> list[Any]:
    if isinstance(obj, (str, Mapping)) or not isinstance(obj, Sequence):
        raise _Refused(f".elements() works on lists, not on {_describe(obj)}")
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
        raise _Refused(f"cannot call .{name}() on null")
    return METHODS[name](obj, *args)


def _round(number: Any, ndigits: int | None = None) -> Any:
    if ndigits is None:
        return round(number)
    if abs(ndigits) > 100:
        raise _Refused("round() keeps at most 100 digits")
    return round(number, ndigits)


def _sum(values: Iterable[Any], start: Any = 0) -> Any:
    numbers = list(values)
    if not all(_is_number(v) or isinstance(v, bool) for v in [start, *numbers]):
        raise _Refused("sum() adds numbers only")
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
    "_mul": _mul,
    "_pow": _pow,
    "_mod": _mod,
    "_add": _add,
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


# ---------------------------------------------------------------------- validation

_FORBIDDEN: dict[str, str] = {
    "Lambda": "lambda functions are not allowed",
    "ListComp": "comprehensions are not allowed",
    "SetComp": "comprehensions are not allowed",
    "DictComp": "comprehensions are not allowed",
    "GeneratorExp": "generator expressions are not allowed",
    "NamedExpr": "assignment with ':=' is not allowed; expressions only read variables",
    "JoinedStr": "f-strings are not allowed; join text with '+' or use a ${...} text template",
    "FormattedValue": "f-strings are not allowed",
    "Starred": "'*' unpacking is not allowed",
    "Await": "await is not allowed",
    "Yield": "yield is not allowed",
    "YieldFrom": "yield is not allowed",
}
_ALLOWED_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_BINOP_SYMBOLS = {
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
    ast.MatMult: "@",
}
#: Attribute names that reach frames, code or formatting machinery; refused even though
#: they do not start with '_' (they would only ever be read as map keys, but say so early).
_INTERNALS = frozenset(
    {
        "gi_frame",
        "gi_code",
        "cr_frame",
        "cr_code",
        "ag_frame",
        "ag_code",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "f_code",
        "tb_frame",
        "tb_next",
        "co_code",
        "func_globals",
        "mro",
        "format",
        "format_map",
    }
)
_UNDERSCORE = "names starting with '_' are not allowed"
_UNDERSCORE_HINT = "Expressions read process variables; Python internals are out of reach."


def _const_number(node: ast.AST) -> int | float | None:
    """The value of a constant arithmetic sub-expression, if small enough to compute safely."""
    if isinstance(node, ast.Constant) and _is_number(node.value):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _const_number(node.operand)
        return None if value is None else (-value if isinstance(node.op, ast.USub) else value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Pow)):
        left, right = _const_number(node.left), _const_number(node.right)
        if left is None or right is None:
            return None
        try:
            return _check_int_size(
                {ast.Add: _add, ast.Sub: operator.sub, ast.Mult: _mul, ast.Pow: _pow}[type(node.op)](
                    left, right
                )
            )
        except (_Refused, ArithmeticError):
            return None
    return None


class _Checker:
    """Walks a parsed expression and refuses anything outside the whitelist, with a reason."""

    def __init__(self, source: str, functions: frozenset[str]) -> None:
        self.source, self.functions = source, functions
        self.names: set[str] = set()
        self.calls: set[str] = set()

    def refuse(self, reason: str, subject: str | None = None, hint: str = "") -> None:
        raise ExpressionError(self.source, reason, subject=subject, hint=hint)

    def identifier(self, name: str) -> None:
        if name.startswith("_"):
            self.refuse(_UNDERSCORE, name, _UNDERSCORE_HINT)

    def check_private_names(self, tree: ast.AST) -> None:
        """Name the first '_' identifier in reading order, the one the analyst will look for."""
        private = []
        for node in ast.walk(tree):
            name = getattr(node, "id", None) or getattr(node, "attr", None) or getattr(node, "arg", None)
            if isinstance(name, str) and name.startswith("_"):
                private.append(((getattr(node, "end_lineno", 0), getattr(node, "end_col_offset", 0)), name))
        if private:
            self.identifier(min(private)[1])

    def check(self, node: ast.AST, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            self.refuse("it is nested too deeply")
        kind = type(node).__name__
        handler = getattr(self, f"check_{kind}", None)
        if handler is None:
            self.refuse(_FORBIDDEN.get(kind, f"the Python construct {kind!r} is not allowed"))
        handler(node, depth + 1)

    def check_all(self, nodes: Iterable[ast.AST | None], depth: int) -> None:
        for child in nodes:
            if child is not None:
                self.check(child, depth)

    def check_Expression(self, node: ast.Expression, depth: int) -> None:
        self.check(node.body, depth)

    def check_Constant(self, node: ast.Constant, depth: int) -> None:
        if node.value is not None and type(node.value) not in (str, int, float, bool):
            self.refuse(f"{type(node.value).__name__} constants are not allowed")

    def check_Name(self, node: ast.Name, depth: int) -> None:
        self.identifier(node.id)
        self.names.add(node.id)

    def check_Attribute(self, node: ast.Attribute, depth: int) -> None:
        self.check(node.value, depth)  # reading order: the receiver comes first
        self.identifier(node.attr)
        if node.attr in _INTERNALS:
            self.refuse("it reaches Python internals and is not allowed", node.attr)

    def check_Subscript(self, node: ast.Subscript, depth: int) -> None:
        self.check_all((node.value, node.slice), depth)

    def check_Slice(self, node: ast.Slice, depth: int) -> None:
        self.check_all((node.lower, node.upper, node.step), depth)

    def check_BoolOp(self, node: ast.BoolOp, depth: int) -> None:
        self.check_all(node.values, depth)

    def check_BinOp(self, node: ast.BinOp, depth: int) -> None:
        if not isinstance(node.op, _ALLOWED_BINOPS):
            symbol = _BINOP_SYMBOLS.get(type(node.op), type(node.op).__name__)
            self.refuse("bitwise operators are not allowed; use 'and'/'&&' and 'or'/'||'", symbol)
        if isinstance(node.op, ast.Pow):
            exponent = _const_number(node.right)
            if exponent is not None and abs(exponent) > MAX_EXPONENT:
                self.refuse(f"the exponent {exponent} is larger than {MAX_EXPONENT}", "**")
        if isinstance(node.op, ast.Mult):
            self.check_repetition(node)
        self.check_all((node.left, node.right), depth)

    def check_repetition(self, node: ast.BinOp) -> None:
        for seq, times in ((node.left, node.right), (node.right, node.left)):
            if isinstance(seq, (ast.List, ast.Tuple)):
                self.refuse("repeating lists with '*' is not allowed", "*")
            if isinstance(seq, ast.Constant) and isinstance(seq.value, str):
                count = _const_number(times)
                size = len(seq.value) * count if isinstance(count, int) else 0
                if size > MAX_REPEAT_LENGTH:
                    self.refuse(f"it would build {size} characters; the limit is {MAX_REPEAT_LENGTH}", "*")

    def check_UnaryOp(self, node: ast.UnaryOp, depth: int) -> None:
        if isinstance(node.op, ast.Invert):
            self.refuse("bitwise operators are not allowed", "~")
        self.check(node.operand, depth)

    def check_Compare(self, node: ast.Compare, depth: int) -> None:
        self.check_all((node.left, *node.comparators), depth)

    def check_IfExp(self, node: ast.IfExp, depth: int) -> None:
        self.check_all((node.test, node.body, node.orelse), depth)

    def check_List(self, node: ast.List | ast.Tuple | ast.Set, depth: int) -> None:
        self.check_all(node.elts, depth)

    check_Tuple = check_List
    check_Set = check_List

    def check_Dict(self, node: ast.Dict, depth: int) -> None:
        if any(key is None for key in node.keys):
            self.refuse("'**' unpacking is not allowed")
        self.check_all((*node.keys, *node.values), depth)

    def check_Call(self, node: ast.Call, depth: int) -> None:
        func = node.func
        if isinstance(func, ast.Name):
            self.identifier(func.id)
            if func.id not in self.functions:
                self.refuse(
                    f"it is not an allowed function (allowed: {', '.join(sorted(self.functions))})",
                    f"{func.id}()",
                )
            self.calls.add(func.id)
        elif isinstance(func, ast.Attribute):
            self.check(func.value, depth)
            self.identifier(func.attr)
            if func.attr not in METHODS:
                ordinary = sorted(set(METHODS) - set(EXECUTION_METHODS))
                self.refuse(
                    f"it is not an allowed method (allowed: {', '.join(ordinary)}; "
                    f"on execution: {', '.join(sorted(EXECUTION_METHODS))})",
                    f".{func.attr}()",
                )
            if func.attr in EXECUTION_METHODS and not (
                isinstance(func.value, ast.Name) and func.value.id == "execution"
            ):
                self.refuse(
                    f"it is a method of execution only (execution.{func.attr}(...))", f".{func.attr}()"
                )
            if node.keywords:
                self.refuse("methods take positional arguments only", f".{func.attr}()")
        else:
            self.refuse("only named functions and the listed methods can be called")
        for kw in node.keywords:
            if kw.arg is None:
                self.refuse("'**' unpacking is not allowed")
            self.identifier(kw.arg)
        self.check_all((*node.args, *(kw.value for kw in node.keywords)), depth)


class _Literals(ast.NodeTransformer):
    """Plain Python may spell JUEL's null/true/false too."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.Constant(LITERAL_NAMES[node.id]) if node.id in LITERAL_NAMES else node


def _call(helper: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=load_name(helper), args=list(args), keywords=[])


class _Sandbox(ast.NodeTransformer):
    """Rewrites a validated tree so every risky operation goes through a checking helper.

    Runs after validation, so the helpers' '_' names cannot be written by an analyst.
    In the JUEL dialect it also applies EL's coercions to comparisons and boolean tests.
    """

    def __init__(self, juel: bool) -> None:
        self.juel = juel

    def visit_Call(self, node: ast.Call) -> ast.AST:
        args = [self.visit(arg) for arg in node.args]
        keywords = [ast.keyword(arg=kw.arg, value=self.visit(kw.value)) for kw in node.keywords]
        if isinstance(node.func, ast.Name):
            return ast.Call(func=load_name(FUNCTION_PREFIX + node.func.id), args=args, keywords=keywords)
        attribute = node.func
        assert isinstance(attribute, ast.Attribute)
        return _call("_method", self.visit(attribute.value), ast.Constant(attribute.attr), *args)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        return _call("_attr", self.visit(node.value), ast.Constant(node.attr))

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        if isinstance(node.slice, ast.Slice):
            return self.generic_visit(node)
        return _call("_item", self.visit(node.value), self.visit(node.slice))

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        helper = {ast.Mult: "_mul", ast.Pow: "_pow", ast.Mod: "_mod", ast.Add: "_add"}.get(type(node.op))
        return _call(helper, node.left, node.right) if helper else node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        symbols = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
        if self.juel and len(node.ops) == 1 and type(node.ops[0]) in symbols:
            return _call("_compare", ast.Constant(symbols[type(node.ops[0])]), node.left, node.comparators[0])
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if self.juel and isinstance(node.op, ast.Not):
            node.operand = _call("_bool", node.operand)
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        if self.juel:
            node.values = [_call("_bool", value) for value in node.values]
        return node

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        self.generic_visit(node)
        if self.juel:
            node.test = _call("_bool", node.test)
        return node


# ----------------------------------------------------------------------- compiling


@dataclass(frozen=True)
class Expression:
    """A compiled expression: checked once at deploy, evaluated many times."""

    source: str  # as written
    python: str  # the same expression in Python syntax
    names: frozenset[str]  # variables it reads (for the analyst's typo guard)
    calls: frozenset[str] = frozenset()  # functions it calls
    dialect: str = "python"  # "juel" (inside ${...}) or "python"
    _code: Any = field(default=None, repr=False, compare=False)
    _helpers: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    def evaluate(self, variables: Mapping[str, Any], functions: Functions = DEFAULT_FUNCTIONS) -> Any:
        """Run against `variables`, which are read in place: never copied, and changed only by
        `execution.setVariable` (engine.execution_view)."""
        if "execution" in self.names:
            variables = with_execution(variables)
        if any(name in variables for name in self._helpers):
            # A variable spelled like a sandbox helper would shadow it; such names are unreadable anyway.
            variables = {k: v for k, v in variables.items() if not str(k).startswith("_")}
        try:
            return eval(self._code, functions.namespace, variables)  # noqa: S307 - validated, no builtins
        except NameError as err:
            name = getattr(err, "name", None) or ""
            if name.startswith(FUNCTION_PREFIX):
                function = name[len(FUNCTION_PREFIX) :]
                raise ExpressionEvaluationError(
                    self.source, f"function {function}() is not available to this engine"
                ) from None
            if name in self.names:
                raise ExpressionEvaluationError.unknown_variable(self.source, name, variables) from None
            raise ExpressionEvaluationError(self.source, f"NameError: {err}") from err
        except (_Refused, ExecutionUnavailable) as err:
            raise ExpressionEvaluationError(self.source, str(err)) from None
        except Exception as err:
            raise ExpressionEvaluationError(self.source, f"{type(err).__name__}: {err}") from err

    def test(self, variables: Mapping[str, Any], functions: Functions = DEFAULT_FUNCTIONS) -> bool:
        """Evaluate as a condition: JUEL coerces the result as Camunda does ("false" is false)."""
        value = self.evaluate(variables, functions)
        return to_boolean(value) if self.dialect == "juel" else bool(value)


def _juel_to_python(body: str) -> str:
    tokens, _ = tokenize(body)
    return ast.unparse(JuelParser(tokens).parse())


def _translate(display: str, body: str, juel_first: bool) -> tuple[str, str]:
    """Return (python source, dialect); try the expected dialect first, the other as a fallback.

    Plain text is Python first, so `amount > 1000 and x` keeps Python's meaning, yet
    `!approved` without ${} still works. Inside ${...} JUEL comes first.
    """
    errors: list[tuple[int, str, str]] = []
    for dialect in ("juel", "python") if juel_first else ("python", "juel"):
        try:
            if dialect == "juel":
                return _juel_to_python(body), "juel"
            ast.parse(body.strip(), mode="eval")
            return body.strip(), "python"
        except JuelSyntax as err:
            errors.append((err.pos, err.message, dialect))
        except SyntaxError as err:
            errors.append(((err.offset or 1) - 1, err.msg, dialect))
        except (ValueError, RecursionError, MemoryError) as err:
            errors.append((0, str(err) or "it is nested too deeply", dialect))
    pos, message, _ = max(errors, key=lambda e: e[0])
    raise ExpressionSyntaxError(
        display,
        f"{message} (near {body[pos : pos + 20].strip()!r})" if body[pos:].strip() else message,
        hint="Write Camunda JUEL inside ${...}, e.g. ${amount > 1000 && category == 'network'}.",
    )


def _build(display: str, body: str, juel_first: bool, functions: frozenset[str]) -> Expression:
    if not body.strip():
        raise ExpressionSyntaxError(display, "it is empty")
    python, dialect = _translate(display, body, juel_first)
    try:
        tree = _Literals().visit(ast.parse(python, mode="eval"))
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        raise ExpressionSyntaxError(display, getattr(err, "msg", str(err))) from None
    checker = _Checker(display, functions)
    checker.check_private_names(tree)
    checker.check(tree)
    python = ast.unparse(tree)
    safe = ast.fix_missing_locations(_Sandbox(dialect == "juel").visit(tree))
    try:
        code = compile(safe, "<expression>", "eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        raise ExpressionSyntaxError(display, f"it cannot be compiled ({err})") from None
    return Expression(
        source=display,
        python=python,
        names=frozenset(checker.names),
        calls=frozenset(checker.calls),
        dialect=dialect,
        _code=code,
        _helpers=frozenset(name for name in code.co_names if name.startswith("_")),
    )


def _placeholders(text: str) -> list[tuple[int, int]]:
    """Spans of each ${...} / #{...} in text; the end is found by the tokenizer, so quotes and
    map literals may contain '}'."""
    spans, pos = [], 0
    while match := OPENING.search(text, pos):
        try:
            _, end = tokenize(text, match.end(), closing_brace=True)
        except JuelSyntax as err:
            raise ExpressionSyntaxError(text[match.start() :], err.message) from None
        spans.append((match.start(), end))
        pos = end
    return spans


def _check_length(text: str) -> None:
    if len(text) > MAX_SOURCE_LENGTH:
        raise ExpressionError(
            text[:60] + "...", f"it is {len(text)} characters long; the limit is {MAX_SOURCE_LENGTH}"
        )


@functools.lru_cache(maxsize=4096)
def _compile_expression(source: str, functions: frozenset[str]) -> Expression:
    text = source.strip()
    _check_length(text)
    spans = _placeholders(text)
    if not spans:
        return _build(text, text, juel_first=False, functions=functions)
    if spans == [(0, len(text))]:
        return _build(text, text[2:-1], juel_first=True, functions=functions)
    raise ExpressionSyntaxError(
        text,
        "it mixes text with ${...}; a condition or value must be one ${...} expression",
        hint="Put the whole condition inside a single ${...}.",
    )


def compile_expression(source: str, functions: Functions = DEFAULT_FUNCTIONS) -> Expression:
    """Compile a condition or value expression; raise ExpressionError if it is refused.

    `${...}`/`#{...}` holds JUEL; text without it is Python. Results are cached, so the
    deploy check and every later evaluation share one compiled object.
    """
    if not isinstance(source, str):
        raise ExpressionSyntaxError(repr(source), "an expression must be text")
    return _compile_expression(source, functions.names)


def evaluate(source: str, variables: Mapping[str, Any], functions: Functions = DEFAULT_FUNCTIONS) -> Any:
    """Compile (cached) and evaluate in one call."""
    return compile_expression(source, functions).evaluate(variables, functions)


def is_expression(text: Any) -> bool:
    """True if text holds a ${...} or #{...} placeholder (a backslash before '$' escapes it)."""
    return isinstance(text, str) and OPENING.search(text) is not None


# ------------------------------------------------------------------------ templates


def _unescape(text: str) -> str:
    return text.replace("\\${", "${").replace("\\#{", "#{")


@dataclass(frozen=True)
class Template:
    """Text with ${...} placeholders, as in camunda:inputOutput and other text fields.

    A template that is just one placeholder yields the value itself (any type); mixed
    text yields a string with values coerced as EL does (null -> "", true -> "true").
    """

    source: str
    parts: tuple[str | Expression, ...]
    names: frozenset[str]
    _single: Expression | None = field(default=None, repr=False, compare=False)

    @property
    def is_literal(self) -> bool:
        """No placeholders: rendering gives the text back unchanged."""
        return not any(isinstance(part, Expression) for part in self.parts)

    def render(self, variables: Mapping[str, Any], functions: Functions = DEFAULT_FUNCTIONS) -> Any:
        """The value of a whole `${x}`, the text with values filled in, or the plain text itself."""
        if self._single is not None:
            return self._single.evaluate(variables, functions)
        if self.is_literal:
            return "".join(self.parts) if self.parts else self.source
        return "".join(
            part if isinstance(part, str) else to_text(part.evaluate(variables, functions))
            for part in self.parts
        )


@functools.lru_cache(maxsize=4096)
def _compile_template(text: str, functions: frozenset[str]) -> Template:
    spans = _placeholders(text)
    if not spans:
        return Template(text, (_unescape(text),) if "\\" in text else (), frozenset())
    parts: list[str | Expression] = []
    pos = 0
    for start, end in spans:
        if start > pos:
            parts.append(_unescape(text[pos:start]))
        piece = text[start:end]
        _check_length(piece)
        parts.append(_build(piece, piece[2:-1], juel_first=True, functions=functions))
        pos = end
    if pos < len(text):
        parts.append(_unescape(text[pos:]))
    expressions = [part for part in parts if isinstance(part, Expression)]
    single = (
        expressions[0]
        if len(expressions) == 1 and not "".join(part for part in parts if isinstance(part, str)).strip()
        else None
    )
    names = frozenset().union(*(part.names for part in expressions))
    return Template(text, tuple(parts), names, single)


def compile_template(text: str, functions: Functions = DEFAULT_FUNCTIONS) -> Template:
    """Check every ${...} in a text at deploy time; raise ExpressionError for the first bad one."""
    return _compile_template(text, functions.names)


def render(text: str, variables: Mapping[str, Any], functions: Functions = DEFAULT_FUNCTIONS) -> Any:
    """Camunda inputOutput text: whole "${x}" -> x's value, mixed text -> str, plain text -> itself."""
    return compile_template(text, functions).render(variables, functions)
