"""Business rule tasks run as in Camunda 7, replayed on Camunda's own test resources
(engine/src/test/resources/org/camunda/bpm/engine/test/dmn/, copied to tests/data/dmn/camunda/):
decisionRef with its bindings, resultVariable and each mapDecisionResult, the errors Camunda
raises, and the history of every evaluation. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from engine.deploy import DeployError
from engine.deploy import deploy as engine_deploy
from engine.errors import ProcessError
from engine.store import DecisionInstance, HistoryEvent
from tests.test_camunda7_deploy import desk
from tests.web_helpers import staff_client

__all__ = ["desk"]

CAMUNDA = Path(__file__).parent / "data" / "dmn" / "camunda"
MAPPING = "DmnBusinessRuleTaskResultMappingTest"
TASK = "DmnBusinessRuleTaskTest"


def deploy(app: Flask, *names: str, **extra: bytes) -> None:
    resources = {name: (CAMUNDA / name).read_bytes() for name in names}
    engine_deploy(app.extensions["sessions"], {**resources, **extra})


def start(app: Flask, key: str = "testProcess", **variables):
    runtime = app.extensions["runtime"]
    started = runtime.start(key, variables=variables, user="analyst")
    return started.id, runtime.variables(started.id)


# ----------------------------------------------------------------------------- mapDecisionResult


@pytest.mark.parametrize(
    ("process", "decision_input", "expected"),
    [
        ("testSingleEntry", "single entry", "foo"),
        ("testSingleEntry", "empty output", None),  # a rule matched with no output entries: null
        ("testSingleResult", "multiple entries", {"result1": "foo", "result2": "bar"}),
        ("testSingleResult", "empty output", {}),
        ("testCollectEntries", "single entry list", ["foo", "foo"]),
        ("testCollectEntries", "no rule", []),
        ("testResultList", "multiple entries list", [{"result1": "foo", "result2": "bar"}] * 2),
        ("testDefaultMapping", "multiple entries list", [{"result1": "foo", "result2": "bar"}] * 2),
        ("testDefaultMapping", "no rule", []),
    ],
)
def test_map_decision_result_sets_the_result_variable_as_camunda_does(
    desk, process, decision_input, expected
):
    deploy(desk, f"{MAPPING}.{process}.bpmn20.xml", f"{MAPPING}.dmn11.xml")
    _, variables = start(desk, input=decision_input)
    assert variables["result"] == expected


@pytest.mark.parametrize(
    ("process", "decision_input", "code"),
    [
        ("testSingleEntry", "single entry list", "ENGINE-22001"),  # two results
        ("testSingleEntry", "multiple entries", "ENGINE-22001"),  # two entries
        ("testSingleResult", "single entry list", "ENGINE-22001"),
        ("testCollectEntries", "multiple entries", "ENGINE-22002"),  # two output names
    ],
)
def test_a_result_that_does_not_fit_the_mapping_fails_the_step_and_stores_nothing(
    desk, process, decision_input, code
):
    deploy(desk, f"{MAPPING}.{process}.bpmn20.xml", f"{MAPPING}.dmn11.xml")
    with pytest.raises(ProcessError) as failed:
        start(desk, input=decision_input)
    assert code in str(failed.value) and failed.value.element_id == "ruleTask"
    with desk.extensions["sessions"]() as session:
        assert session.scalars(select(DecisionInstance)).all() == []


def test_an_unknown_mapping_is_refused_at_deploy_naming_the_task(desk):
    with pytest.raises(DeployError) as refused:
        deploy(desk, f"{MAPPING}.testInvalidMapping.bpmn20.xml")
    [problem] = refused.value.problems
    assert problem.element_id == "ruleTask" and "mapDecisionResult 'invalid' is unknown" in problem.message


# ----------------------------------------------------------------------------- bindings


def test_decision_ref_evaluates_dmn_1_1_and_1_3_files(desk):
    deploy(desk, f"{TASK}.testDecisionRef.bpmn20.xml", f"{TASK}.testDecisionOkay.dmn11.xml")
    assert start(desk)[1]["result"] == "okay"
    deploy(desk, f"dmn13.{TASK}.testDecisionOkay.dmn")
    assert start(desk)[1]["result"] == "okay"


def test_no_decision_deployed_fails_naming_the_key(desk):
    deploy(desk, f"{TASK}.testDecisionRef.bpmn20.xml")
    with pytest.raises(ProcessError) as failed:
        start(desk)
    assert "No decision definition 'testDecision'" in str(failed.value)


def test_latest_binding_takes_the_newest_table(desk):
    deploy(desk, f"{TASK}.testDecisionRefLatestBinding.bpmn20.xml", f"{TASK}.testDecisionOkay.dmn11.xml")
    deploy(desk, f"{TASK}.testDecisionNotOkay.dmn11.xml")
    assert start(desk)[1]["result"] == "not okay"


def test_deployment_binding_keeps_the_table_deployed_with_the_diagram(desk):
    deploy(desk, f"{TASK}.testDecisionRefDeploymentBinding.bpmn20.xml", f"{TASK}.testDecisionOkay.dmn11.xml")
    deploy(desk, f"{TASK}.testDecisionNotOkay.dmn11.xml")
    assert start(desk)[1]["result"] == "okay"


def test_version_binding_takes_that_version(desk):
    deploy(desk, f"{TASK}.testDecisionOkay.dmn11.xml")
    deploy(desk, f"{TASK}.testDecisionNotOkay.dmn11.xml")  # version 2
    deploy(desk, f"{TASK}.testDecisionOkay.dmn11.xml")  # version 3
    deploy(desk, f"{TASK}.testDecisionRefVersionBinding.bpmn20.xml")
    assert start(desk)[1]["result"] == "not okay"


VERSION_TAG_PROCESS = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
  targetNamespace="Examples">
  <process id="process" isExecutable="true">
    <startEvent id="start" />
    <sequenceFlow id="f1" sourceRef="start" targetRef="task" />
    <businessRuleTask id="task" camunda:decisionRef="decision" camunda:decisionRefBinding="versionTag"
      camunda:decisionRefVersionTag="0.0.2" camunda:mapDecisionResult="singleEntry"
      camunda:resultVariable="result" />
    <sequenceFlow id="f2" sourceRef="task" targetRef="end" />
    <endEvent id="end" />
  </process>
</definitions>
"""


def test_version_tag_binding_finds_the_tagged_version_and_refuses_two(desk):
    deploy(desk, f"{TASK}.testDecisionVersionTagOkay.dmn11.xml", **{"tag.bpmn": VERSION_TAG_PROCESS})
    assert start(desk, "process", status="gold")[1]["result"] == "A"
    engine_deploy(
        desk.extensions["sessions"],
        {"again.dmn": (CAMUNDA / f"{TASK}.testDecisionVersionTagOkay.dmn11.xml").read_bytes()},
    )
    with pytest.raises(ProcessError) as failed:
        start(desk, "process", status="gold")
    assert "found more than one decision definition for key 'decision' and versionTag '0.0.2'" in str(
        failed.value
    )


def test_version_tag_binding_without_a_tag_is_refused_at_deploy(desk):
    without = VERSION_TAG_PROCESS.replace(b'camunda:decisionRefVersionTag="0.0.2"', b"")
    with pytest.raises(DeployError) as refused:
        engine_deploy(desk.extensions["sessions"], {"tag.bpmn": without})
    assert any("needs camunda:decisionRefVersionTag" in p.message for p in refused.value.problems)


# ----------------------------------------------------------------------------- history


def test_each_evaluation_is_kept_with_inputs_matched_rule_and_outputs(desk):
    deploy(desk, f"{MAPPING}.testSingleResult.bpmn20.xml", f"{MAPPING}.dmn11.xml")
    instance_id, _ = start(desk, input="multiple entries")
    with desk.extensions["sessions"]() as session:
        [row] = session.scalars(select(DecisionInstance).where(DecisionInstance.instance_id == instance_id))
        assert row.decision_key == "testDecision" and row.element_id == "ruleTask" and row.user == "analyst"
        assert row.inputs == [{"id": "input", "name": "input", "value": "multiple entries"}]
        assert [(r["id"], r["number"], r["outputs"]) for r in row.matched_rules] == [
            ("ruleMultipleEntries", 5, {"result1": "foo", "result2": "bar"})
        ]
        event = session.scalars(
            select(HistoryEvent).where(
                HistoryEvent.instance_id == instance_id, HistoryEvent.kind == "decision_evaluated"
            )
        ).one()
        assert event.data["rules"] == ["ruleMultipleEntries"]


def test_the_instance_page_shows_inputs_matched_rule_and_outputs(desk):
    deploy(desk, f"{MAPPING}.testSingleResult.bpmn20.xml", f"{MAPPING}.dmn11.xml")
    instance_id, _ = start(desk, input="multiple entries")
    page = staff_client(desk, "analyst").get(f"/processes/instances/{instance_id}").get_data(as_text=True)
    section = page.split('id="decisions"', 1)[1].split("</section>", 1)[0]
    assert 'data-decision="testDecision"' in section and 'data-element="ruleTask"' in section
    assert 'input: <code>"multiple entries"</code>' in section
    assert "<code>ruleMultipleEntries</code>" in section
    assert '<code>result1 = "foo"</code>' in section and '<code>result2 = "bar"</code>' in section


def test_decision_ref_and_version_may_be_expressions(desk):
    deploy(desk, f"{TASK}.testDecisionRefExpression.bpmn20.xml")
    with pytest.raises(ProcessError) as failed:
        start(desk, "testProcessExpression", decision="testDecision", version=1)
    assert "No decision definition 'testDecision' version 1" in str(failed.value)
    deploy(desk, f"{TASK}.testDecisionOkay.dmn11.xml")
    deploy(desk, f"{TASK}.testDecisionNotOkay.dmn11.xml")
    assert start(desk, "testProcessExpression", decision="testDecision", version=1)[1]["result"] == "okay"
    assert start(desk, "testProcessExpression", decision="testDecision", version=2)[1]["result"] == "not okay"
