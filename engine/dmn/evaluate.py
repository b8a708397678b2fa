"""Evaluating a decision table with Camunda 7's semantics, and mapping its result.

Inputs are evaluated once each, in column order, and each filters the rules still in
play (Camunda's DecisionTableEvaluationHandler). The hit policy then shapes the matches:
UNIQUE refuses two, ANY refuses two that differ, FIRST takes the first, RULE ORDER and
COLLECT keep all, COLLECT with SUM/MIN/MAX/COUNT folds them into one entry. PRIORITY and
OUTPUT ORDER (which Camunda 7 does not offer) follow DMN 1.3: the order of the output
column's predefined values. An empty output cell is left out of the rule's result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.dmn.model import (
    Aggregation,
    Decision,
    DecisionEvaluationError,
    DecisionTable,
    HitPolicy,
    Rule,
    TypeRefError,
    transform,
)
from engine.expressions import ExpressionEvaluationError

MAP_DECISION_RESULTS = ("singleEntry", "singleResult", "collectEntries", "resultList")


@dataclass
class MatchedRule:
    rule: Rule
    outputs: dict[str, Any]


@dataclass
class Evaluation:
    """One evaluation: the input values, the rules that matched, the result list."""

    decision: Decision
    inputs: list[tuple[str, str, Any]] = field(default_factory=list)  # (input id, title, value)
    matched: list[MatchedRule] = field(default_factory=list)
    result: list[dict[str, Any]] = field(default_factory=list)
    collect_name: str | None = None
    collect_value: Any = None

    def history(self) -> dict[str, Any]:
        """What the instance page and /history/decision-instance show."""
        return {
            "inputs": [{"id": i, "name": t, "value": v} for i, t, v in self.inputs],
            "matchedRules": [
                {
                    "id": m.rule.id,
                    "number": m.rule.number,
                    "description": m.rule.description,
                    "outputs": m.outputs,
                }
                for m in self.matched
            ],
            "result": self.result,
            "collectResultValue": self.collect_value,
        }


def evaluate(decision: Decision, variables: Mapping[str, Any]) -> Evaluation:
    """Evaluate `decision` against `variables`; raise DecisionEvaluationError as Camunda raises."""
    table = decision.table
    evaluation = Evaluation(decision)
    checks = []
    for index, column in enumerate(table.inputs):
        value = None
        if column.expression is not None:
            try:
                value = transform(column.type_ref, column.expression.evaluate(variables))
            except ExpressionEvaluationError as err:
                raise DecisionEvaluationError(
                    decision.key, f"input {column.title!r} ({column.text}) failed: {err.reason}"
                ) from None
            except TypeRefError as err:
                raise DecisionEvaluationError(decision.key, f"input {column.title!r}: {err}") from None
        evaluation.inputs.append((column.id, column.title, value))
        scope = _Scope(variables, column.variable, value) if column.expression is not None else variables
        checks.append((index, value, scope))
    try:
        remaining = _matching(table, checks, first_only=table.hit_policy is HitPolicy.FIRST)
    except ExpressionEvaluationError as err:
        raise DecisionEvaluationError(decision.key, f"an input cell failed: {err.reason}") from None
    matched = [MatchedRule(rule, _outputs(decision, rule, variables)) for rule in remaining]
    evaluation.matched = _apply_hit_policy(decision, matched)
    if table.aggregation is not None:
        _aggregate(decision, evaluation)
        if evaluation.collect_name is not None or evaluation.collect_value is not None:
            evaluation.result = [{evaluation.collect_name: evaluation.collect_value}]
    else:
        evaluation.result = [dict(m.outputs) for m in evaluation.matched]
    return evaluation


def _matching(table: DecisionTable, checks: list[tuple[int, Any, Any]], *, first_only: bool) -> list[Rule]:
    """The rules whose every input cell holds, in rule order (rules are the bits of an int).

    Columns of constant strings and `-` are looked up (DecisionTable.indexes); the others are
    tested rule by rule among the rules still in play, as Camunda filters column by column.
    With FIRST the rule-by-rule tests stop at the first rule that passes them all.
    """
    rules = table.rules
    alive = (1 << len(rules)) - 1
    tested = []
    for index, value, scope in checks:
        lookup = table.indexes[index] if table.indexes else None
        if lookup is not None:
            alive &= lookup.matches(value)
        else:
            tested.append((index, value, scope))
    found = []
    while alive:
        low = alive & -alive
        alive ^= low
        rule = rules[low.bit_length() - 1]
        cells = rule.tests
        if all(cells[index](value, scope) for index, value, scope in tested):
            found.append(rule)
            if first_only:
                break
    return found


class _Scope(Mapping[str, Any]):
    """The variables plus the current input under its inputVariable name, without a copy."""

    __slots__ = ("_base", "_name", "_value")

    def __init__(self, base: Mapping[str, Any], name: str, value: Any) -> None:
        self._base, self._name, self._value = base, name, value

    def __getitem__(self, key: str) -> Any:
        if key == self._name or key == "inputVariableName":
            return self._value if key == self._name else self._name
        return self._base[key]

    def __contains__(self, key: object) -> bool:
        return key in (self._name, "inputVariableName") or key in self._base

    def __iter__(self):
        yield self._name
        yield "inputVariableName"
        yield from (k for k in self._base if k not in (self._name, "inputVariableName"))

    def __len__(self) -> int:
        return len(self._base) + 2


def _outputs(decision: Decision, rule: Rule, variables: Mapping[str, Any]) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for column, expression in zip(decision.table.outputs, rule.outputs, strict=True):
        if expression is None:
            continue
        try:
            entries[column.name] = transform(column.type_ref, expression.evaluate(variables))
        except ExpressionEvaluationError as err:
            raise DecisionEvaluationError(
                decision.key, f"rule {rule.id!r} output {column.name!r} failed: {err.reason}"
            ) from None
        except TypeRefError as err:
            raise DecisionEvaluationError(
                decision.key, f"rule {rule.id!r} output {column.name!r}: {err}"
            ) from None
    return entries


def _ids(matched: list[MatchedRule]) -> str:
    return ", ".join(repr(m.rule.id) for m in matched)


def _apply_hit_policy(decision: Decision, matched: list[MatchedRule]) -> list[MatchedRule]:
    policy = decision.table.hit_policy
    if policy is HitPolicy.UNIQUE:
        if len(matched) > 1:
            raise DecisionEvaluationError(
                decision.key,
                f"hit policy 'UNIQUE' only allows a single rule to match; rules {_ids(matched)} matched "
                "(DMN-03001). Make the rules exclusive or choose hit policy FIRST",
            )
        return matched
    if policy is HitPolicy.FIRST:
        return matched[:1]
    if policy is HitPolicy.ANY:
        if any(m.outputs != matched[0].outputs for m in matched[1:]):
            raise DecisionEvaluationError(
                decision.key,
                f"hit policy 'ANY' only allows multiple matching rules with equal output; rules "
                f"{_ids(matched)} matched with different outputs (DMN-03002)",
            )
        return matched[:1]
    if policy in (HitPolicy.PRIORITY, HitPolicy.OUTPUT_ORDER):
        ordered = sorted(matched, key=lambda m: _priority(decision, m))
        return ordered[:1] if policy is HitPolicy.PRIORITY else ordered
    return matched  # RULE ORDER, COLLECT


def _priority(decision: Decision, matched: MatchedRule) -> tuple[int, ...]:
    ranks = []
    for column in decision.table.outputs:
        if not column.values:
            continue
        value = matched.outputs.get(column.name)
        ranks.append(column.values.index(value) if value in column.values else len(column.values))
    return tuple(ranks)


def _aggregate(decision: Decision, evaluation: Evaluation) -> None:
    values = []
    for m in evaluation.matched:
        if len(m.outputs) > 1:
            raise DecisionEvaluationError(
                decision.key, f"unable to aggregate compound output {m.outputs} (DMN-03003); one output only"
            )
        if m.outputs:
            if evaluation.collect_name is None:
                evaluation.collect_name = next(iter(m.outputs))
            values.append(next(iter(m.outputs.values())))
    aggregation = decision.table.aggregation
    if aggregation is Aggregation.COUNT:
        evaluation.collect_value = len(values)
        return
    if not values:
        return
    numbers = []
    for value in values:
        if isinstance(value, bool):
            raise DecisionEvaluationError(
                decision.key, f"unable to aggregate {values} (DMN-03004): not numbers"
            )
        if isinstance(value, int | float):
            numbers.append(value)
            continue
        try:
            numbers.append(int(str(value)))
        except ValueError:
            try:
                numbers.append(float(str(value)))
            except ValueError:
                raise DecisionEvaluationError(
                    decision.key, f"unable to aggregate {values} (DMN-03004): not numbers"
                ) from None
    if aggregation is Aggregation.SUM:
        evaluation.collect_value = sum(numbers)
    elif aggregation is Aggregation.MIN:
        evaluation.collect_value = min(numbers)
    else:
        evaluation.collect_value = max(numbers)
    if any(isinstance(n, float) for n in numbers):
        evaluation.collect_value = float(evaluation.collect_value)


class DecisionResultError(DecisionEvaluationError):
    """camunda:mapDecisionResult cannot shape this result (Camunda's ENGINE-22001/22002)."""


def map_result(decision: str, result: list[dict[str, Any]], how: str | None) -> Any:
    """Apply camunda:mapDecisionResult (resultList when unset) as Camunda's result mappers do."""
    how = how or "resultList"
    if how == "resultList":
        return [dict(entry) for entry in result]
    if how == "collectEntries":
        if not result:
            return []
        names = {name for entry in result for name in entry}
        if len(names) > 1:
            raise DecisionResultError(
                decision,
                f"mapDecisionResult collectEntries needs one output name, found {sorted(map(str, names))} "
                "(ENGINE-22002); use resultList",
            )
        name = next(iter(names))
        return [entry[name] for entry in result if name in entry]
    if len(result) > 1:
        raise DecisionResultError(
            decision,
            f"mapDecisionResult {how} needs at most one matching rule, {len(result)} matched (ENGINE-22001, "
            "DMN-01008); use collectEntries or resultList, or hit policy FIRST",
        )
    if how == "singleResult":
        return dict(result[0]) if result else None
    if how == "singleEntry":
        if not result:
            return None
        if len(result[0]) > 1:
            raise DecisionResultError(
                decision,
                f"mapDecisionResult singleEntry needs one output entry, the result has {sorted(result[0])} "
                "(ENGINE-22001, DMN-01010); use singleResult",
            )
        return next(iter(result[0].values()), None)
    raise DecisionResultError(
        decision, f"mapDecisionResult {how!r} is unknown; use one of {MAP_DECISION_RESULTS}"
    )
