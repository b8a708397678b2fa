"""Camunda Modeler decision tables deployed over REST and evaluated as Camunda 7 evaluates them.

tests/data/dmn/ holds Modeler 5 files (DMN 1.3): one decision per hit policy over the same
amounts, and a COLLECT table whose rules each use one form of unary test, so the result
names the forms that matched. The expected outputs are worked out by hand in each case.
Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.test_camunda7_deploy import basic, client, deploy, desk

__all__ = ["client", "desk"]

DMN = Path(__file__).parent / "data" / "dmn"


@pytest.fixture
def tables(client: FlaskClient) -> FlaskClient:
    files = [(name, (DMN / name).read_bytes()) for name in ("hit_policies.dmn", "unary_tests.dmn")]
    reply = deploy(client, *files)
    assert reply.status_code == 200, reply.json
    assert len(reply.json["deployedDecisionDefinitions"]) == 12
    return client


def typed(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"value": value, "type": "Boolean"}
    if isinstance(value, int):
        return {"value": value, "type": "Integer"}
    if value is None:
        return {"value": None, "type": "Null"}
    return {"value": value, "type": "String"}


def evaluate(client: FlaskClient, key: str, **variables: Any):
    return client.post(
        f"/engine-rest/decision-definition/key/{key}/evaluate",
        json={"variables": {name: typed(value) for name, value in variables.items()}},
        headers=basic("analyst"),
    )


def result(client: FlaskClient, key: str, **variables: Any) -> list[dict[str, Any]]:
    reply = evaluate(client, key, **variables)
    assert reply.status_code == 200, reply.json
    return [{name: entry["value"] for name, entry in row.items()} for row in reply.json]


# ----------------------------------------------------------------------------- hit policies


@pytest.mark.parametrize(
    ("key", "amount", "expected"),
    [
        # rules: < 100 -> low, [100..1000] -> medium, >= 500 -> high (and, for ANY, >= 500 -> high again)
        ("unique", 50, [{"risk": "low"}]),
        ("unique", 2000, [{"risk": "high"}]),
        ("unique", None, []),  # no rule matched: an empty result, not an error
        ("first", 700, [{"risk": "medium"}]),  # medium and high match; the first in rule order wins
        ("first", 2000, [{"risk": "high"}]),
        ("any", 2000, [{"risk": "high"}]),  # two rules, equal output
        ("priority", 700, [{"risk": "high"}]),  # output values "high","medium","low": high first
        ("priority", 50, [{"risk": "low"}]),
        ("ruleOrder", 700, [{"risk": "medium"}, {"risk": "high"}]),
        ("outputOrder", 700, [{"risk": "high"}, {"risk": "medium"}]),
        ("collect", 700, [{"risk": "medium"}, {"risk": "high"}]),
        ("collect", 1, [{"risk": "low"}]),
        # points: < 100 -> 1, [100..1000] -> 5, >= 500 -> 20, "-" -> (empty output cell, left out)
        ("collectSum", 700, [{"points": 25}]),
        ("collectSum", 50, [{"points": 1}]),
        ("collectSum", None, []),  # only the empty-output rule matched: nothing to sum
        ("collectMin", 700, [{"points": 5}]),
        ("collectMax", 700, [{"points": 20}]),
        ("collectCount", 700, [{"points": 2}]),
        ("collectCount", None, [{"null": 0}]),  # Camunda: COUNT of nothing is 0, under no output name
    ],
)
def test_each_hit_policy_gives_camundas_result(tables, key, amount, expected):
    assert result(tables, key, amount=amount) == expected


def test_unique_with_two_matching_rules_is_an_error_naming_both(tables):
    reply = evaluate(tables, "unique", amount=1000)  # [100..1000] and >= 1000
    assert reply.status_code == 500
    message = reply.json["message"]
    assert "UNIQUE" in message and "'Rule_unique_2'" in message and "'Rule_unique_3'" in message


def test_any_with_different_outputs_is_an_error(tables):
    reply = evaluate(tables, "any", amount=700)  # medium, high, high
    assert reply.status_code == 500 and "ANY" in reply.json["message"]


# ----------------------------------------------------------------------------- unary tests


def dated(client: FlaskClient, **variables: Any) -> list[str]:
    created = variables.pop("created")
    body = {name: typed(value) for name, value in variables.items()}
    body["created"] = {"value": created, "type": "Date"}
    reply = client.post(
        "/engine-rest/decision-definition/key/unaryTests/evaluate",
        json={"variables": body},
        headers=basic("analyst"),
    )
    assert reply.status_code == 200, reply.json
    return [row["form"]["value"] for row in reply.json]


def test_unary_tests_vpn_three_in_december(tables):
    assert dated(tables, category="vpn", amount=3, limit=3, created="2026-12-07T10:00:00.000+0000") == [
        "list",  # "network","vpn"
        "not",  # not("network")
        "less than",  # < 10
        "closed interval",  # [1..5]
        "open interval",  # ]1..5[
        "any",  # -
        "empty",  # empty cells
        "in December",  # [date and time(...)..date and time(...)]
        "at least the limit",  # >= limit (a variable)
    ]


def test_unary_tests_network_five_in_november(tables):
    assert dated(tables, category="network", amount=5, limit=10, created="2026-11-30T23:00:00.000+0000") == [
        "list",
        "less than",
        "closed interval",  # 5 is inside [1..5] but not inside ]1..5[
        "any",
        "empty",
        "before December",  # < date and time("2026-12-01T00:00:00")
    ]


def test_unary_tests_hardware_minus_five_last_second_of_the_year(tables):
    assert dated(tables, category="hardware", amount=-5, limit=0, created="2026-12-31T23:59:59.000+0000") == [
        "not",
        "less than",
        "any",
        "empty",
        "in December",  # the closing ] includes the last second
        "minus five or seven",  # -5, 7
        "hardware: hardware",  # output entry "hardware: " + category
    ]


def test_an_open_interval_excludes_its_ends(tables):
    forms = dated(tables, category="other", amount=1, limit=5, created="2027-01-01T00:00:00.000+0000")
    assert "closed interval" in forms and "open interval" not in forms


# ----------------------------------------------------------------------------- REST shape


def test_definitions_xml_and_history_are_served_as_camunda_serves_them(tables):
    listed = tables.get("/engine-rest/decision-definition?latestVersion=true", headers=basic("operator"))
    assert sorted(d["key"] for d in listed.json)[:3] == ["any", "collect", "collectCount"]
    one = tables.get("/engine-rest/decision-definition/key/first", headers=basic("operator")).json
    assert one["version"] == 1 and one["resource"] == "hit_policies.dmn" and one["name"] == "First"
    xml = tables.get("/engine-rest/decision-definition/key/first/xml", headers=basic("operator")).json
    assert xml["id"] == one["id"] and 'id="first"' in xml["dmnXml"]
    by_id = tables.post(
        f"/engine-rest/decision-definition/{one['id']}/evaluate",
        json={"variables": {"amount": typed(2000)}},
        headers=basic("analyst"),
    )
    assert by_id.json == [{"risk": {"type": "String", "value": "high", "valueInfo": {}}}]
    result(tables, "first", amount=700)
    history = tables.get(
        "/engine-rest/history/decision-instance?decisionDefinitionKey=first&includeInputs=true"
        "&includeOutputs=true",
        headers=basic("analyst"),
    ).json
    assert len(history) == 2  # the evaluation by id, and this one
    [row] = [h for h in history if h["inputs"][0]["value"] == 700]
    assert row["decisionDefinitionId"] == one["id"] and row["userId"] == "analyst"
    assert [(i["clauseName"], i["value"]) for i in row["inputs"]] == [("Amount", 700)]
    assert [(o["ruleId"], o["ruleOrder"], o["variableName"], o["value"]) for o in row["outputs"]] == [
        ("Rule_first_2", 2, "risk", "medium")
    ]


def test_evaluating_needs_the_evaluate_permission_and_an_unknown_key_is_404(tables):
    refused = tables.post(
        "/engine-rest/decision-definition/key/first/evaluate",
        json={"variables": {"amount": typed(1)}},
        headers=basic("operator"),
    )
    assert refused.status_code == 403
    missing = evaluate(tables, "nope", amount=1)
    assert missing.status_code == 404 and "nope" in missing.json["message"]
