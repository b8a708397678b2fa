"""Deploy: versions, duplicate filtering, and hostile or broken input refused with located problems."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.deploy import DeployError, deploy
from engine.store import Deployment, ProcessDefinition, Resource
from tests.conftest import PROJECT

DATA = Path(__file__).parent / "data" / "bpmn"
FIVE = (DATA / "five_step.bpmn").read_bytes()


def counts(sessions) -> tuple[int, int, int]:
    with sessions() as s:
        return (
            s.scalar(select(func.count()).select_from(Deployment)),
            s.scalar(select(func.count()).select_from(ProcessDefinition)),
            s.scalar(select(func.count()).select_from(Resource)),
        )


@pytest.fixture
def sessions(app):
    return app.extensions["sessions"]


def test_versions_count_up_per_key_and_duplicates_are_filtered(sessions):
    one = deploy(sessions, {"five_step.bpmn": FIVE}, duplicate_filtering=True)
    same = deploy(sessions, {"five_step.bpmn": FIVE}, duplicate_filtering=True)
    forced = deploy(sessions, {"five_step.bpmn": FIVE}, duplicate_filtering=False)
    assert [d.version for d in one.definitions] == [1]
    assert same.duplicate and same.definitions[0].id == one.definitions[0].id
    assert forced.definitions[0].version == 2
    assert counts(sessions) == (2, 2, 2)


def test_unknown_topic_deploys_with_a_warning_naming_the_element(sessions):
    report = deploy(sessions, {"five_step.bpmn": FIVE}, known_topics={"step_one"})
    [warning] = report.warnings
    assert (
        warning.element_id == "step_two" and "step_two" in warning.message and "external" in warning.message
    )


def refused(sessions, resources: dict[str, bytes], **kwargs) -> DeployError:
    before = counts(sessions)
    with pytest.raises(DeployError) as err:
        deploy(sessions, resources, **kwargs)
    assert counts(sessions) == before, "a refused deploy must store nothing"
    return err.value


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s" name="&xxe;"/></bpmn:process>
</bpmn:definitions>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s" name="&lol3;"/></bpmn:process>
</bpmn:definitions>"""


def test_xxe_is_refused_without_reading_the_file(sessions):
    err = refused(sessions, {"xxe.bpmn": XXE})
    assert "DOCTYPE" in str(err) and "root:" not in str(err)


def test_billion_laughs_is_refused(sessions):
    assert "DOCTYPE" in str(refused(sessions, {"laughs.bpmn": LAUGHS}))


def test_fifty_megabyte_file_is_refused_before_parsing(sessions):
    huge = FIVE.replace(
        b"</bpmn:definitions>", b"<!--" + b"x" * (50 * 1024 * 1024) + b"--></bpmn:definitions>"
    )
    err = refused(sessions, {"huge.bpmn": huge})
    assert "huge.bpmn" in str(err) and "limit is 10 MB" in str(err)


def test_xml_that_is_not_well_formed_names_the_line(sessions):
    err = refused(sessions, {"broken.bpmn": FIVE.replace(b"</bpmn:process>", b"</bpmn:proces>")})
    [problem] = err.problems
    assert problem.line and "not well formed" in problem.message


@pytest.mark.parametrize(
    "expression",
    [
        "${''.__class__}",
        "${().__class__.__bases__[0].__subclasses__()}",
        "${__import__('os').system('id')}",
        "${open('/etc/passwd').read()}",
    ],
)
def test_hostile_condition_is_a_deploy_error_naming_the_flow(sessions, expression):
    xml = (
        (DATA / "approvals.bpmn")
        .read_bytes()
        .replace(
            b"${amount &gt; 1000 &amp;&amp; category == 'network'}",
            expression.replace("'", "&apos;").encode(),
        )
    )
    err = refused(sessions, {"approvals.bpmn": xml})
    assert any(p.element_id == "big" for p in err.problems), err.problems


def test_unknown_namespace_elements_are_ignored_with_a_warning(sessions):
    xml = FIVE.replace(
        b'<bpmn:endEvent id="end">',
        b'<x:widget xmlns:x="urn:example:unknown" id="w1"/><bpmn:endEvent id="end">',
    )
    report = deploy(sessions, {"five_step.bpmn": xml})
    assert any("widget" in w.message for w in report.warnings)


def test_script_tasks_are_refused_unless_enabled(sessions):
    xml = FIVE.replace(
        b'<bpmn:endEvent id="end">',
        b'<bpmn:scriptTask id="calc" scriptFormat="python"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>'
        b'<bpmn:endEvent id="end">',
    )
    err = refused(sessions, {"five_step.bpmn": xml})
    assert any(p.element_id == "calc" and "script tasks" in p.message for p in err.problems)
    assert deploy(sessions, {"five_step.bpmn": xml}, allow_scripts=True).definitions


def test_missing_form_file_is_a_deploy_error(sessions):
    xml = FIVE.replace(
        b'camunda:priority="70"',
        b'camunda:priority="70" camunda:formKey="camunda-forms:deployment:review.form"',
    )
    err = refused(sessions, {"five_step.bpmn": xml})
    assert any("review.form" in p.message and p.element_id == "review" for p in err.problems)


def test_business_rule_task_without_a_decision_or_an_implementation_is_refused_with_a_reason(sessions):
    xml = FIVE.replace(
        b'<bpmn:endEvent id="end">',
        b'<bpmn:businessRuleTask id="rules"/><bpmn:endEvent id="end">',
    )
    err = refused(sessions, {"five_step.bpmn": xml})
    assert any(p.element_id == "rules" and "camunda:decisionRef" in p.message for p in err.problems)


def test_the_same_resources_are_parsed_once_and_each_caller_gets_its_own_copy():
    from engine import definitions

    resources = {p.name: p.read_bytes() for p in (PROJECT / "bpmn").glob("*.bpmn")}
    definitions._PARSE_CACHE.clear()
    first = definitions.parse_resources(resources, allow_scripts=True, lint=False)
    second = definitions.parse_resources(resources, allow_scripts=True, lint=False)
    assert len(definitions._PARSE_CACHE) == 1, "the second parse came from the cache"
    assert first.processes.keys() == second.processes.keys() and "service_request" in first.processes
    # The runtime wires called processes into the specs it gets: one caller's edits stay its own.
    first.processes["service_request"].subprocess_specs["wired_by_caller"] = object()
    first.warnings.append("a caller's own note")
    third = definitions.parse_resources(resources, allow_scripts=True, lint=False)
    assert "wired_by_caller" not in third.processes["service_request"].subprocess_specs
    assert third.warnings == second.warnings
    # Other bytes or other options are another entry, never a stale parse.
    definitions.parse_resources(resources, allow_scripts=True, lint=True)
    changed = dict(resources, **{"extra.bpmn": b"<not-bpmn/>"})
    assert definitions.parse_resources(changed, allow_scripts=True, lint=False).errors
    assert len(definitions._PARSE_CACHE) == 3
