"""Deploying .dmn files through every door: versions, duplicate filtering, and refusals that
name the decision, the rule and the cell (hostile FEEL or JUEL included)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, select

from engine.deploy import DeployError
from engine.deploy import deploy as engine_deploy
from engine.dmn.parse import parse_dmn
from engine.store import Base, DecisionDefinition
from tests.test_camunda7_deploy import basic, client, deploy, desk
from tests.web_helpers import csrf_token, staff_client
from web.db import upgrade

__all__ = ["client", "desk"]

DMN = Path(__file__).parent / "data" / "dmn"
HIT_POLICIES = (DMN / "hit_policies.dmn").read_bytes()

TABLE = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="D"
  namespace="http://camunda.org/schema/1.0/dmn">
  <decision id="dish" name="Dish">
    <decisionTable id="t" hitPolicy="{policy}">
      <input id="season" label="Season">
        <inputExpression id="e1" typeRef="string" {language}><text>{input}</text></inputExpression>
      </input>
      <output id="o1" label="Dish" name="dish" typeRef="{output_type}" />
      <rule id="winter"><inputEntry id="c1"><text>"Winter"</text></inputEntry>
        <outputEntry id="c2"><text>"Roastbeef"</text></outputEntry></rule>
      <rule id="summer"><inputEntry id="c3" {entry_language}><text>{cell}</text></inputEntry>
        <outputEntry id="c4"><text>{output}</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>
"""


def table(
    *,
    policy: str = "FIRST",
    input: str = "season",
    cell: str = "&quot;Summer&quot;",
    output: str = "&quot;Salad&quot;",
    language: str = "",
    entry_language: str = "",
    output_type: str = "string",
) -> bytes:
    return TABLE.format(
        policy=policy,
        input=input,
        cell=cell,
        output=output,
        language=language,
        entry_language=entry_language,
        output_type=output_type,
    ).encode()


def problems(content: bytes) -> list[str]:
    return [str(p) for p in parse_dmn({"dish.dmn": content}).errors]


# ----------------------------------------------------------------------------- refusals (no database)


@pytest.mark.parametrize(
    ("cell", "language"),
    [
        ("&quot;a&quot;.__class__", ""),
        ("__import__(&quot;os&quot;)", ""),
        ("season.__globals__", ""),
        ("${season.getClass().forName('java.lang.Runtime')}", 'expressionLanguage="juel"'),
        ("${''.__class__.__mro__}", 'expressionLanguage="juel"'),
        ("open(&quot;/etc/passwd&quot;)", ""),
    ],
)
def test_hostile_feel_or_juel_in_a_cell_is_refused_naming_the_rule_and_cell(cell, language):
    [problem] = problems(table(cell=cell, entry_language=language))
    assert "dish.dmn" in problem and "decision 'dish'" in problem
    assert "rule 'summer' (row 2)" in problem and "input cell 'Season' (c3)" in problem


def test_a_script_language_is_refused_since_it_would_run_code():
    [problem] = problems(table(language='expressionLanguage="javascript"', input="season"))
    assert "input 'Season'" in problem and "'javascript' is not supported" in problem


def test_a_hostile_output_entry_is_refused_naming_the_output_cell():
    [problem] = problems(table(output="dish.__dict__"))
    assert "rule 'summer' (row 2), output cell 'dish' (c4)" in problem


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"policy": "SOMETIMES"}, "hit policy 'SOMETIMES' is unknown"),
        ({"policy": "PRIORITY"}, "set 'Predefined values' (outputValues)"),
        ({"cell": "[1..5"}, "an interval needs a closing"),
        ({"cell": "if x then 1 else 2"}, "if-then-else"),
        ({"cell": "&apos;Summer&apos;"}, "FEEL strings use double quotes"),
        ({"output_type": "integer"}, "cannot be taken as typeRef 'integer'"),
    ],
)
def test_what_cannot_be_evaluated_is_refused_at_deploy(change, expected):
    found = problems(table(**change))
    assert found and expected in found[0], found


def test_a_decision_requirements_diagram_and_a_literal_expression_are_refused_by_name():
    drd = HIT_POLICIES.replace(
        b'<decision id="first" name="First">',
        b'<decision id="first" name="First"><informationRequirement id="ir"><requiredDecision href="#any"/>'
        b"</informationRequirement>",
    )
    assert any("decision 'first'" in p and "requires other decisions" in p for p in problems(drd))
    literal = (
        b'<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="x" name="x" namespace="n">'
        b'<decision id="greeting"><literalExpression id="l"><text>"hi"</text></literalExpression></decision>'
        b"</definitions>"
    )
    assert any("decision 'greeting'" in p and "literalExpression" in p for p in problems(literal))


def test_a_dtd_in_a_dmn_file_is_refused():
    evil = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]>' + HIT_POLICIES.split(b"?>", 1)[1]
    assert any("DOCTYPE" in p for p in problems(evil))


# ----------------------------------------------------------------------------- doors and versions


def versions(app, key: str) -> list[int]:
    with app.extensions["sessions"]() as session:
        return list(
            session.scalars(
                select(DecisionDefinition.version)
                .where(DecisionDefinition.key == key)
                .order_by(DecisionDefinition.version)
            )
        )


def test_rest_deploy_versions_decisions_and_filters_duplicates_like_the_modeler(desk, client):
    first = deploy(client, ("hit_policies.dmn", HIT_POLICIES))
    assert first.status_code == 200, first.json
    dto = next(d for d in first.json["deployedDecisionDefinitions"].values() if d["key"] == "first")
    assert dto["version"] == 1 and dto["deploymentId"] == first.json["id"]
    assert first.json["deployedProcessDefinitions"] is None

    again = client.post(
        "/engine-rest/deployment/create",
        data={
            "deployment-name": "again",
            "enable-duplicate-filtering": "true",
            "hit_policies.dmn": (io.BytesIO(HIT_POLICIES), "hit_policies.dmn"),
        },
        headers=basic("analyst"),
    )
    assert again.status_code == 200 and again.json["id"] == first.json["id"]  # nothing new
    assert versions(desk, "first") == [1]

    changed = HIT_POLICIES.replace(b'"medium"', b'"moderate"')
    assert deploy(client, ("hit_policies.dmn", changed)).status_code == 200
    assert versions(desk, "first") == [1, 2]
    latest = client.get("/engine-rest/decision-definition/key/first", headers=basic("operator")).json
    assert latest["version"] == 2


def test_a_refused_table_answers_400_naming_the_decision_rule_and_cell_and_stores_nothing(desk, client):
    reply = deploy(client, ("dish.dmn", table(cell="season.__class__")))
    assert reply.status_code == 400
    assert reply.json["type"] == "ParseException"
    assert "Errors in decision resource 'dish.dmn'" in reply.json["message"]
    assert "rule 'summer' (row 2), input cell 'Season' (c3)" in reply.json["message"]
    assert versions(desk, "dish") == []


def test_the_cli_deploys_a_lone_dmn_and_a_folder_with_it(desk, tmp_path):
    (tmp_path / "dish.dmn").write_bytes(table())
    result = desk.test_cli_runner().invoke(args=["deploy", str(tmp_path / "dish.dmn")])
    assert result.exit_code == 0, result.output
    assert "decision dish version 1" in result.output
    assert versions(desk, "dish") == [1]


def test_the_deploy_page_takes_a_dmn_file(desk):
    analyst = staff_client(desk, "analyst")
    page = analyst.post(
        "/processes/deploy",
        data={"csrf_token": csrf_token(analyst), "files": [(io.BytesIO(table()), "dish.dmn")]},
        content_type="multipart/form-data",
    )
    assert page.status_code == 200, page.get_data(as_text=True)
    assert "<code>dish</code> v1" in page.get_data(as_text=True)


def test_engine_deploy_refuses_two_decisions_with_one_id(desk):
    with pytest.raises(DeployError) as refused:
        engine_deploy(desk.extensions["sessions"], {"a.dmn": table(), "b.dmn": table()})
    assert any("decision 'dish' is defined twice" in p.message for p in refused.value.problems)


def test_the_decision_tables_migration_matches_the_models(tmp_path):
    url = f"sqlite:///{tmp_path}/parity.db"
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    ours = [d for d in diff if "decision_" in repr(d)]
    assert ours == []


def test_deleting_a_deployment_deletes_its_decisions(desk, client):
    first = deploy(client, ("dish.dmn", table()))
    assert (
        client.delete(f"/engine-rest/deployment/{first.json['id']}", headers=basic("analyst")).status_code
        == 204
    )
    assert versions(desk, "dish") == []
    assert (
        client.get("/engine-rest/decision-definition/key/dish", headers=basic("operator")).status_code == 404
    )
