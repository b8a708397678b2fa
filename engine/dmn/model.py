"""Decision tables as compiled at deploy: inputs, outputs, rules and their cells.

Each cell keeps the text the analyst wrote beside its compiled form, so history, the
REST answers and every error can show the table as it was drawn.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from engine.dmn.feel import FeelExpression, Test, _parse_datetime
from engine.errors import EngineError


class HitPolicy(enum.StrEnum):
    UNIQUE = "UNIQUE"
    FIRST = "FIRST"
    PRIORITY = "PRIORITY"
    ANY = "ANY"
    COLLECT = "COLLECT"
    RULE_ORDER = "RULE ORDER"
    OUTPUT_ORDER = "OUTPUT ORDER"


class Aggregation(enum.StrEnum):
    SUM = "SUM"
    MIN = "MIN"
    MAX = "MAX"
    COUNT = "COUNT"


class DecisionEvaluationError(EngineError):
    """A decision could not be evaluated for these variables (Camunda's DMN-… engine errors)."""

    def __init__(self, decision: str, reason: str) -> None:
        self.decision, self.reason = decision, reason
        super().__init__(f"Decision {decision!r}: {reason}")


class TypeRefError(ValueError):
    """A value cannot be taken as the column's typeRef."""


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeRefError
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal) and float(value).is_integer():
        return int(value)
    if isinstance(value, str):
        return int(value.strip())
    raise TypeRefError


def _double(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeRefError
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, str):
        return float(value.strip())
    raise TypeRefError


def _number(value: Any) -> int | float:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return _double(value)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise TypeRefError


def _string(value: Any) -> str:
    """Camunda's StringDataTypeTransformer takes anything (String.valueOf)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _date(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return _parse_datetime(value)
    raise TypeRefError


#: Camunda's DMN data types (typeRef) and how a value becomes one; "" is untyped.
TYPE_REFS: Mapping[str, Any] = {
    "string": _string,
    "integer": _integer,
    "long": _integer,
    "double": _double,
    "number": _number,
    "boolean": _boolean,
    "date": _date,
}


def transform(type_ref: str | None, value: Any) -> Any:
    """The value as the column's typeRef holds it (null stays null); raise TypeRefError."""
    if value is None or not type_ref:
        return value
    try:
        return TYPE_REFS[type_ref](value)
    except (TypeRefError, ValueError, TypeError):
        raise TypeRefError(f"value {value!r} cannot be taken as typeRef {type_ref!r}") from None


@dataclass(frozen=True)
class DecisionInput:
    """One input column: its expression (None: the column reads nothing) and its type."""

    id: str
    label: str | None
    text: str
    expression: FeelExpression | None
    type_ref: str | None
    variable: str  # camunda:inputVariable, "cellInput" by default

    @property
    def title(self) -> str:
        return self.label or self.text or self.id


@dataclass(frozen=True)
class DecisionOutput:
    """One output column: the result entry's name, its type and (for PRIORITY) its ordered values."""

    id: str
    label: str | None
    name: str
    type_ref: str | None
    values: tuple[Any, ...] = ()

    @property
    def title(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class Rule:
    """One row: a test per input, an expression (or nothing) per output."""

    id: str
    number: int  # 1-based, as the Modeler shows it
    description: str | None
    input_texts: tuple[str, ...]
    tests: tuple[Test, ...]
    output_texts: tuple[str, ...]
    outputs: tuple[FeelExpression | None, ...]


@dataclass(frozen=True)
class ColumnIndex:
    """A column whose cells are all constant strings or `-`: which rules a value lets through.

    Rules are bits of an int; `by_value` maps a string to the rules naming it, `wildcard`
    holds the rules whose cell matches anything. Evaluation then costs one dict lookup.
    """

    by_value: Mapping[str, int]
    wildcard: int

    def matches(self, value: Any) -> int:
        if type(value) is str:
            return self.by_value.get(value, 0) | self.wildcard
        return self.wildcard


def column_index(tests: list[Test]) -> ColumnIndex | None:
    """The index of one column's tests, or None when one of them is not a constant lookup."""
    by_value: dict[str, int] = {}
    wildcard = 0
    for number, test in enumerate(tests):
        bit = 1 << number
        if getattr(test, "matches_all", False):
            wildcard |= bit
            continue
        texts = getattr(test, "constant_strings", None)
        if texts is None:
            return None
        for text in texts:
            by_value[text] = by_value.get(text, 0) | bit
    return ColumnIndex(by_value, wildcard)


@dataclass(frozen=True)
class DecisionTable:
    hit_policy: HitPolicy
    aggregation: Aggregation | None
    inputs: tuple[DecisionInput, ...]
    outputs: tuple[DecisionOutput, ...]
    rules: tuple[Rule, ...]
    indexes: tuple[ColumnIndex | None, ...] = ()  # per input column (engine.dmn.model.column_index)


@dataclass(frozen=True)
class Decision:
    """A decision of a DMN file: its id is the decision definition key."""

    key: str
    name: str | None
    version_tag: str | None
    history_ttl: str | None
    resource: str
    table: DecisionTable
