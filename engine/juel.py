"""JUEL as Camunda analysts write it (`${amount gt 1000 && !empty comment}`), turned into the
Python syntax tree engine.expressions checks and sandboxes.

The tokenizer and the precedence-climbing parser keep EL's meaning: word operators (`eq`, `and`,
`empty`…), `x.y` and `x[k]`, the ternary, method calls, and string literals in either quote. They
produce a tree only; nothing here evaluates anything, and every tree goes through the whitelist in
engine.expressions before it is compiled.
"""

from __future__ import annotations

import ast
import keyword
import re
from typing import Any, NamedTuple

#: Deepest nesting of brackets and operators.
MAX_DEPTH = 100
#: JUEL's literals, which plain Python may spell too.
LITERAL_NAMES = {"null": None, "true": True, "false": False}


class JuelSyntax(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message, self.pos = message, pos


class _Token(NamedTuple):
    kind: str  # number | string | name | op | end
    value: Any
    text: str
    pos: int


_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[^\W\d]\w*")
_OPERATORS = ("&&", "||", "==", "!=", "<=", ">=", "<", ">", "!", "+", "-", "*", "/", "%", "?", ":", ".", ",")
_BRACKETS = "()[]{}"
_WORD_OPERATORS = {
    "and": "&&",
    "or": "||",
    "not": "!",
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "gt": ">",
    "le": "<=",
    "ge": ">=",
    "div": "/",
    "mod": "%",
}
_CONSTANTS = {**LITERAL_NAMES, "True": True, "False": False, "None": None}
_MISTAKES = {"=": "use '==' (or 'eq') to compare", "&": "use '&&' (or 'and')", "|": "use '||' (or 'or')"}
OPENING = re.compile(r"(?<!\\)[$#]\{")


def _read_string(text: str, pos: int) -> tuple[str, int]:
    quote, i, out = text[pos], pos + 1, []
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in "\\'\"":
            out.append(text[i + 1])
            i += 2
        elif char == quote:
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    raise JuelSyntax("a text literal is missing its closing quote", pos)


def tokenize(text: str, pos: int = 0, *, closing_brace: bool = False) -> tuple[list[_Token], int]:
    """Split JUEL into tokens; with closing_brace, stop after the '}' that ends a ${...}.

    Quoted text is read as one token, so operators inside quotes stay literal.
    """
    tokens: list[_Token] = []
    depth = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            if closing_brace:
                raise JuelSyntax("the closing '}' is missing", pos)
            tokens.append(_Token("end", None, "the end", pos))
            return tokens, pos
        char = text[pos]
        if char in "'\"":
            value, end = _read_string(text, pos)
            tokens.append(_Token("string", value, text[pos:end], pos))
            pos = end
        elif match := _NUMBER.match(text, pos):
            literal = match.group()
            value = float(literal) if any(c in literal for c in ".eE") else int(literal)
            tokens.append(_Token("number", value, literal, pos))
            pos = match.end()
        elif match := _NAME.match(text, pos):
            word = match.group()
            kind, value = ("op", _WORD_OPERATORS[word]) if word in _WORD_OPERATORS else ("name", word)
            tokens.append(_Token(kind, value, word, pos))
            pos = match.end()
        elif char in _BRACKETS:
            if char == "}" and depth == 0 and closing_brace:
                tokens.append(_Token("end", None, "the end", pos))
                return tokens, pos + 1
            depth += 1 if char == "{" else -1 if char == "}" else 0
            tokens.append(_Token("op", char, char, pos))
            pos += 1
        else:
            op = next((op for op in _OPERATORS if text.startswith(op, pos)), None)
            if op is None and closing_brace:
                op = char  # only looking for the end here; the body is parsed (JUEL or Python) later
            elif op is None:
                hint = _MISTAKES.get(char)
                raise JuelSyntax(f"unexpected {char!r}" + (f"; {hint}" if hint else ""), pos)
            tokens.append(_Token("op", op, op, pos))
            pos += len(op)


_LEVELS: tuple[tuple[str, ...], ...] = (
    ("||",),
    ("&&",),
    ("==", "!="),
    ("<", ">", "<=", ">=", "in", "not in"),
    ("+", "-"),
    ("*", "/", "%"),
)
_COMPARE_OPS: dict[str, type[ast.cmpop]] = {
    "==": ast.Eq,
    "!=": ast.NotEq,
    "<": ast.Lt,
    "<=": ast.LtE,
    ">": ast.Gt,
    ">=": ast.GtE,
    "in": ast.In,
    "not in": ast.NotIn,
}
_ARITHMETIC_OPS: dict[str, type[ast.operator]] = {
    "+": ast.Add,
    "-": ast.Sub,
    "*": ast.Mult,
    "/": ast.Div,
    "%": ast.Mod,
}


def load_name(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Load())


class JuelParser:
    """Recursive descent over JUEL's grammar, building the equivalent Python syntax tree.

    Building a tree (not pasting text) keeps JUEL's precedence: `!a == b` is `(not a) == b`.
    """

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens, self.i, self.depth = tokens, 0, 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def at(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.value in ops

    def expect(self, op: str, context: str) -> None:
        if not self.at(op):
            raise JuelSyntax(f"expected {op!r} {context}, found {self.tok.text!r}", self.tok.pos)
        self.take()

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise JuelSyntax("it is nested too deeply", self.tok.pos)

    def parse(self) -> ast.expr:
        node = self.ternary()
        if self.tok.kind != "end":
            raise JuelSyntax(f"unexpected {self.tok.text!r}", self.tok.pos)
        return node

    def ternary(self) -> ast.expr:
        self.nest()
        node = self.binary(0)
        if self.at("?"):
            self.take()
            body = self.ternary()
            self.expect(":", "in a ?: choice")
            node = ast.IfExp(test=node, body=body, orelse=self.ternary())
        self.depth -= 1
        return node

    def binary_op(self, level: int) -> str | None:
        ops = _LEVELS[level]
        if self.tok.kind == "op" and self.tok.value in ops:
            return self.take().value
        if "in" in ops and self.tok.kind == "name" and self.tok.value == "in":
            self.take()
            return "in"
        nxt = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else None
        if "in" in ops and self.tok.text == "not" and nxt is not None and nxt.value == "in":
            self.take(), self.take()
            return "not in"
        return None

    def binary(self, level: int) -> ast.expr:
        if level == len(_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while (op := self.binary_op(level)) is not None:
            if self.tok.kind == "end":
                raise JuelSyntax(f"expected a value after {op!r}", self.tok.pos)
            right = self.binary(level + 1)
            if op in ("||", "&&"):
                kind = ast.Or if op == "||" else ast.And
                values = left.values if isinstance(left, ast.BoolOp) and isinstance(left.op, kind) else [left]
                left = ast.BoolOp(op=kind(), values=[*values, right])
            elif op in _COMPARE_OPS:
                left = ast.Compare(left=left, ops=[_COMPARE_OPS[op]()], comparators=[right])
            else:
                left = ast.BinOp(left=left, op=_ARITHMETIC_OPS[op](), right=right)
        return left

    def unary(self) -> ast.expr:
        tok = self.tok
        if self.at("!", "-") or (tok.kind == "name" and tok.value == "empty"):
            self.nest()
            self.take()
            if self.tok.kind == "end":
                raise JuelSyntax(f"expected a value after {tok.text!r}", self.tok.pos)
            operand = self.unary()
            self.depth -= 1
            if tok.value == "!":
                return ast.UnaryOp(op=ast.Not(), operand=operand)
            if tok.value == "-":
                return ast.UnaryOp(op=ast.USub(), operand=operand)
            return ast.Call(func=load_name("is_empty"), args=[operand], keywords=[])
        return self.postfix(self.primary())

    def postfix(self, node: ast.expr) -> ast.expr:
        while True:
            if self.at("."):
                self.take()
                tok = self.take()
                if tok.kind not in ("name", "op") or not str(tok.text).isidentifier():
                    raise JuelSyntax(f"expected a field name after '.', found {tok.text!r}", tok.pos)
                name = tok.text
                if self.at("("):
                    if keyword.iskeyword(name):
                        raise JuelSyntax(f"'.{name}()' is not a method expressions can call", tok.pos)
                    func = ast.Attribute(value=node, attr=name, ctx=ast.Load())
                    node = ast.Call(func=func, args=self.arguments(), keywords=[])
                elif keyword.iskeyword(name):
                    node = ast.Subscript(value=node, slice=ast.Constant(name), ctx=ast.Load())
                else:
                    node = ast.Attribute(value=node, attr=name, ctx=ast.Load())
            elif self.at("["):
                self.take()
                index = self.ternary()
                self.expect("]", "to close '['")
                node = ast.Subscript(value=node, slice=index, ctx=ast.Load())
            else:
                return node

    def arguments(self) -> list[ast.expr]:
        self.expect("(", "before arguments")
        return self.items(")")

    def items(self, close: str) -> list[ast.expr]:
        items: list[ast.expr] = []
        while not self.at(close):
            items.append(self.ternary())
            if not self.at(close):
                self.expect(",", f"or {close!r} between items")
        self.take()
        return items

    def primary(self) -> ast.expr:
        tok = self.tok
        if tok.kind in ("number", "string"):
            self.take()
            return ast.Constant(tok.value)
        if tok.kind == "name":
            self.take()
            if tok.value in _CONSTANTS:
                return ast.Constant(_CONSTANTS[tok.value])
            if keyword.iskeyword(tok.value) or tok.value in ("empty", "instanceof"):
                raise JuelSyntax(f"unexpected {tok.text!r}", tok.pos)
            if self.at("("):
                return ast.Call(func=load_name(tok.value), args=self.arguments(), keywords=[])
            return load_name(tok.value)
        if self.at("("):
            self.take()
            node = self.ternary()
            self.expect(")", "to close '('")
            return node
        if self.at("["):
            self.take()
            return ast.List(elts=self.items("]"), ctx=ast.Load())
        if self.at("{"):
            return self.braces()
        found = "nothing" if tok.kind == "end" else repr(tok.text)
        raise JuelSyntax(f"expected a value, found {found}", tok.pos)

    def braces(self) -> ast.expr:
        self.take()
        if self.at("}"):
            self.take()
            return ast.Dict(keys=[], values=[])
        first = self.ternary()
        if not self.at(":"):
            return ast.Set(elts=[first, *self.rest_of_set()])
        keys, values = [first], []
        while True:
            self.expect(":", "between a key and its value")
            values.append(self.ternary())
            if self.at("}"):
                self.take()
                return ast.Dict(keys=keys, values=values)
            self.expect(",", "or '}' between entries")
            keys.append(self.ternary())

    def rest_of_set(self) -> list[ast.expr]:
        if self.at("}"):
            self.take()
            return []
        self.expect(",", "or '}' between items")
        return self.items("}")
