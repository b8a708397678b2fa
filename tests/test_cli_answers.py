"""`flask --app web …` answers a newcomer can act on: what is missing, what to type next."""

from __future__ import annotations

import logging

from sqlalchemy import func, select

from engine.store import Incident, Instance, Job
from tests.conftest import PROJECT, seed_desk


def invoke(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def test_start_without_the_variables_the_process_reads_fails_naming_them(app):
    assert invoke(app, "deploy", str(PROJECT / "bpmn")).exit_code == 0

    result = invoke(app, "start", "service_request")

    assert result.exit_code != 0
    assert "request_id" in result.output and "--var request_id=" in result.output
    assert "Task_Classify" in result.output, "names the first task that would read it"
    with app.extensions["sessions"]() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == 0, "nothing was started"
        assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_start_with_the_variables_runs(app):
    seed_desk(app)
    with app.extensions["sessions"]() as session:
        from desk.models import Request

        request_id = session.scalars(select(Request.id).order_by(Request.id)).first()

    result = invoke(app, "start", "service_request", "--var", f"request_id={request_id}")

    assert result.exit_code == 0, result.output
    assert "running" in result.output
    with app.extensions["sessions"]() as session:
        assert session.scalar(select(func.count()).select_from(Incident)) == 0


ONLY_A_USER_TASK = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Defs_plain" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="plain_review" name="Review" isExecutable="true">
    <bpmn:startEvent id="StartEvent_1" />
    <bpmn:sequenceFlow id="F1" sourceRef="StartEvent_1" targetRef="Review" />
    <bpmn:userTask id="Review" name="Review" camunda:candidateGroups="managers" />
    <bpmn:sequenceFlow id="F2" sourceRef="Review" targetRef="EndEvent_1" />
    <bpmn:endEvent id="EndEvent_1" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_process_whose_tasks_read_nothing_at_start_starts_without_variables(app, tmp_path):
    diagram = tmp_path / "plain_review.bpmn"
    diagram.write_bytes(ONLY_A_USER_TASK)
    deployed = invoke(app, "deploy", str(diagram))
    assert deployed.exit_code == 0, deployed.output

    result = invoke(app, "start", "plain_review")

    assert result.exit_code == 0, result.output
    assert "running" in result.output


def test_incidents_with_none_says_so(app):
    result = invoke(app, "incidents")

    assert result.exit_code == 0
    assert result.output.strip().splitlines()[-1] == "(0 incidents)"


def test_complete_with_a_wrong_field_name_lists_the_task_fields(app):
    seed_desk(app)
    result = invoke(app, "tasks", "--group", "operators", "--json")
    import json

    triage = next(t for t in json.loads(result.output) if t["element_id"] == "Task_Triage")

    wrong = invoke(app, "complete", triage["id"], "--user", "operator", "--var", "categroy=software")

    assert wrong.exit_code != 0
    assert "categroy" in wrong.output and "category" in wrong.output, wrong.output
    assert app.extensions["runtime"].task_form(triage["id"]), "the task is still open"


def test_demo_on_an_empty_database_says_to_deploy_first(app):
    result = invoke(app, "demo")

    assert result.exit_code != 0
    assert "flask --app web deploy bpmn/" in result.output
    assert (
        "Traceback" not in result.output
        and result.exception is None
        or isinstance(result.exception, SystemExit)
    )


def test_deploy_and_demo_log_no_workflow_steps_unless_debug(app, caplog):
    caplog.set_level(logging.INFO)
    invoke(app, "deploy", str(PROJECT / "bpmn"))
    invoke(app, "demo")

    assert [r.name for r in caplog.records if r.name.startswith(("spiff", "alembic"))] == []
    assert any(r.name == "engine.deploy" for r in caplog.records), "the product's own lines still show"


def test_debug_level_shows_the_workflow_steps_again(sqlite_url):
    from tests.conftest import make_app

    debug = make_app(sqlite_url, LOG_LEVEL="DEBUG")
    try:
        assert logging.getLogger("spiff.task").isEnabledFor(logging.DEBUG)
    finally:
        debug.extensions["db_engine"].dispose()
        make_app(f"{sqlite_url}.quiet").extensions["db_engine"].dispose()  # back to the default level
    assert not logging.getLogger("spiff.task").isEnabledFor(logging.INFO)
