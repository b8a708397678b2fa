"""Camunda 7 at deploy time: timer start events, typed variables, Camunda Forms by id, refusals.

Each diagram under tests/data/bpmn/camunda7/deploy_*.bpmn is drawn in Camunda Modeler's
format (with DI) and deployed the way the Modeler does it, through /engine-rest; time is an
injected clock, never a sleep. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

import engine.deploy
from engine.store import Instance, StartTimer, UserTask
from engine.timer_schedule import TimerSpecError, check, cron_next
from engine.timer_start import server_zone
from tests.conftest import Clock
from web.demo import DEMO_PASSWORD, DEMO_USERS, create_user

DATA = Path(__file__).parent / "data" / "bpmn" / "camunda7"
T0 = datetime(2026, 12, 7, 10, 2, 30, tzinfo=UTC)


def basic(username: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{DEMO_PASSWORD}".encode()).decode()}


@pytest.fixture
def desk(any_app: Flask) -> Flask:
    """The app with the analyst and operator accounts and the engine clock at T0."""
    with any_app.app_context():
        for username in ("analyst", "operator"):
            full_name, roles, groups = DEMO_USERS[username]
            create_user(username, DEMO_PASSWORD, full_name=full_name, roles=roles, groups=groups)
    any_app.extensions["runtime"].clock = Clock(T0)
    return any_app


@pytest.fixture
def client(desk: Flask) -> FlaskClient:
    return desk.test_client()


def deploy(client: FlaskClient, *files: str | tuple[str, bytes], name: str = "deploy test"):
    """POST /deployment/create as Camunda Modeler sends it: the diagram and its attachments."""
    data: dict = {"deployment-name": name, "deployment-source": "Camunda Modeler"}
    for item in files:
        file_name, content = item if isinstance(item, tuple) else (item, (DATA / item).read_bytes())
        data[file_name] = (io.BytesIO(content), file_name)
    return client.post(
        "/engine-rest/deployment/create",
        data=data,
        headers=basic("analyst"),
        content_type="multipart/form-data",
    )


def deployed(client: FlaskClient, *files: str | tuple[str, bytes]) -> str:
    reply = deploy(client, *files)
    assert reply.status_code == 200, reply.json
    [definition_id] = reply.json["deployedProcessDefinitions"]
    return definition_id


def instances(app: Flask, key: str) -> list[Instance]:
    with app.extensions["sessions"]() as session:
        return list(
            session.scalars(
                select(Instance).where(Instance.definition_key == key).order_by(Instance.started_at)
            )
        )


def open_tasks(app: Flask, key: str) -> list[str]:
    with app.extensions["sessions"]() as session:
        return list(
            session.scalars(
                select(UserTask.element_id).where(UserTask.definition_key == key, UserTask.status == "open")
            )
        )


def tick(app: Flask, to: datetime) -> int:
    """Move the engine clock and run the scheduler once, as `flask --app web scheduler` does."""
    runtime = app.extensions["runtime"]
    runtime.clock.now = to
    return runtime.fire_due_timers()


# ---------------------------------------------------------------------------- timer start events


def test_cron_cycle_starts_an_instance_every_five_minutes_from_deploy_on(desk, client):
    deployed(client, "deploy_timer_start_cron.bpmn")
    assert instances(desk, "deploy_timer_start_cron") == []  # deploying starts nothing
    zone = server_zone()
    first = datetime(2026, 12, 7, 10, 5, tzinfo=UTC).astimezone(zone)  # 0 0/5 * * * ? after 10:02:30
    with desk.extensions["sessions"]() as session:
        [job] = session.scalars(select(StartTimer)).all()
    assert job.element_id == "EveryFiveMinutes" and job.due_at == first

    tick(desk, first - timedelta(seconds=1))
    assert instances(desk, "deploy_timer_start_cron") == []
    tick(desk, first)
    assert len(instances(desk, "deploy_timer_start_cron")) == 1
    assert open_tasks(desk, "deploy_timer_start_cron") == ["ReviewMailbox"]
    tick(desk, first + timedelta(minutes=1))  # not due again before 10:10
    assert len(instances(desk, "deploy_timer_start_cron")) == 1
    tick(desk, first + timedelta(minutes=5))
    assert len(instances(desk, "deploy_timer_start_cron")) == 2
    # Twenty minutes without a scheduler start one instance, not four (no burst of missed firings).
    tick(desk, first + timedelta(minutes=25))
    assert len(instances(desk, "deploy_timer_start_cron")) == 3


# Camunda's own expectations (engine CycleBusinessCalendarTest, cron-utils SPRING53), from 2010-02-11 17:23.
CAMUNDA_CRON_CASES = [
    ("0 0 * * * ?", "2010-02-11 18:00"),
    ("0 0 8-10 * * ?", "2010-02-12 08:00"),
    ("0 0/30 8-10 * * ?", "2010-02-12 08:00"),
    ("0 0 9-17 * * ?", "2010-02-12 09:00"),
    ("0 0 0 25 12 ?", "2010-12-25 00:00"),
    ("0 0 0 L 12 ?", "2010-12-31 00:00"),
    ("0 0 6,19 * * ?", "2010-02-11 19:00"),
    ("0 0 0 1W * *", "2010-03-01 00:00"),
    ("0 0 0 ? * 5#2", "2010-02-12 00:00"),
    ("@monthly", "2010-03-01 00:00"),
    ("@annually", "2011-01-01 00:00"),
    ("@weekly", "2010-02-14 00:00"),
    ("@daily", "2010-02-12 00:00"),
    ("@midnight", "2010-02-12 00:00"),
    ("@hourly", "2010-02-11 18:00"),
]


@pytest.mark.parametrize(("expression", "expected"), CAMUNDA_CRON_CASES)
def test_cron_next_firing_matches_camundas_own_test_cases(expression, expected):
    zone = ZoneInfo("Europe/Moscow")
    start = datetime(2010, 2, 11, 17, 23, tzinfo=zone)
    assert cron_next(expression, start, zone).strftime("%Y-%m-%d %H:%M") == expected


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("timeCycle", "0 15 10 * * ? 2025 *"),  # Camunda: "Exception while parsing cycle expression"
        ("timeCycle", "0 0/5 * * *"),  # five fields: Spring cron wants six
        ("timeCycle", "0 61 * * * ?"),
        ("timeCycle", "every day"),
        ("timeDate", "tomorrow"),
        ("timeDuration", "5 minutes"),
    ],
)
def test_timer_values_camunda_cannot_schedule_are_refused(kind, text):
    with pytest.raises(TimerSpecError):
        check(kind, text, UTC)


def test_duration_fires_once_that_long_after_the_deploy(desk, client):
    deployed(client, "deploy_timer_start_duration.bpmn")
    tick(desk, T0 + timedelta(minutes=9, seconds=59))
    assert instances(desk, "deploy_timer_start_duration") == []
    tick(desk, T0 + timedelta(minutes=10))
    tick(desk, T0 + timedelta(days=3))
    assert len(instances(desk, "deploy_timer_start_duration")) == 1
    assert open_tasks(desk, "deploy_timer_start_duration") == ["Remind"]


def test_date_fires_once_at_that_moment(desk, client):
    deployed(client, "deploy_timer_start_date.bpmn")
    new_years_eve = datetime(2026, 12, 31, 6, 0, tzinfo=UTC)  # 09:00 Moscow
    tick(desk, new_years_eve - timedelta(seconds=1))
    assert instances(desk, "deploy_timer_start_date") == []
    tick(desk, new_years_eve)
    tick(desk, new_years_eve + timedelta(days=1))
    assert len(instances(desk, "deploy_timer_start_date")) == 1


def test_repetition_r3_starts_three_instances_an_hour_apart(desk, client):
    deployed(client, "deploy_timer_start_repeat.bpmn")
    for hour in range(1, 6):
        tick(desk, T0 + timedelta(hours=hour))
    assert [i.started_at for i in instances(desk, "deploy_timer_start_repeat")] == [
        T0 + timedelta(hours=1),
        T0 + timedelta(hours=2),
        T0 + timedelta(hours=3),
    ]


def test_a_new_version_replaces_the_previous_versions_timer_start_jobs(desk, client):
    first = deployed(client, "deploy_timer_start_duration.bpmn")
    later = T0 + timedelta(minutes=5)
    desk.extensions["runtime"].clock.now = later
    changed = (DATA / "deploy_timer_start_duration.bpmn").read_bytes().replace(b"PT10M", b"PT30M")
    second = deployed(client, ("deploy_timer_start_duration.bpmn", changed))
    tick(desk, T0 + timedelta(minutes=10))  # version 1's firing is gone with its job
    assert instances(desk, "deploy_timer_start_duration") == []
    tick(desk, later + timedelta(minutes=30))
    [started] = instances(desk, "deploy_timer_start_duration")
    assert started.definition_id == second != first


def test_a_cron_camunda_would_refuse_is_refused_at_deploy_naming_element_attribute_and_line(client):
    refused = deploy(client, "deploy_timer_start_bad_cron.bpmn")
    assert refused.status_code == 400
    message = refused.json["message"]
    assert message.startswith("ENGINE-09005 Could not parse BPMN process.")
    [problem] = refused.json["details"]["deploy_timer_start_bad_cron.bpmn"]["errors"]
    assert problem["mainElementId"] == "EveryMorning" and problem["line"] == 7  # the timeCycle's line
    assert "timeCycle" in problem["message"] and "0 0 9 * * MON-FRI 2026" in problem["message"]
    assert "six" in problem["message"] and problem["message"] in message


def test_started_by_hand_the_none_start_event_is_taken_and_the_timer_start_stays_scheduled(desk, client):
    definition_id = deployed(client, "deploy_timer_start_or_by_hand.bpmn")
    started = client.post(
        f"/engine-rest/process-definition/{definition_id}/start", json={}, headers=basic("operator")
    )
    assert started.status_code == 200, started.json
    [by_hand] = instances(desk, "deploy_timer_start_or_by_hand")
    assert by_hand.waiting and list(by_hand.waiting.values()) == ["user"]  # no path left waiting on the timer
    assert open_tasks(desk, "deploy_timer_start_or_by_hand") == ["WriteReport"]
    eight = datetime(2026, 12, 8, 8, 0).replace(tzinfo=server_zone())
    tick(desk, eight)
    assert len(instances(desk, "deploy_timer_start_or_by_hand")) == 2
    assert open_tasks(desk, "deploy_timer_start_or_by_hand") == ["WriteReport", "WriteReport"]


def test_a_process_whose_only_start_is_a_timer_can_still_be_started_by_hand(desk, client):
    definition_id = deployed(client, "deploy_timer_start_cron.bpmn")
    started = client.post(
        f"/engine-rest/process-definition/{definition_id}/start", json={}, headers=basic("operator")
    )
    assert started.status_code == 200, started.json
    assert open_tasks(desk, "deploy_timer_start_cron") == ["ReviewMailbox"]


@pytest.mark.redis
def test_the_scale_out_scheduler_starts_timer_start_instances_once(database_url, tmp_path):
    from tests.conftest import make_app
    from tests.service_processes import running_redis
    from web.queue import enqueue_due

    with running_redis(tmp_path) as redis_server:
        app = make_app(database_url, REDIS_URL=redis_server.url, INLINE_JOBS=False, RQ_RESEND_AFTER=30)
        try:
            runtime = app.extensions["runtime"]
            runtime.clock = Clock(T0)
            content = (DATA / "deploy_timer_start_duration.bpmn").read_bytes()
            engine.deploy.deploy(
                runtime.session_factory, {"deploy_timer_start_duration.bpmn": content}, now=T0
            )
            assert enqueue_due(app)["timer_starts"] == 0
            runtime.clock.now = T0 + timedelta(minutes=10)
            assert enqueue_due(app)["timer_starts"] == 1
            assert enqueue_due(app)["timer_starts"] == 0, "a duration fires once"
            assert open_tasks(app, "deploy_timer_start_duration") == ["Remind"]
        finally:
            app.extensions["db_engine"].dispose()


# ---------------------------------------------------------------------------- typed variables

MODELER_START_VARIABLES = {
    "visitAt": {"value": "2026-12-07T10:00:00.000+0300", "type": "Date"},
    "amount": {"value": 5000, "type": "Long"},
    "floor": {"value": 3, "type": "Short"},
    "visits": {"value": 2, "type": "Integer"},
    "rate": {"value": 1.5, "type": "Double"},
    "urgent": {"value": True, "type": "Boolean"},
    "note": {"value": "ring twice", "type": "String"},
    "nothing": {"value": None, "type": "Null"},
    "order": {"value": '{"priority": "high", "items": [1, 2]}', "type": "Json"},
    "photo": {"value": base64.b64encode(b"\x89PNG\r\n").decode(), "type": "Bytes"},
    "customer": {
        "value": '{"name": "ACME"}',
        "type": "Object",
        "valueInfo": {"objectTypeName": "com.acme.Customer", "serializationDataFormat": "application/json"},
    },
}


def test_typed_variables_from_the_modelers_start_come_back_with_their_camunda_types(desk, client):
    definition_id = deployed(client, "deploy_typed_variables.bpmn")
    started = client.post(
        f"/engine-rest/process-definition/{definition_id}/start",
        json={"variables": MODELER_START_VARIABLES},
        headers=basic("operator"),
    )
    assert started.status_code == 200, started.json
    # Conditions see a datetime, an int and a dict: the big-order branch is taken.
    assert open_tasks(desk, "deploy_typed_variables") == ["PlanBigVisit"]
    shown = client.get(
        f"/engine-rest/process-instance/{started.json['id']}/variables", headers=basic("operator")
    )
    assert shown.status_code == 200
    types = {
        "visitAt": ("Date", "2026-12-07T07:00:00.000+0000"),
        "amount": ("Long", 5000),
        "floor": ("Short", 3),
        "visits": ("Integer", 2),
        "rate": ("Double", 1.5),
        "urgent": ("Boolean", True),
        "note": ("String", "ring twice"),
        "nothing": ("Null", None),
        "order": ("Json", '{"priority": "high", "items": [1, 2]}'),
        "photo": ("Bytes", base64.b64encode(b"\x89PNG\r\n").decode()),
        "customer": ("Object", {"name": "ACME"}),
    }
    assert {name: (v["type"], v["value"]) for name, v in shown.json.items()} == types
    assert shown.json["customer"]["valueInfo"] == {
        "objectTypeName": "com.acme.Customer",
        "serializationDataFormat": "application/json",
    }
    one = client.get(
        f"/engine-rest/process-instance/{started.json['id']}/variables/visitAt", headers=basic("operator")
    )
    assert one.json == {"type": "Date", "value": "2026-12-07T07:00:00.000+0000", "valueInfo": {}}
    history = client.get(
        f"/engine-rest/history/variable-instance?processInstanceId={started.json['id']}",
        headers=basic("analyst"),  # the history list is not per instance: the starter may not list it
    )
    assert history.status_code == 200, history.json
    assert {v["name"]: v["type"] for v in history.json} == {n: t for n, (t, _) in types.items()}
    # Reloaded from the database (not the in-memory cache) and saved again, the types stay.
    runtime = desk.extensions["runtime"]
    runtime._workflows.clear()
    runtime.set_variables(started.json["id"], {"note": "ring three times"})
    again = client.get(
        f"/engine-rest/process-instance/{started.json['id']}/variables", headers=basic("operator")
    )
    assert {name: v["type"] for name, v in again.json.items()} == {n: t for n, (t, _) in types.items()}
    serialized = client.get(
        f"/engine-rest/process-instance/{started.json['id']}/variables?deserializeValues=false",
        headers=basic("operator"),
    )
    assert serialized.json["customer"]["value"] == '{"name": "ACME"}'


@pytest.mark.parametrize(
    ("name", "dto"),
    [
        ("visitAt", {"value": "tomorrow", "type": "Date"}),
        ("amount", {"value": "x", "type": "Long"}),
        ("visits", {"value": 2**31, "type": "Integer"}),
        ("floor", {"value": 40000, "type": "Short"}),
        ("photo", {"value": "not base64!", "type": "Bytes"}),
    ],
)
def test_a_value_that_does_not_fit_its_type_is_refused_naming_the_variable(client, name, dto):
    definition_id = deployed(client, "deploy_typed_variables.bpmn")
    refused = client.post(
        f"/engine-rest/process-definition/{definition_id}/start",
        json={"variables": {**MODELER_START_VARIABLES, name: dto}},
        headers=basic("operator"),
    )
    assert refused.status_code == 400
    assert refused.json["type"] == "InvalidRequestException"
    assert f"variable {name!r}" in refused.json["message"]


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("file_name", "element_id", "attribute", "way_out"),
    [
        ("deploy_refused_bean.bpmn", "NotifyCustomer", "camunda:expression", 'camunda:type="external"'),
        ("deploy_refused_joda.bpmn", "CallBack", "camunda:dueDate", "as a Date variable"),
        (
            "deploy_refused_groovy.bpmn",
            "ComputeDiscount",
            "scriptFormat 'groovy'",
            "rewrite the script in Python",
        ),
    ],
)
def test_what_stays_unsupported_is_refused_naming_element_attribute_line_and_a_way_out(
    desk, file_name, element_id, attribute, way_out
):
    content = (DATA / file_name).read_bytes()
    with pytest.raises(engine.deploy.DeployError) as refused:
        engine.deploy.deploy(desk.extensions["sessions"], {file_name: content}, allow_scripts=True)
    [problem] = refused.value.problems
    lines = content.decode().splitlines()
    element_line = next(n for n, text in enumerate(lines, 1) if f'id="{element_id}"' in text)
    timer_line = next((n for n, text in enumerate(lines, 1) if "<bpmn:timeCycle" in text), None)
    assert problem.element_id == element_id and problem.line in (element_line, timer_line)
    assert attribute in problem.message and way_out in problem.message


# ---------------------------------------------------------------------------- Camunda Forms by id


def started_task_form(app: Flask, client: FlaskClient, definition_id: str) -> list[str]:
    """Start the definition and return the field keys of the form its user task shows."""
    started = client.post(
        f"/engine-rest/process-definition/{definition_id}/start", json={}, headers=basic("operator")
    )
    assert started.status_code == 200, started.json
    with app.extensions["sessions"]() as session:
        task_id = session.scalars(select(UserTask.id).where(UserTask.instance_id == started.json["id"])).one()
    return [f.id for f in app.extensions["runtime"].task_form(task_id).fields]


def test_form_ref_with_deployment_binding_finds_the_form_by_its_id_not_its_file_name(desk, client):
    definition_id = deployed(client, "deploy_form_ref_deployment.bpmn", "deploy_review_v2.form")
    assert started_task_form(desk, client, definition_id) == ["approved", "comment"]


def test_form_ref_with_deployment_binding_and_no_such_form_id_is_refused_at_deploy(client):
    other = (
        (DATA / "deploy_review_v1.form")
        .read_bytes()
        .replace(b'"id": "invoiceReview"', b'"id": "invoiceCheck"')
    )
    refused = deploy(client, "deploy_form_ref_deployment.bpmn", ("deploy_review_v1.form", other))
    assert refused.status_code == 400
    [problem] = refused.json["details"]["deploy_form_ref_deployment.bpmn"]["errors"]
    assert problem["mainElementId"] == "ReviewInvoice" and problem["line"] == 7
    assert "'invoiceReview'" in problem["message"] and "invoiceCheck" in problem["message"]


def test_form_ref_latest_takes_the_newest_version_and_version_binding_the_pinned_one(desk, client):
    deployed(client, "deploy_form_ref_deployment.bpmn", "deploy_review_v1.form")  # invoiceReview v1
    changed = (DATA / "deploy_form_ref_deployment.bpmn").read_bytes().replace(b"Invoice review", b"Review")
    deployed(client, ("deploy_form_ref_deployment.bpmn", changed), "deploy_review_v2.form")  # v2
    latest = deployed(client, "deploy_form_ref_latest.bpmn")
    pinned = deployed(client, "deploy_form_ref_version.bpmn")
    assert started_task_form(desk, client, latest) == ["approved", "comment"]
    assert started_task_form(desk, client, pinned) == ["approved"]


def test_form_ref_without_a_binding_is_refused_as_camunda_refuses_it(client):
    unbound = (
        (DATA / "deploy_form_ref_latest.bpmn").read_bytes().replace(b' camunda:formRefBinding="latest"', b"")
    )
    refused = deploy(client, ("deploy_form_ref_latest.bpmn", unbound), "deploy_review_v1.form")
    assert refused.status_code == 400
    [problem] = refused.json["details"]["deploy_form_ref_latest.bpmn"]["errors"]
    assert problem["mainElementId"] == "ReviewInvoice" and problem["line"] == 7
    assert "camunda:formRefBinding must be one of deployment, latest, version" in problem["message"]


# ---------------------------------------------------------------------------- README


def test_compatibility_table_names_a_test_for_every_supported_row():
    """README's "Camunda 7 compatibility" stays true: every supported row names a test that exists."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    table = readme.split("## Camunda 7 compatibility", 1)[1].split("\n## ", 1)[0]
    rows = [
        line.split("|")[1:-1] for line in table.splitlines() if line.startswith("| ") and "---" not in line
    ]
    tests = "\n".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    header, *body = rows
    assert [h.strip() for h in header] == ["Element / attribute", "Supported", "Behaviour", "Test"]
    supported = [row for row in body if row[1].strip().startswith("yes")]
    assert len(supported) >= 15
    for element, _, _, test in supported:
        name = test.strip().strip("`")
        assert name and f"def {name}(" in tests, f"row {element.strip()!r} names no existing test"
    for element, _, _, test in body:
        if test.strip():
            assert f"def {test.strip().strip('`')}(" in tests, f"row {element.strip()!r}: no such test"
