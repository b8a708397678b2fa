"""Decision-table figures for bench/desk.py: evaluations per second of a 50-rule table.

The table is what an analyst draws in Camunda Modeler for routing by category and amount:
two inputs (a string list and a numeric interval per rule), two outputs, 50 rules, hit
policy FIRST and, for comparison, UNIQUE and COLLECT (which test every rule). Inputs are
drawn at random so matches fall anywhere in the table, and a share matches no rule.
"""

from __future__ import annotations

import random
import time

from engine.dmn.evaluate import evaluate
from engine.dmn.model import Decision
from engine.dmn.parse import parse_dmn

RULES = 50
SAMPLES = 20_000
REPEATS = 3
SEED = 20261207
CATEGORIES = [f"cat{n}" for n in range(10)]


def table_xml(hit_policy: str, rules: int = RULES) -> bytes:
    """A Camunda Modeler (DMN 1.3) table: rule i takes two categories and an amount interval."""
    rows = []
    for i in range(rules):
        low = (i // 10) * 1000
        categories = (
            f'"{CATEGORIES[i % 10]}","{CATEGORIES[(i + 3) % 10]}"'
            if hit_policy != "UNIQUE"
            else (f'"{CATEGORIES[i % 10]}"')
        )
        rows.append(
            f'<rule id="Rule_{i}"><inputEntry id="c{i}"><text>{categories}</text></inputEntry>'
            f'<inputEntry id="a{i}"><text>[{low}..{low + 999}]</text></inputEntry>'
            f'<outputEntry id="g{i}"><text>"group{i}"</text></outputEntry>'
            f'<outputEntry id="e{i}"><text>"executor{i % 7}"</text></outputEntry></rule>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="bench" name="Bench" '
        'namespace="http://camunda.org/schema/1.0/dmn">'
        f'<decision id="bench" name="Bench"><decisionTable id="t" hitPolicy="{hit_policy}">'
        '<input id="i1" label="Category"><inputExpression id="x1" typeRef="string"><text>category</text>'
        "</inputExpression></input>"
        '<input id="i2" label="Amount"><inputExpression id="x2" typeRef="integer"><text>amount</text>'
        "</inputExpression></input>"
        '<output id="o1" label="Group" name="group" typeRef="string"/>'
        '<output id="o2" label="Executor" name="executor" typeRef="string"/>'
        + "".join(rows)
        + "</decisionTable></decision></definitions>"
    ).encode()


def compiled(hit_policy: str) -> Decision:
    parsed = parse_dmn({"bench.dmn": table_xml(hit_policy)})
    assert not parsed.errors, parsed.errors
    return parsed.decisions["bench"]


def evaluations_per_second(decision: Decision, samples: int = SAMPLES, seed: int = SEED) -> float:
    rng = random.Random(seed)
    inputs = [
        {"category": rng.choice(CATEGORIES + ["other"]), "amount": rng.randrange(0, 5500), "subject": "x"}
        for _ in range(samples)
    ]
    best = float("inf")
    for attempt in range(REPEATS + 1):
        began = time.perf_counter()
        for variables in inputs:
            evaluate(decision, variables)
        if attempt:
            best = min(best, time.perf_counter() - began)
    return samples / best


def decision_figures() -> dict[str, float]:
    return {
        f"{policy}, {RULES} rules (evaluations/s)": evaluations_per_second(compiled(policy))
        for policy in ("FIRST", "UNIQUE", "COLLECT")
    }
