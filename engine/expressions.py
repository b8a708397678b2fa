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
tree is engine.juel's job; this module checks, sandboxes, compiles and evaluates; what
the compiled code calls at run time is engine.expression_values, its errors
engine.expression_errors.
"""

from __future__ import annotations

import ast
import functools
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.execution_view import EXECUTION_METHODS, ExecutionUnavailable, with_execution
from engine.expression_errors import (
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionFunctionError,
    ExpressionSyntaxError,
)
from engine.expression_values import (
    DEFAULT_FUNCTIONS,
    FUNCTION_PREFIX,
    MAX_EXPONENT,
    MAX_REPEAT_LENGTH,
    MAX_SOURCE_LENGTH,
    METHODS,
    Functions,
    Refused,
    add,
    check_int_size,
    is_number,
    multiply,
    power,
    to_boolean,
    to_text,
)
from engine.juel import LITERAL_NAMES, MAX_DEPTH, OPENING, JuelParser, JuelSyntax, load_name, tokenize

# Callers import the language's errors, limits and functions from here, its one front door.
__all__ = [
    "DEFAULT_FUNCTIONS",
    "MAX_REPEAT_LENGTH",
    "Expression",
    "ExpressionError",
    "ExpressionEvaluationError",
    "ExpressionFunctionError",
    "ExpressionSyntaxError",
    "Functions",
    "Template",
    "compile_expression",
    "compile_template",
    "evaluate",
    "is_expression",
    "render",
    "to_text",
]


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
    if isinstance(node, ast.Constant) and is_number(node.value):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _const_number(node.operand)
        return None if value is None else (-value if isinstance(node.op, ast.USub) else value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Pow)):
        left, right = _const_number(node.left), _const_number(node.right)
        if left is None or right is None:
            return None
        try:
            return check_int_size(
                {ast.Add: add, ast.Sub: operator.sub, ast.Mult: multiply, ast.Pow: power}[type(node.op)](
                    left, right
                )
            )
        except (Refused, ArithmeticError):
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
        except (Refused, ExecutionUnavailable) as err:
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
