"""Deploy-time lint: each rule fires on a diagram that breaks it, names the element, and stays quiet
on the shipped diagrams and on real Camunda Modeler files."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from engine.definitions import parse_resources
from engine.deploy import DeployError, deploy
from engine.forms import schema_from_form_js
from engine.lint import RULES, LintContext, all_false_example, lint_tree
from engine.parser import load_xml
from engine.variables import provided_variables
from tests.conftest import PEERS, PROJECT
from tests.engine_rest_helpers import basic, modeler_deploy, seed_users

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="lint_case" name="Lint case" isExecutable="true">
"""
TAIL = """
  </bpmn:process>
  <bpmn:message id="Msg" name="case.reply" />
</bpmn:definitions>
"""


def diagram(body: str) -> bytes:
    return (HEAD + body + TAIL).encode()


def flow(flow_id: str, source: str, target: str, condition: str | None = None) -> str:
    if condition is None:
        return f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}" />'
    return (
        f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">'
        f"<bpmn:conditionExpression>{condition}</bpmn:conditionExpression></bpmn:sequenceFlow>"
    )


START = '<bpmn:startEvent id="start" />'
END = '<bpmn:endEvent id="end" />'
REVIEW = (
    '<bpmn:userTask id="review" name="Review" camunda:candidateGroups="managers"><bpmn:extensionElements>'
    '<camunda:formData><camunda:formField id="approved" label="Approved" type="boolean" /></camunda:formData>'
    "</bpmn:extensionElements></bpmn:userTask>"
)

# rule id -> (a diagram body that breaks the rule, the element the finding must name)
BROKEN = {
    "no-start-event": (f'<bpmn:task id="work" name="Work" />{END}{flow("f1", "work", "end")}', "lint_case"),
    "no-end-event": (f"{START}{REVIEW}{flow('f1', 'start', 'review')}", "lint_case"),
    "unreachable-element": (
        f'{START}{END}<bpmn:task id="orphan" name="Orphan" />{flow("f1", "start", "end")}',
        "orphan",
    ),
    "gateway-without-split": (
        f'{START}<bpmn:exclusiveGateway id="gw" />{END}{flow("f1", "start", "gw")}{flow("f2", "gw", "end")}',
        "gw",
    ),
    "exclusive-gateway-no-default": (
        f'{START}{REVIEW}<bpmn:userTask id="amount_task" name="Amount" camunda:candidateGroups="managers">'
        '<bpmn:extensionElements><camunda:formData><camunda:formField id="amount" type="long" />'
        "</camunda:formData></bpmn:extensionElements></bpmn:userTask>"
        f'<bpmn:exclusiveGateway id="gw" name="Big?" />{END}'
        f"{flow('f1', 'start', 'amount_task')}{flow('f2', 'amount_task', 'gw')}"
        f"{flow('f3', 'gw', 'review', '${amount &gt; 1000}')}{flow('f4', 'gw', 'end', '${amount &lt; 1000}')}"
        f"{flow('f5', 'review', 'end')}",
        "gw",
    ),
    "default-flow-condition": (
        f'{START}{REVIEW}<bpmn:exclusiveGateway id="gw" default="f4" />{END}'
        f"{flow('f1', 'start', 'review')}{flow('f2', 'review', 'gw')}"
        f"{flow('f3', 'gw', 'end', '${approved}')}{flow('f4', 'gw', 'end', '${!approved}')}",
        "f4",
    ),
    "user-task-unnamed": (
        f'{START}<bpmn:userTask id="nameless" camunda:candidateGroups="managers" />{END}'
        f"{flow('f1', 'start', 'nameless')}{flow('f2', 'nameless', 'end')}",
        "nameless",
    ),
    "user-task-unassigned": (
        f'{START}<bpmn:userTask id="nobody" name="Fill in"><bpmn:extensionElements><camunda:formData>'
        '<camunda:formField id="note" type="string" /></camunda:formData></bpmn:extensionElements>'
        f"</bpmn:userTask>{END}{flow('f1', 'start', 'nobody')}{flow('f2', 'nobody', 'end')}",
        "nobody",
    ),
    "timer-without-definition": (
        f'{START}<bpmn:intermediateCatchEvent id="wait" name="Wait"><bpmn:timerEventDefinition id="td" />'
        f"</bpmn:intermediateCatchEvent>{END}{flow('f1', 'start', 'wait')}{flow('f2', 'wait', 'end')}",
        "wait",
    ),
    "handler-input-unknown": (
        f'{START}<bpmn:serviceTask id="tell" name="Tell" camunda:type="external" camunda:topic="notify">'
        "<bpmn:extensionElements><camunda:inputOutput>"
        '<camunda:inputParameter name="template">request_resolved</camunda:inputParameter>'
        '<camunda:inputParameter name="to">requester</camunda:inputParameter>'
        '<camunda:inputParameter name="recipient">requester</camunda:inputParameter>'
        "</camunda:inputOutput></bpmn:extensionElements></bpmn:serviceTask>"
        f"{END}{flow('f1', 'start', 'tell')}{flow('f2', 'tell', 'end')}",
        "tell",
    ),
    "handler-input-missing": (
        f'{START}<bpmn:serviceTask id="tell" name="Tell" camunda:type="external" camunda:topic="notify">'
        "<bpmn:extensionElements><camunda:inputOutput>"
        '<camunda:inputParameter name="to">requester</camunda:inputParameter>'
        "</camunda:inputOutput></bpmn:extensionElements></bpmn:serviceTask>"
        f"{END}{flow('f1', 'start', 'tell')}{flow('f2', 'tell', 'end')}",
        "tell",
    ),
    "unknown-variable": (
        f'{START}{REVIEW}<bpmn:exclusiveGateway id="gw" default="f4" />{END}'
        f"{flow('f1', 'start', 'review')}{flow('f2', 'review', 'gw')}"
        f"{flow('f3', 'gw', 'end', '${aproved}')}{flow('f4', 'gw', 'end')}",
        "f3",
    ),
}


@pytest.fixture
def registry(app):
    return app.extensions["handlers"]


def findings(problems) -> list[tuple[str, str | None]]:
    return [
        (p.message.rsplit("(rule ", 1)[1].rstrip(")"), p.element_id)
        for p in problems
        if "(rule " in p.message
    ]


def test_every_rule_has_a_diagram_that_breaks_it():
    assert set(BROKEN) == set(RULES)
    assert all(info.summary for info in RULES.values()), "each rule documents itself"


@pytest.mark.parametrize("rule_id", sorted(BROKEN))
def test_rule_fires_on_a_diagram_that_breaks_it_and_names_the_element(registry, rule_id):
    body, element_id = BROKEN[rule_id]
    parsed = parse_resources({"case.bpmn": diagram(body)}, known_topics=registry)
    severity = RULES[rule_id].severity
    found = findings(parsed.errors if severity == "error" else parsed.warnings)
    assert (rule_id, element_id) in found, (parsed.errors, parsed.warnings)
    problem = next(p for p in [*parsed.errors, *parsed.warnings] if f"(rule {rule_id})" in p.message)
    assert problem.severity == severity and problem.resource == "case.bpmn" and problem.line


def test_the_misspelt_variable_is_named_with_the_spelling_meant(registry):
    body, _ = BROKEN["unknown-variable"]
    [warning] = parse_resources({"case.bpmn": diagram(body)}, known_topics=registry).warnings
    assert "'aproved'" in warning.message and "did you mean 'approved'?" in warning.message
    fixed = parse_resources(
        {"case.bpmn": diagram(body.replace("aproved", "approved"))}, known_topics=registry
    )
    assert fixed.warnings == [] and fixed.errors == []


@pytest.mark.parametrize(
    "source",
    [
        # well-known names and every kind of source the check knows
        "${loopCounter &gt;= 0 &amp;&amp; nrOfInstances &gt; 0 &amp;&amp; execution != null}",
        "${approved}",
    ],
)
def test_well_known_names_and_form_fields_are_not_reported(registry, source):
    body = BROKEN["unknown-variable"][0].replace("${aproved}", source)
    assert parse_resources({"case.bpmn": diagram(body)}, known_topics=registry).warnings == []


def test_every_source_of_variables_is_counted(registry):
    body = f"""{START}
      <bpmn:scriptTask id="calc" name="Calc" scriptFormat="python" camunda:resultVariable="total">
        <bpmn:script>discount = 5</bpmn:script></bpmn:scriptTask>
      <bpmn:intermediateCatchEvent id="reply" name="Reply">
        <bpmn:extensionElements><camunda:properties><camunda:property name="payload" value="answer, sender" />
        </camunda:properties></bpmn:extensionElements><bpmn:messageEventDefinition messageRef="Msg" />
      </bpmn:intermediateCatchEvent>
      <bpmn:serviceTask id="route" name="Route" camunda:type="external" camunda:topic="route" />
      <bpmn:userTask id="approve" name="Approve" camunda:assignee="${{approver}}">
        <bpmn:extensionElements><camunda:inputOutput>
          <camunda:outputParameter name="verdict">${{approver}}</camunda:outputParameter>
        </camunda:inputOutput></bpmn:extensionElements>
        <bpmn:multiInstanceLoopCharacteristics camunda:collection="approvers"
          camunda:elementVariable="approver" />
      </bpmn:userTask>
      {END}"""
    process = etree.fromstring(diagram(body)).find("{http://www.omg.org/spec/BPMN/20100524/MODEL}process")
    provided = provided_variables(process, registry.catalog(), {})
    assert provided.unknown == []
    assert {
        "total",
        "discount",
        "answer",
        "sender",
        "approvers",
        "needs_approval",
        "verdict",
        "approver",
    } <= (provided.names)


def test_sources_of_unknown_variables_silence_the_check_instead_of_guessing(registry):
    body = BROKEN["unknown-variable"][0].replace(
        REVIEW,
        REVIEW.replace(
            'camunda:candidateGroups="managers"',
            'camunda:candidateGroups="managers" camunda:formKey="embedded:app:forms/review.html"',
        ),
    )
    assert parse_resources({"case.bpmn": diagram(body)}, known_topics=registry).warnings == []
    reply = BROKEN["unknown-variable"][0].replace(
        START,
        '<bpmn:startEvent id="start"><bpmn:messageEventDefinition messageRef="Msg" /></bpmn:startEvent>',
    )
    assert parse_resources({"case.bpmn": diagram(reply)}, known_topics=registry).warnings == []


@pytest.mark.parametrize(
    "conditions,gap",
    [
        (["${approved}", "${!approved}"], None),
        (["${amount > 1000}", "${amount <= 1000}"], None),
        (["${category == 'network'}", "${category != 'network'}"], None),
        (["${amount > 1000}", "${amount < 1000}"], {"amount": 1000}),
        (["${status == 'open'}", "${status == 'closed'}"], "status"),
        (["${approved && urgent}", "${!approved}"], {"approved": True, "urgent": False}),
        (["${customer.prop('age').numberValue() >= 21}", "${customer.prop('age').numberValue() < 21}"], None),
    ],
)
def test_gateway_gap_search_finds_values_that_make_every_condition_false(conditions, gap):
    example = all_false_example(conditions)
    if gap is None:
        assert example is None
    elif isinstance(gap, str):
        assert example is not None and set(example) == {gap}
    else:
        assert example == gap


def test_errors_refuse_the_deploy_and_warnings_ride_along_in_the_report(app, registry):
    sessions = app.extensions["sessions"]
    with pytest.raises(DeployError) as err:
        deploy(sessions, {"case.bpmn": diagram(BROKEN["default-flow-condition"][0])}, known_topics=registry)
    assert [(p.element_id, p.severity) for p in err.value.problems] == [("f4", "error")]
    report = deploy(sessions, {"case.bpmn": diagram(BROKEN["unknown-variable"][0])}, known_topics=registry)
    assert report.definitions and [(w.element_id, w.severity) for w in report.warnings] == [("f3", "warning")]
    assert any("warning: case.bpmn" in line and "[f3]" in line for line in report.lines())


def test_cli_deploy_prints_the_lint_warnings(app, tmp_path):
    path = tmp_path / "case.bpmn"
    path.write_bytes(diagram(BROKEN["unknown-variable"][0]))
    result = app.test_cli_runner().invoke(args=["deploy", str(path), "--json"])
    assert result.exit_code == 0, result.output
    [warning] = json.loads(result.output)["warnings"]
    assert "[f3]" in warning and "aproved" in warning


def test_engine_rest_deploy_returns_warnings_with_element_ids(app):
    seed_users(app)
    client = app.test_client()
    reply = modeler_deploy(client, basic("analyst"), ("case.bpmn", diagram(BROKEN["unknown-variable"][0])))
    assert reply.status_code == 200, reply.json
    [warning] = reply.json["warnings"]
    assert warning["resource"] == "case.bpmn" and warning["mainElementId"] == "f3" and warning["line"]
    refused = modeler_deploy(
        client, basic("analyst"), ("case.bpmn", diagram(BROKEN["timer-without-definition"][0]))
    )
    assert refused.status_code == 400 and refused.json["type"] == "ParseException"
    [error] = refused.json["details"]["case.bpmn"]["errors"]
    assert error["mainElementId"] == "wait" and "timer-without-definition" in error["message"]


# ---------------------------------------------------------------------------- quiet on real diagrams


def real_files() -> list:
    files = sorted((PROJECT / "bpmn").glob("*.bpmn"))
    examples = PEERS / "camunda-examples"
    if examples.is_dir():
        files += sorted(examples.glob("*.bpmn"))
    return files


@pytest.mark.parametrize("path", real_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_rule_fires_on_the_shipped_diagrams_or_camunda_examples(registry, path):
    forms = {
        form.name: schema_from_form_js(form.read_bytes(), form.name) for form in path.parent.glob("*.form")
    }
    found = lint_tree(load_xml(path.read_bytes(), path.name), LintContext(registry.catalog(), forms))
    assert [(f.rule, f.node.get("id"), f.message) for f in found] == []


def test_camunda_examples_are_present_or_skipped():
    if not (PEERS / "camunda-examples").is_dir():
        pytest.skip("../shared/peers/camunda-examples is absent")
    assert len(list((PEERS / "camunda-examples").glob("*.bpmn"))) >= 10
