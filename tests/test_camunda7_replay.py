"""Camunda 7 diagrams replayed through the CLI and /engine-rest: typed form values, form-only
deployments, suspended definitions, deleting the latest version, and `instance --json`.

The CLI is the door acceptance checks use (`flask --app web deploy / start / complete /
tasks / instance --json / worker --once`), so it is driven here with app.test_cli_runner()
against the same engine the REST calls reach. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.store import Deployment, ProcessDefinition, StartTimer
from engine.typed_values import camunda_date
from tests.test_camunda7_deploy import (
    DATA,
    T0,
    basic,
    client,
    deploy,
    deployed,
    desk,
    instances,
    started_task_form,
    tick,
)
from tests.web_helpers import post, staff_client

__all__ = ["client", "desk"]  # the fixtures, shared with test_camunda7_deploy


def run(app: Flask, *args: str) -> str:
    result: Result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def run_json(app: Flask, *args: str):
    return json.loads(run(app, *args, "--json").splitlines()[-1])


# ---------------------------------------------------------------------------- camunda:formData types


def test_form_data_date_long_boolean_enum_are_stored_as_camundas_form_types_store_them(desk):
    run(desk, "deploy", str(DATA / "replay_form_data_types.bpmn"))
    started = run_json(desk, "start", "replay_form_data_types")
    [task] = run_json(desk, "tasks", "--key", "replay_form_data_types")
    run(
        desk,
        "complete",
        task["id"],
        "--user",
        "operator",
        "--var",
        "amount=1000",
        "--var",
        "urgent=true",
        "--var",
        "neededBy=23/11/2026",  # DateFormType's default pattern dd/MM/yyyy
        "--var",
        "channel=phone",
    )
    shown = run_json(desk, "instance", started["id"])
    midnight = datetime(2026, 11, 23).astimezone()  # java.util.Date of that day on the server
    assert shown["typed_variables"] == {
        "amount": {"type": "Long", "value": 1000, "valueInfo": {}},
        "urgent": {"type": "Boolean", "value": True, "valueInfo": {}},
        "neededBy": {"type": "Date", "value": camunda_date(midnight), "valueInfo": {}},
        "channel": {"type": "String", "value": "phone", "valueInfo": {}},
    }
    # The gateway condition ${neededBy.year < 2027} saw a date, not text.
    assert [t["element_id"] for t in shown["tasks"]] == ["Expedite"]
    # Read as the analyst: the CLI started the instance, so the operator is not its starter.
    rest = desk.test_client().get(
        f"/engine-rest/process-instance/{started['id']}/variables", headers=basic("analyst")
    )
    assert rest.json["neededBy"] == {"type": "Date", "value": camunda_date(midnight), "valueInfo": {}}
    assert rest.json["amount"]["type"] == "Long"


def test_a_rest_date_sent_to_a_form_data_date_field_stays_a_date(desk, client):
    definition_id = deployed(client, "replay_form_data_types.bpmn")
    started = client.post(
        f"/engine-rest/process-definition/{definition_id}/start", json={}, headers=basic("operator")
    ).json
    [task_id] = [t["id"] for t in run_json(desk, "tasks", "--key", "replay_form_data_types")]
    done = client.post(
        f"/engine-rest/task/{task_id}/complete",
        json={
            "variables": {
                "neededBy": {"value": "2027-03-01T09:00:00.000+0300", "type": "Date"},
                "amount": {"value": 5, "type": "Integer"},
            }
        },
        headers=basic("operator"),
    )
    assert done.status_code == 204, done.json
    shown = run_json(desk, "instance", started["id"])
    assert shown["typed_variables"]["neededBy"]["value"] == "2027-03-01T06:00:00.000+0000"
    assert shown["typed_variables"]["amount"]["type"] == "Long"  # LongFormType converts to Long
    assert [t["element_id"] for t in shown["tasks"]] == ["Plan"]


def test_the_web_task_form_shows_a_stored_date_and_submits_one_as_a_date(desk):
    run(desk, "deploy", str(DATA / "replay_form_data_types.bpmn"))
    first = run_json(desk, "start", "replay_form_data_types")
    run(desk, "set-var", first["id"], "--var", "neededBy:Date=2026-11-23T10:00:00.000+0000")
    [task] = run_json(desk, "tasks", "--key", "replay_form_data_types")
    web = staff_client(desk, "operator")
    page = web.get(f"/tasks/{task['id']}")
    assert page.status_code == 200
    assert b'type="date" name="neededBy" value="2026-11-23"' in page.data
    done = post(
        web,
        f"/tasks/{task['id']}/complete",
        {"amount": "12", "neededBy": "2027-01-15", "channel": "mail"},
        token_from=f"/tasks/{task['id']}",
    )
    assert done.status_code in (302, 303), done.data
    typed = run_json(desk, "instance", first["id"])["typed_variables"]
    assert typed["neededBy"] == {
        "type": "Date",
        "value": camunda_date(datetime(2027, 1, 15).astimezone()),
        "valueInfo": {},
    }
    assert typed["amount"]["type"] == "Long" and typed["urgent"]["value"] is False


# ---------------------------------------------------------------------------- deployments of forms only


def test_a_deployment_of_only_a_form_is_accepted_and_a_latest_form_ref_sees_it_without_restart(desk, client):
    early = deployed(client, "deploy_form_ref_latest.bpmn")  # form not deployed yet: a warning
    assert started_task_form(desk, client, early) == []
    only_form = deploy(client, "deploy_review_v1.form")
    assert only_form.status_code == 200, only_form.json
    assert only_form.json["deployedProcessDefinitions"] is None
    assert started_task_form(desk, client, early) == ["approved"]  # same engine, no restart
    run(desk, "deploy", str(DATA / "deploy_review_v2.form"))  # the CLI takes a lone form too
    assert started_task_form(desk, client, early) == ["approved", "comment"]
    later = deployed(client, "deploy_form_ref_version.bpmn")  # version 1, deployed before it
    assert started_task_form(desk, client, later) == ["approved"]


def test_a_folder_with_a_dmn_without_a_decision_is_refused_naming_the_file_and_nothing_is_stored(
    desk, tmp_path: Path
):
    for name in ("replay_form_data_types.bpmn", "deploy_review_v1.form"):
        shutil.copy(DATA / name, tmp_path / name)
    (tmp_path / "discount.dmn").write_text(
        '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/"/>'
    )
    result = desk.test_cli_runner().invoke(args=["deploy", str(tmp_path)])
    assert result.exit_code != 0
    assert "discount.dmn" in result.output
    assert "has no decision; add a decision table in Camunda Modeler" in result.output
    with desk.extensions["sessions"]() as session:
        assert session.scalar(select(func.count(Deployment.id))) == 0


# ---------------------------------------------------------------------------- suspension and deletion


def suspend(client: FlaskClient, definition_id: str, suspended: bool):
    return client.put(
        f"/engine-rest/process-definition/{definition_id}/suspended",
        json={"suspended": suspended, "includeProcessInstances": False},
        headers=basic("analyst"),
    )


def test_a_suspended_definitions_timer_start_does_not_fire_until_it_is_activated(desk, client):
    definition_id = deployed(client, "deploy_timer_start_duration.bpmn")  # PT10M after deploy
    assert suspend(client, definition_id, True).status_code == 204
    tick(desk, T0 + timedelta(minutes=20))
    assert instances(desk, "deploy_timer_start_duration") == []
    refused = client.post(
        f"/engine-rest/process-definition/{definition_id}/start", json={}, headers=basic("operator")
    )
    assert refused.status_code == 400 and "is suspended" in refused.json["message"]
    assert suspend(client, definition_id, False).status_code == 204
    tick(desk, T0 + timedelta(minutes=21))  # due while suspended: fires once activated
    [started] = instances(desk, "deploy_timer_start_duration")
    assert started.definition_id == definition_id


def test_suspending_instances_too_is_refused_rather_than_ignored(client):
    definition_id = deployed(client, "deploy_timer_start_duration.bpmn")
    refused = client.put(
        f"/engine-rest/process-definition/{definition_id}/suspended",
        json={"suspended": True, "includeProcessInstances": True},
        headers=basic("analyst"),
    )
    assert refused.status_code == 400 and "includeProcessInstances" in refused.json["message"]


def test_deleting_the_latest_deployment_reschedules_the_previous_versions_timer_start(desk, client):
    first = deployed(client, "deploy_timer_start_duration.bpmn")
    changed = (DATA / "deploy_timer_start_duration.bpmn").read_bytes().replace(b"PT10M", b"PT30M")
    second_reply = deploy(client, ("deploy_timer_start_duration.bpmn", changed))
    second_deployment = second_reply.json["id"]
    later = T0 + timedelta(hours=1)
    desk.extensions["runtime"].clock.now = later
    deleted = client.delete(f"/engine-rest/deployment/{second_deployment}", headers=basic("analyst"))
    assert deleted.status_code == 204
    with desk.extensions["sessions"]() as session:
        pending = session.scalars(select(StartTimer).where(StartTimer.status == "pending")).all()
        assert session.scalar(select(func.count(ProcessDefinition.id))) == 1
    # Camunda's DeleteProcessDefinitionsByIdsCmd adds version 1's timer declarations again, due from now.
    assert [(t.definition_id, t.due_at) for t in pending] == [(first, later + timedelta(minutes=10))]
    tick(desk, later + timedelta(minutes=10))
    assert [i.definition_id for i in instances(desk, "deploy_timer_start_duration")] == [first]


def test_deleting_an_older_version_leaves_the_latest_versions_timer_alone(desk, client):
    first_reply = deploy(client, "deploy_timer_start_duration.bpmn")
    changed = (DATA / "deploy_timer_start_duration.bpmn").read_bytes().replace(b"PT10M", b"PT30M")
    second = deployed(client, ("deploy_timer_start_duration.bpmn", changed))
    deleted = client.delete(f"/engine-rest/deployment/{first_reply.json['id']}", headers=basic("analyst"))
    assert deleted.status_code == 204
    with desk.extensions["sessions"]() as session:
        pending = session.scalars(select(StartTimer).where(StartTimer.status == "pending")).all()
    assert [(t.definition_id, t.due_at) for t in pending] == [(second, T0 + timedelta(minutes=30))]


# ---------------------------------------------------------------------------- the CLI as a replay door


def test_cli_values_are_typed_as_rest_types_them_and_name_type_value_gives_the_type(desk):
    run(desk, "deploy", str(DATA / "deploy_timer_start_or_by_hand.bpmn"))
    started = run_json(
        desk,
        "start",
        "deploy_timer_start_or_by_hand",
        "--var",
        "amount=1000",
        "--var",
        "ok=true",
        "--var",
        'order={"id": 7, "lines": [1, 2]}',
        "--var",
        "code=007",
        "--var",
        "big:Long=1000",
        "--var",
        "due:Date=2026-11-23T10:00:00.000+0300",
    )
    typed = run_json(desk, "instance", started["id"])["typed_variables"]
    assert {name: value["type"] for name, value in typed.items()} == {
        "amount": "Integer",
        "ok": "Boolean",
        "order": "Json",
        "code": "String",
        "big": "Long",
        "due": "Date",
    }
    assert typed["due"]["value"] == "2026-11-23T07:00:00.000+0000"
    assert json.loads(typed["order"]["value"]) == {"id": 7, "lines": [1, 2]}
    bad = desk.test_cli_runner().invoke(args=["start", "deploy_timer_start_or_by_hand", "--var", "n:Long=x"])
    assert bad.exit_code != 0 and "'n'" in bad.output and "Long" in bad.output


def test_instance_json_shows_state_tasks_timers_and_then_completed(desk):
    run(desk, "deploy", str(DATA / "replay_form_data_types.bpmn"))
    started = run_json(desk, "start", "replay_form_data_types", "--business-key", "PR-1")
    shown = run_json(desk, "instance", started["id"])
    assert shown["state"] == "ACTIVE" and shown["definition_key"] == "replay_form_data_types"
    assert [t["element_id"] for t in shown["tasks"]] == ["FillRequest"]
    assert shown["timers"] == [] and shown["jobs"] == [] and shown["incidents"] == []
    [fill] = run_json(desk, "tasks", "--key", "replay_form_data_types")
    run(desk, "complete", fill["id"], "--user", "operator", "--var", "neededBy=2027-05-01")
    [plan] = run_json(desk, "tasks", "--key", "replay_form_data_types")
    run(desk, "complete", plan["id"], "--user", "operator")
    done = run_json(desk, "instance", started["id"])
    assert done["state"] == "COMPLETED" and done["tasks"] == [] and done["ended_at"]


def test_instance_json_shows_a_waiting_timer_with_its_due_moment_and_worker_once_fires_it(desk):
    run(desk, "deploy", str(DATA.parent / "escalation.bpmn"))  # boundary timer PT1H on "work"
    started = run_json(desk, "start", "escalation")
    shown = run_json(desk, "instance", started["id"])
    assert shown["state"] == "ACTIVE"
    assert shown["timers"] == [
        {
            "id": shown["timers"][0]["id"],
            "element_id": "late",
            "due_at": (T0 + timedelta(hours=1)).isoformat(),
        }
    ]
    desk.extensions["runtime"].clock.now = T0 + timedelta(hours=1)
    assert "1 job(s)/timer(s) processed" in run(desk, "worker", "--once")
    after = run_json(desk, "instance", started["id"])
    assert after["timers"] == [] and [t["element_id"] for t in after["tasks"]] == ["manager_look"]


def test_a_message_does_not_start_a_suspended_definition_and_does_once_it_is_active(desk, client):
    definition_id = deployed(client, "replay_message_start.bpmn")
    assert suspend(client, definition_id, True).status_code == 204
    refused = desk.test_cli_runner().invoke(args=["correlate", "order.received", "--business-key", "O-1"])
    assert refused.exit_code != 0 and "is suspended" in refused.output
    assert instances(desk, "replay_message_start") == []
    assert suspend(client, definition_id, False).status_code == 204
    started = run_json(desk, "correlate", "order.received", "--business-key", "O-1", "--var", "qty=3")
    [instance_id] = started["instances"]
    shown = run_json(desk, "instance", instance_id)
    assert shown["state"] == "ACTIVE" and shown["typed_variables"]["qty"]["type"] == "Integer"
    assert [t["element_id"] for t in shown["tasks"]] == ["CheckOrder"]
