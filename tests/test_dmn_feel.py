"""FEEL cells as Camunda 7.20 (FEEL-Scala) reads them, without a database: the compiled tests,
the looked-up columns (constant strings and `-`) and the values that are not what a cell expects."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.dmn.evaluate import evaluate
from engine.dmn.feel import FeelError, compile_feel, compile_unary_tests
from engine.dmn.parse import parse_dmn

TABLE = """<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d" namespace="n">
<decision id="t"><decisionTable id="x" hitPolicy="RULE ORDER">
<input id="i1" label="Category"><inputExpression id="e1"><text>category</text></inputExpression></input>
<output id="o1" name="rule" typeRef="string"/>
<rule id="r1"><inputEntry id="a1"><text>"a","b"</text></inputEntry>
  <outputEntry id="b1"><text>"ab"</text></outputEntry></rule>
<rule id="r2"><inputEntry id="a2"><text>-</text></inputEntry>
  <outputEntry id="b2"><text>"any"</text></outputEntry></rule>
<rule id="r3"><inputEntry id="a3"><text>"b"</text></inputEntry>
  <outputEntry id="b3"><text>"b"</text></outputEntry></rule>
<rule id="r4"><inputEntry id="a4"><text>not("a","b")</text></inputEntry>
  <outputEntry id="b4"><text>"neither"</text></outputEntry></rule>
</decisionTable></decision></definitions>"""


@pytest.mark.parametrize(
    ("category", "rules"),
    [
        ("b", ["ab", "any", "b"]),
        ("a", ["ab", "any"]),
        ("c", ["any", "neither"]),
        (None, ["any", "neither"]),  # null is no string of the list
        (5, ["any", "neither"]),  # a number is never equal to a string
    ],
)
def test_a_looked_up_column_gives_what_testing_each_rule_gives(category, rules):
    decision = parse_dmn({"t.dmn": TABLE.encode()}).decisions["t"]
    assert decision.table.indexes[0] is None  # not("a","b") is tested, so the column is not looked up
    assert [r["rule"] for r in evaluate(decision, {"category": category}).result] == rules
    looked_up = parse_dmn({"t.dmn": TABLE.replace('not("a","b")', '"z"').encode()}).decisions["t"]
    assert looked_up.table.indexes[0] is not None
    expected = [r for r in rules if r != "neither"]
    assert [r["rule"] for r in evaluate(looked_up, {"category": category}).result] == expected


def test_a_feel_variable_that_is_not_set_is_null_and_a_juel_one_is_an_error():
    assert compile_feel("amount").evaluate({}) is None
    assert compile_feel("amount * 2").evaluate({}) is None
    assert compile_feel("amount * 2").evaluate({"amount": 4}) == 8


def test_dates_without_a_zone_compare_with_dates_that_have_one_as_utc():
    before = compile_unary_tests('< date and time("2026-12-01T00:00:00")')
    assert before(datetime(2026, 11, 30, 23, 59, tzinfo=UTC), {})
    assert not before(datetime(2026, 12, 1, 0, 0, tzinfo=UTC), {})
    assert not before("2026-11-30", {})  # text is not a date: not applicable


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('"a" = "a"', "is not a unary test here"),
        ("amount > 5 and amount < 9", "is not a unary test here"),
        ("[1..", "a value is missing"),
        ("some x in y satisfies x", "quantified expressions"),
        ('"unterminated', "closing double quote"),
    ],
)
def test_cells_that_are_not_simple_unary_tests_are_refused_with_the_reason(text, reason):
    with pytest.raises(FeelError) as refused:
        compile_unary_tests(text)
    assert reason in str(refused.value)
