"""FEEL as Camunda Modeler writes it in decision tables, compiled for the safe expression layer.

Input entries are FEEL *simple unary tests* (`"a","b"`, `not("a")`, `< 10`, `[1..5]`,
`]1..5[`, `-`, `date and time("…")`); output entries and input expressions are FEEL
*simple expressions* (literals, variable names, arithmetic, comparisons). A unary test whose
endpoints are literals becomes a plain Python closure, which is what makes a 50-rule table
cheap to evaluate; anything that reads a variable is translated to JUEL and compiled by
engine.expressions, whose whitelist refuses dunders, imports and calls it does not know.
Nothing here reaches Python's `eval` except through that layer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from engine.errors import EngineError
from engine.expressions import (
    Expression,
    ExpressionError,
    ExpressionEvaluationError,
    Functions,
    compile_expression,
)

#: Test over one input value: the value, and the variables for tests that read them.
Test = Callable[[Any, Mapping[str, Any]], bool]


class FeelError(EngineError):
    """A FEEL text is not one this engine can evaluate; the message says which part and why."""

    def __init__(self, text: str, reason: str) -> None:
        self.text, self.reason = text, reason
        super().__init__(f"FEEL {text!r}: {reason}")


# ------------------------------------------------------------------- FEEL built-ins


def _parse_datetime(text: Any) -> datetime:
    if isinstance(text, datetime):
        return text
    if not isinstance(text, str):
        raise ValueError(f"date and time() takes text, not {type(text).__name__}")
    value = text.strip()
    zone = None
    if "@" in value:  # 2019-08-12T22:22:22@Europe/Berlin
        value, zone = value.split("@", 1)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if zone:
        from zoneinfo import ZoneInfo

        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment


def _parse_date(text: Any) -> date:
    if isinstance(text, datetime):
        return text.date()
    if isinstance(text, date):
        return text
    return date.fromisoformat(str(text).strip())


def _parse_time(text: Any) -> time:
    if isinstance(text, time):
        return text
    return time.fromisoformat(str(text).strip())


_DURATION = re.compile(r"^(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def _parse_duration(text: Any) -> timedelta:
    match = _DURATION.match(str(text).strip())
    if not match or str(text).strip() in ("P", "PT", "-P"):
        raise ValueError(f"duration {text!r} is not an ISO 8601 day-time duration such as P2DT3H")
    sign, days, hours, minutes, seconds = match.groups()
    delta = timedelta(
        days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0), seconds=float(seconds or 0)
    )
    return -delta if sign else delta


#: FEEL's built-ins, under the names the translated JUEL calls.
FEEL_FUNCTIONS = Functions(
    {
        "feel_date_and_time": _parse_datetime,
        "feel_date": _parse_date,
        "feel_time": _parse_time,
        "feel_duration": _parse_duration,
    }
)
_BUILTINS = {
    "date and time": ("feel_date_and_time", _parse_datetime),
    "date": ("feel_date", _parse_date),
    "time": ("feel_time", _parse_time),
    "duration": ("feel_duration", _parse_duration),
}


# ------------------------------------------------------------------- comparisons


def _align(left: Any, right: Any) -> tuple[Any, Any]:
    """Make two values comparable the way FEEL compares them, or raise TypeError."""
    if isinstance(left, bool) or isinstance(right, bool):
        if type(left) is not type(right):
            raise TypeError
        return left, right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left, right
    if isinstance(left, datetime) and isinstance(right, datetime):
        if (left.tzinfo is None) != (right.tzinfo is None):
            left = left if left.tzinfo else left.replace(tzinfo=UTC)
            right = right if right.tzinfo else right.replace(tzinfo=UTC)
        return left, right
    if isinstance(left, datetime) and type(right) is date:
        return left.date(), right
    if type(left) is date and isinstance(right, datetime):
        return left, right.date()
    if type(left) is type(right):
        return left, right
    raise TypeError


def feel_equal(left: Any, right: Any) -> bool:
    """FEEL `=`: values of different kinds are not equal (a string "5" is not the number 5)."""
    if left is None or right is None:
        return left is None and right is None
    try:
        left, right = _align(left, right)
    except TypeError:
        return False
    return bool(left == right)


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def feel_compare(op: str, left: Any, right: Any) -> bool:
    """FEEL ordering; null or values of different kinds make the test not applicable (false)."""
    if left is None or right is None:
        return False
    try:
        left, right = _align(left, right)
        return bool(_ORDER[op](left, right))
    except TypeError:
        return False


# ------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class _Tok:
    kind: str  # string | number | name | op | end
    value: Any
    pos: int


_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_NAME = re.compile(r"[A-Za-z][\w]*")
_OPS = ("..", "<=", ">=", "!=", "**", "<", ">", "=", "+", "-", "*", "/", "(", ")", "[", "]", ",", ".")
_REFUSED_WORDS = {
    "if": "if-then-else",
    "for": "for loops",
    "some": "quantified expressions",
    "every": "quantified expressions",
    "function": "function definitions",
    "instance": "instance of",
    "between": "between",
    "in": "in",
}


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            tokens.append(_Tok("end", None, pos))
            return tokens
        char = text[pos]
        if char == '"':
            out, i = [], pos + 1
            while i < len(text) and text[i] != '"':
                if text[i] == "\\" and i + 1 < len(text):
                    out.append({"n": "\n", "t": "\t"}.get(text[i + 1], text[i + 1]))
                    i += 2
                else:
                    out.append(text[i])
                    i += 1
            if i >= len(text):
                raise FeelError(text, "a string is missing its closing double quote")
            tokens.append(_Tok("string", "".join(out), pos))
            pos = i + 1
        elif match := _NUMBER.match(text, pos):
            literal = match.group()
            tokens.append(_Tok("number", float(literal) if "." in literal else int(literal), pos))
            pos = match.end()
        elif match := _NAME.match(text, pos):
            word = match.group()
            if word == "date" and re.match(r"date\s+and\s+time\s*\(", text[pos:]):
                end = text.index("time", pos) + 4
                tokens.append(_Tok("name", "date and time", pos))
                pos = end
                continue
            if word in _REFUSED_WORDS:
                raise FeelError(
                    text, f"{_REFUSED_WORDS[word]} ({word!r}) is not supported in decision tables here"
                )
            tokens.append(_Tok("name", word, pos))
            pos = match.end()
        elif char == "'":
            raise FeelError(text, "FEEL strings use double quotes: write \"text\", not 'text'")
        else:
            op = next((o for o in _OPS if text.startswith(o, pos)), None)
            if op is None:
                raise FeelError(text, f"unexpected {char!r} at position {pos + 1}")
            tokens.append(_Tok("op", op, pos))
            pos += len(op)


def _juel_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_KEYWORDS = {"true": "true", "false": "false", "null": "null", "and": "&&", "or": "||", "not": "!"}


def _to_juel(text: str, tokens: list[_Tok]) -> str:
    """Translate a FEEL simple expression to JUEL, token by token (FEEL `=` is JUEL `==`)."""
    out: list[str] = []
    for i, tok in enumerate(tokens):
        if tok.kind == "end":
            break
        if tok.kind == "string":
            out.append(_juel_string(tok.value))
        elif tok.kind == "number":
            out.append(str(tok.value))
        elif tok.kind == "name":
            following = tokens[i + 1]
            if tok.value in _BUILTINS and following.kind == "op" and following.value == "(":
                out.append(_BUILTINS[tok.value][0])
            elif tok.value in _KEYWORDS:
                out.append(_KEYWORDS[tok.value])
            else:
                out.append(tok.value)
        elif tok.value == "=":
            out.append("==")
        elif tok.value in ("..", "[", "]", "**"):
            raise FeelError(text, f"{tok.value!r} is not allowed in an expression here")
        else:
            out.append(tok.value)
    return " ".join(out)


def _literal(tokens: list[_Tok]) -> tuple[bool, Any]:
    """(True, value) when tokens are one literal: string, number, -number, boolean, null or date."""
    kinds = [t.kind for t in tokens[:-1]]
    values = [t.value for t in tokens[:-1]]
    if kinds in (["string"], ["number"]):
        return True, values[0]
    if kinds == ["op", "number"] and values[0] == "-":
        return True, -values[1]
    if kinds == ["name"] and values[0] in ("true", "false", "null"):
        return True, {"true": True, "false": False, "null": None}[values[0]]
    if (
        kinds == ["name", "op", "string", "op"]
        and values[0] in _BUILTINS
        and values[1] == "("
        and values[3] == ")"
    ):
        return True, _BUILTINS[values[0]][1](values[2])
    return False, None


# ------------------------------------------------------------------- expressions


@dataclass(frozen=True)
class FeelExpression:
    """A compiled FEEL simple expression: a constant, or JUEL run by engine.expressions."""

    source: str
    constant: Any = None
    expression: Expression | None = None
    feel: bool = True
    variable: str | None = None  # the whole expression is this one variable: read it directly

    @property
    def names(self) -> frozenset[str]:
        return self.expression.names if self.expression is not None else frozenset()

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """The value; in FEEL a variable that is not set is null (FEEL-Scala 1.17, Camunda 7.20),
        in JUEL it is an error (Camunda's "Unknown property used in expression")."""
        if self.variable is not None:
            return variables.get(self.variable)
        if self.expression is None:
            return self.constant
        try:
            return self.expression.evaluate(variables, FEEL_FUNCTIONS)
        except ExpressionEvaluationError as err:
            if self.feel and err.variable is not None and err.variable not in variables:
                return None
            raise


def compile_feel(text: str) -> FeelExpression:
    """Compile a FEEL simple expression; raise FeelError naming what is not supported."""
    tokens = _tokenize(text)
    if tokens[0].kind == "end":
        raise FeelError(text, "it is empty")
    try:
        is_literal, value = _literal(tokens)
    except ValueError as err:
        raise FeelError(text, str(err)) from None
    if is_literal:
        return FeelExpression(text, constant=value)
    expression = _compile_juel(text, "${" + _to_juel(text, tokens) + "}")
    if len(tokens) == 2 and tokens[0].kind == "name" and tokens[0].value not in _KEYWORDS:
        return FeelExpression(text, expression=expression, variable=tokens[0].value)
    return FeelExpression(text, expression=expression)


def compile_juel(text: str) -> FeelExpression:
    """A cell or input expression with expressionLanguage="juel": `${...}` or bare JUEL."""
    source = text.strip()
    if not source.startswith(("${", "#{")):
        source = "${" + source + "}"
    return FeelExpression(text, expression=_compile_juel(text, source), feel=False)


def _compile_juel(text: str, source: str) -> Expression:
    try:
        return compile_expression(source, FEEL_FUNCTIONS)
    except ExpressionError as err:
        raise FeelError(text, err.reason) from None


# ------------------------------------------------------------------- unary tests


class _Parser:
    """Simple unary tests: `-` | `not(` tests `)` | test (`,` test)*; each test a comparison,
    an interval or a value (equality)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.tokens[self.i]

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def is_op(self, *ops: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.value in ops

    def parse(self) -> Test:
        tok = self.peek()
        if tok.kind == "name" and tok.value == "not" and self.tokens[self.i + 1].value == "(":
            self.i += 2
            inner = self.tests()
            if not self.is_op(")"):
                raise FeelError(self.text, "not( is missing its closing ')'")
            self.take()
            self.expect_end()
            return lambda value, variables: not inner(value, variables)
        tests = self.tests()
        self.expect_end()
        return tests

    def expect_end(self) -> None:
        if self.peek().kind != "end":
            raise FeelError(self.text, f"unexpected text at position {self.peek().pos + 1}")

    def tests(self) -> Test:
        parts = [self.test()]
        while self.is_op(","):
            self.take()
            parts.append(self.test())
        if len(parts) == 1:
            return parts[0]
        texts = [getattr(part, "constant_string", None) for part in parts]
        if all(text is not None for text in texts):
            allowed = frozenset(texts)  # "a","b","c": one set lookup instead of a test per item

            def one_of(value: Any, variables: Mapping[str, Any]) -> bool:
                return type(value) is str and value in allowed

            one_of.constant_strings = allowed  # type: ignore[attr-defined]  # engine.dmn.evaluate indexes these
            return one_of
        return lambda value, variables: any(part(value, variables) for part in parts)

    def endpoint(self, stop: tuple[str, ...]) -> FeelExpression:
        """Tokens up to a top-level `,`, `..`, closing bracket or the end, as one expression."""
        start, depth = self.i, 0
        while True:
            tok = self.peek()
            if tok.kind == "end":
                break
            if tok.kind == "op":
                if tok.value == "(":
                    depth += 1
                elif tok.value == ")" and depth > 0:
                    depth -= 1
                elif depth == 0 and (tok.value in stop or tok.value == ")"):
                    break
            self.i += 1
        if self.i == start:
            raise FeelError(self.text, f"a value is missing at position {self.peek().pos + 1}")
        begin = self.tokens[start].pos
        end = self.peek().pos if self.peek().kind != "end" else len(self.text)
        return compile_feel(self.text[begin:end])

    def test(self) -> Test:
        if self.is_op("-") and self.tokens[self.i + 1].kind == "end":
            self.take()
            return _anything
        if self.is_op("<", "<=", ">", ">="):
            op = self.take().value
            bound = self.endpoint((",",))
            return _comparison(op, bound)
        if self.is_op("[", "]", "("):
            opening = self.take().value
            low = self.endpoint(("..",))
            if not self.is_op(".."):
                raise FeelError(self.text, "an interval needs '..' between its two ends, as in [1..5]")
            self.take()
            high = self.endpoint(("]", "[", ")"))
            if not self.is_op("]", "[", ")"):
                raise FeelError(self.text, "an interval needs a closing ']', '[' or ')'")
            closing = self.take().value
            return _interval(low, opening == "[", high, closing == "]")
        if self.is_op("=", "!="):
            raise FeelError(self.text, f"{self.peek().value!r} is not a unary test; write the value alone")
        start = self.i
        value = self.endpoint((",",))
        for tok in self.tokens[start : self.i]:
            if (tok.kind == "op" and tok.value in ("=", "!=", "<", ">", "<=", ">=")) or (
                tok.kind == "name" and tok.value in ("and", "or")
            ):
                raise FeelError(
                    self.text,
                    f"{tok.value!r} inside a value is not a unary test here (FEEL would read a boolean "
                    "expression differently); write a comparison like < 10, a list or an interval",
                )
        return _equality(value)


def _bound(expression: FeelExpression) -> Callable[[Mapping[str, Any]], Any]:
    if expression.expression is None:
        constant = expression.constant
        return lambda variables: constant
    return expression.evaluate


def _comparison(op: str, bound: FeelExpression) -> Test:
    compare = _ORDER[op]
    if (
        bound.expression is None
        and isinstance(bound.constant, int | float)
        and not isinstance(bound.constant, bool)
    ):
        constant = bound.constant

        def numeric(value: Any, variables: Mapping[str, Any]) -> bool:
            if type(value) is int or type(value) is float:
                return compare(value, constant)
            return feel_compare(op, value, constant)

        return numeric
    read = _bound(bound)
    return lambda value, variables: feel_compare(op, value, read(variables))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _interval(low: FeelExpression, low_closed: bool, high: FeelExpression, high_closed: bool) -> Test:
    read_low, read_high = _bound(low), _bound(high)
    low_op, high_op = (">=" if low_closed else ">"), ("<=" if high_closed else "<")
    if (
        low.expression is None
        and high.expression is None
        and _is_number(low.constant)
        and _is_number(high.constant)
    ):
        lo, hi, above, below = low.constant, high.constant, _ORDER[low_op], _ORDER[high_op]

        def numeric(value: Any, variables: Mapping[str, Any]) -> bool:
            if type(value) is int or type(value) is float:
                return above(value, lo) and below(value, hi)
            return feel_compare(low_op, value, lo) and feel_compare(high_op, value, hi)

        return numeric

    def within(value: Any, variables: Mapping[str, Any]) -> bool:
        return feel_compare(low_op, value, read_low(variables)) and feel_compare(
            high_op, value, read_high(variables)
        )

    return within


def _equality(expected: FeelExpression) -> Test:
    if expected.expression is None:
        constant = expected.constant
        if isinstance(constant, str):

            def text(value: Any, variables: Mapping[str, Any]) -> bool:
                return value == constant and type(value) is str

            text.constant_string = constant  # type: ignore[attr-defined]  # read by _Parser.tests
            text.constant_strings = frozenset({constant})  # type: ignore[attr-defined]
            return text
        return lambda value, variables: feel_equal(value, constant)
    read = expected.evaluate
    return lambda value, variables: feel_equal(value, read(variables))


def _anything(value: Any, variables: Mapping[str, Any]) -> bool:
    return True


_anything.matches_all = True  # type: ignore[attr-defined]


def compile_unary_tests(text: str) -> Test:
    """Compile an input entry; raise FeelError naming what is wrong or not supported.

    A test that is a constant set of strings carries `constant_strings`, and `-` carries
    `matches_all`, so a column of only those can be looked up instead of tested rule by rule.
    """
    if not text.strip() or text.strip() == "-":
        return _anything
    return _Parser(text.strip()).parse()


def compile_juel_test(text: str, input_variable: str) -> Test:
    """An input entry in JUEL (`${cellInput > 5}`): true when the expression is true."""
    compiled = compile_juel(text)
    expression = compiled.expression
    assert expression is not None

    def test(value: Any, variables: Mapping[str, Any]) -> bool:
        return expression.evaluate({**variables, input_variable: value}, FEEL_FUNCTIONS) is True

    return test


__all__ = [
    "FEEL_FUNCTIONS",
    "ExpressionEvaluationError",
    "FeelError",
    "FeelExpression",
    "Test",
    "compile_feel",
    "compile_juel",
    "compile_juel_test",
    "compile_unary_tests",
    "feel_compare",
    "feel_equal",
]
