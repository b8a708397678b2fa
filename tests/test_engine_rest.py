"""/engine-rest speaks Camunda 7: the Modeler's deploy and start requests byte for byte, the replies
field by field, typed variables, tasks, messages, and the external-task protocol, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from desk.models import User
from web.auth import issue_token
from web.demo import DEMO_PASSWORD, DEMO_USERS, create_user

DATA = Path(__file__).parent / "data" / "bpmn"
ACCESS_BPMN = (DATA / "access_request.bpmn").read_bytes()
ACCESS_FORM = (DATA / "access_request.form").read_bytes()
EXTERNAL_BPMN = (DATA / "rest_external.bpmn").read_bytes()
PAYMENT_BPMN = (DATA / "payment.bpmn").read_bytes()
# What an analyst's files are called on disk: spaces and Cyrillic, as the Modeler sends them.
MODELER_DIAGRAM = "Заявка на доступ.bpmn"
MODELER_FORM = "Форма заявки.form"
CAMUNDA_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
# Headers the Modeler's RestAPI.getHeaders() adds to every request.
MODELER_HEADERS = {"Accept": "application/json"}

BROKEN_BPMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="Defs_broken" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="broken" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:exclusiveGateway id="gw"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw" />
    <bpmn:sequenceFlow id="f2" sourceRef="gw" targetRef="end"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${amount &gt; (</bpmn:conditionExpression></bpmn:sequenceFlow>
  </bpmn:process>
</bpmn:definitions>
"""  # noqa: E501  (one element per line keeps the reported line number obvious)


class Clock:
    """An injected clock: tests move time instead of sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def basic(username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def modeler_form(
    name: str, diagram: tuple[str, bytes], attachments: list[tuple[str, bytes]], tenant_id: str | None = None
) -> tuple[bytes, str]:
    """The multipart body Camunda Modeler's deploy client builds, as Chromium's FormData encodes it.

    CamundaAPI.deployDiagram appends, in this order: deployment-name, deployment-source
    ("Camunda Modeler"), enable-duplicate-filtering ("true"), tenant-id only when set, the
    diagram as a text/xml blob whose part name and file name are both the file's name,
    then each attachment as an untyped blob (application/octet-stream) named the same way.
    File names go out as raw UTF-8.
    """
    boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
    parts: list[tuple[str, str | None, bytes]] = [
        ('name="deployment-name"', None, name.encode()),
        ('name="deployment-source"', None, b"Camunda Modeler"),
        ('name="enable-duplicate-filtering"', None, b"true"),
    ]
    if tenant_id:
        parts.append(('name="tenant-id"', None, tenant_id.encode()))
    parts.append((f'name="{diagram[0]}"; filename="{diagram[0]}"', "text/xml", diagram[1]))
    for file_name, content in attachments:
        parts.append((f'name="{file_name}"; filename="{file_name}"', "application/octet-stream", content))
    body = b""
    for disposition, content_type, content in parts:
        body += f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n".encode()
        if content_type:
            body += f"Content-Type: {content_type}\r\n".encode()
        body += b"\r\n" + content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def modeler_deploy(
    client: FlaskClient,
    auth: dict[str, str],
    diagram: tuple[str, bytes] = (MODELER_DIAGRAM, ACCESS_BPMN),
    attachments: list[tuple[str, bytes]] | None = None,
    name: str = "Заявка на доступ",
):
    body, content_type = modeler_form(name, diagram, attachments if attachments is not None else [])
    return client.post(
        "/engine-rest/deployment/create",
        data=body,
        headers={**MODELER_HEADERS, **auth, "Content-Type": content_type},
    )


def deployed_id(client: FlaskClient, file_name: str, content: bytes) -> str:
    reply = modeler_deploy(client, basic("analyst"), (file_name, content), name=file_name)
    assert reply.status_code == 200, reply.json
    [definition_id] = reply.json["deployedProcessDefinitions"]
    return definition_id


def start(client: FlaskClient, definition_id: str, business_key: str | None = None, **variables) -> dict:
    reply = client.post(
        f"/engine-rest/process-definition/{definition_id}/start",
        json={"businessKey": business_key, "variables": variables},
        headers=basic("operator"),
    )
    assert reply.status_code == 200, reply.json
    return reply.json


def seed_users(app: Flask) -> None:
    """The pinned demo accounts this API is exercised with (DESIGN §8a), without the sample data."""
    with app.app_context():
        for username in ("analyst", "admin", "operator", "approver", "approver2", "dispatcher"):
            full_name, roles, groups = DEMO_USERS[username]
            create_user(username, DEMO_PASSWORD, full_name=full_name, roles=roles, groups=groups)


@pytest.fixture
def rest_app(any_app: Flask) -> Flask:
    seed_users(any_app)
    return any_app


@pytest.fixture
def client(rest_app: Flask) -> FlaskClient:
    return rest_app.test_client()


def fetch(client: FlaskClient, worker: str, topic: str, lock_ms: int = 10_000, **extra) -> list[dict]:
    body = {
        "workerId": worker,
        "maxTasks": extra.pop("maxTasks", 10),
        "usePriority": True,
        "topics": [{"topicName": topic, "lockDuration": lock_ms, **extra}],
    }
    reply = client.post("/engine-rest/external-task/fetchAndLock", json=body, headers=basic("operator"))
    assert reply.status_code == 200, reply.json
    return reply.json


# ---------------------------------------------------------------------------- auth


def test_modeler_connection_check_and_version_need_credentials(client):
    for path in ("/engine-rest/version", "/engine-rest/deployment?maxResults=0"):
        refused = client.get(path, headers=MODELER_HEADERS)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == 'Basic realm="engine-rest"'
    assert client.get("/engine-rest/version", headers=basic("analyst", "wrong")).status_code == 401
    assert client.get("/engine-rest/version", headers={"Authorization": "Bearer nope"}).status_code == 401

    version = client.get("/engine-rest/version", headers={**MODELER_HEADERS, **basic("analyst")})
    assert version.status_code == 200 and version.mimetype == "application/json"
    assert version.json == {"version": "7.24.0"}
    check = client.get(
        "/engine-rest/deployment?maxResults=0", headers={**MODELER_HEADERS, **basic("analyst")}
    )
    assert check.status_code == 200 and check.json == []


def test_only_analysts_and_admins_may_deploy(client):
    refused = modeler_deploy(client, basic("operator"), attachments=[(MODELER_FORM, ACCESS_FORM)])
    assert refused.status_code == 403
    assert refused.json["type"] == "AuthorizationException" and refused.json["userId"] == "operator"
    assert client.get("/engine-rest/deployment", headers=basic("operator")).json == []
    assert (
        modeler_deploy(client, basic("admin"), attachments=[(MODELER_FORM, ACCESS_FORM)]).status_code == 200
    )


def test_bearer_token_from_the_admin_page_deploys_and_starts(rest_app, client):
    sessions = rest_app.extensions["sessions"]
    with sessions() as session, session.begin():
        token = issue_token(session, name="modeler on anna's laptop", username="analyst", now=T0)
    bearer = {"Authorization": f"Bearer {token}"}
    deployed = modeler_deploy(client, bearer, attachments=[(MODELER_FORM, ACCESS_FORM)])
    assert deployed.status_code == 200
    [definition_id] = deployed.json["deployedProcessDefinitions"]
    # The Modeler's Start button: its JSON body, with variables null when the field is left empty.
    started = client.post(
        f"/engine-rest/process-definition/{definition_id}/start",
        data=json.dumps({"businessKey": "ACC-9", "variables": None}),
        headers={**MODELER_HEADERS, **bearer, "content-type": "application/json"},
    )
    assert started.status_code == 200 and started.json["businessKey"] == "ACC-9"
    assert started.json["ended"] is False


def test_password_guessing_is_throttled_but_tokens_keep_working(rest_app, client):
    with rest_app.extensions["sessions"]() as session, session.begin():
        token = issue_token(session, name="payment worker", username="operator", now=T0)
    for _ in range(5):
        assert client.get("/engine-rest/version", headers=basic("admin", "guess")).status_code == 401
    blocked = client.get("/engine-rest/version", headers=basic("admin"))
    assert blocked.status_code == 429
    bearer = client.get("/engine-rest/version", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200


def test_a_deactivated_user_is_refused_at_once(rest_app, client):
    assert client.get("/engine-rest/version", headers=basic("operator")).status_code == 200
    with rest_app.extensions["sessions"]() as session, session.begin():
        session.scalars(select(User).where(User.username == "operator")).one().active = False
    assert client.get("/engine-rest/version", headers=basic("operator")).status_code == 401


def test_no_cors_headers_are_sent_by_default(client):
    reply = client.get(
        "/engine-rest/version", headers={**basic("analyst"), "Origin": "https://evil.example.com"}
    )
    assert reply.status_code == 200
    assert not any(h.lower().startswith("access-control-") for h in reply.headers.keys())


# ---------------------------------------------------------------------------- deploy


def test_modeler_deploy_of_diagram_with_form_answers_like_camunda(client):
    reply = modeler_deploy(client, basic("analyst"), attachments=[(MODELER_FORM, ACCESS_FORM)])
    assert reply.status_code == 200 and reply.mimetype == "application/json"
    body = reply.json
    deployment_id = body["id"]
    assert body["name"] == "Заявка на доступ"
    assert body["source"] == "Camunda Modeler"
    assert body["tenantId"] is None
    assert CAMUNDA_DATE.match(body["deploymentTime"])
    assert body["links"] == [
        {"method": "GET", "href": f"http://localhost/engine-rest/deployment/{deployment_id}", "rel": "self"}
    ]
    assert body["deployedCaseDefinitions"] is None
    assert body["deployedDecisionDefinitions"] is None
    assert body["deployedDecisionRequirementsDefinitions"] is None
    [(definition_id, definition)] = body["deployedProcessDefinitions"].items()
    assert re.match(r"^access_request:1:[0-9a-f-]{36}$", definition_id)
    assert definition == {
        "id": definition_id,
        "key": "access_request",
        "category": None,
        "description": None,
        "name": "Заявка на доступ",
        "version": 1,
        "resource": MODELER_DIAGRAM,
        "deploymentId": deployment_id,
        "diagram": None,
        "suspended": False,
        "tenantId": None,
        "versionTag": None,
        "historyTimeToLive": None,
        "startableInTasklist": True,
    }
    auth = basic("analyst")
    resources = client.get(f"/engine-rest/deployment/{deployment_id}/resources", headers=auth).json
    assert sorted(r["name"] for r in resources) == sorted([MODELER_DIAGRAM, MODELER_FORM])
    [form] = [r for r in resources if r["name"] == MODELER_FORM]
    data = client.get(f"/engine-rest/deployment/{deployment_id}/resources/{form['id']}/data", headers=auth)
    assert data.data == ACCESS_FORM
    xml = client.get(f"/engine-rest/process-definition/{definition_id}/xml", headers=auth).json
    assert xml == {"id": definition_id, "bpmn20Xml": ACCESS_BPMN.decode()}
    listed = client.get("/engine-rest/process-definition?key=access_request&latestVersion=true", headers=auth)
    assert [d["id"] for d in listed.json] == [definition_id]
    assert client.get(f"/engine-rest/deployment/{deployment_id}", headers=auth).json["name"] == body["name"]

    # Deploying the unchanged diagram again (duplicate filtering on) creates no new version.
    again = modeler_deploy(client, basic("analyst"), attachments=[(MODELER_FORM, ACCESS_FORM)])
    assert again.status_code == 200
    assert again.json["id"] == deployment_id
    assert list(again.json["deployedProcessDefinitions"]) == [definition_id]
    assert client.get("/engine-rest/deployment/count", headers=auth).json == {"count": 1}


def test_diagram_that_does_not_parse_is_refused_with_camunda_parse_exception(client):
    reply = modeler_deploy(client, basic("analyst"), ("Сломанная схема.bpmn", BROKEN_BPMN), name="Сломанная")
    assert reply.status_code == 400
    body = reply.json
    assert body["type"] == "ParseException"
    assert body["message"].startswith(
        "ENGINE-09005 Could not parse BPMN process. Errors in process resource 'Сломанная схема.bpmn':\n* "
    )
    assert "f2" in body["message"] and "line 8" in body["message"]
    [error] = body["details"]["Сломанная схема.bpmn"]["errors"]
    assert error["line"] == 8 and error["column"] == 0
    assert error["mainElementId"] == "f2" and error["elementIds"] == ["f2"]
    assert "closing '}'" in error["message"]
    assert body["details"]["Сломанная схема.bpmn"]["warnings"] == []
    assert client.get("/engine-rest/deployment", headers=basic("analyst")).json == []


def test_diagram_without_its_form_is_refused_naming_the_task(client):
    reply = modeler_deploy(client, basic("analyst"))
    assert reply.status_code == 400 and reply.json["type"] == "ParseException"
    [error] = reply.json["details"][MODELER_DIAGRAM]["errors"]
    assert error["mainElementId"] == "approve" and MODELER_FORM in error["message"]


def test_deployment_with_instances_is_deleted_only_with_cascade(client):
    definition_id = deployed_id(client, "rest_external.bpmn", EXTERNAL_BPMN)
    instance = start(client, definition_id, "ORD-DEL")
    auth = basic("analyst")
    [deployment] = client.get("/engine-rest/deployment", headers=auth).json
    url = f"/engine-rest/deployment/{deployment['id']}"
    assert client.delete(url, headers=basic("operator")).status_code == 403
    refused = client.delete(url, headers=auth)
    assert refused.status_code == 409 and "cascade=true" in refused.json["message"]
    assert client.delete(f"{url}?cascade=true", headers=auth).status_code == 204
    assert client.get(url, headers=auth).status_code == 404
    assert client.get(f"/engine-rest/process-instance/{instance['id']}", headers=auth).status_code == 404
    assert client.get("/engine-rest/external-task", headers=auth).json == []
    assert client.delete(url, headers=auth).status_code == 404


# ---------------------------------------------------------------------------- start with typed variables


def test_start_with_typed_variables_as_the_modeler_sends_them(client):
    definition_id = deployed_id(client, "rest_external.bpmn", EXTERNAL_BPMN)
    variables = {
        "customer": {"value": "Иван Петров", "type": "String"},
        "express": {"value": True, "type": "Boolean"},
        "items": {"value": 3, "type": "Integer"},
        "cardNumber": {"value": 4_000_000_000, "type": "Long"},
        "amount": {"value": 1499.5, "type": "Double"},
        "orderedAt": {"value": "2026-11-23T10:00:00.000+0300", "type": "Date"},
        "address": {"value": '{"city": "Москва", "floor": 3}', "type": "Json"},
        "legacy": {
            "value": '{"a": [1, 2]}',
            "type": "Object",
            "valueInfo": {
                "objectTypeName": "java.util.HashMap",
                "serializationDataFormat": "application/json",
            },
        },
        "coupon": {"value": None, "type": "Null"},
        "untyped": {"value": 7},
    }
    reply = client.post(
        f"/engine-rest/process-definition/{definition_id}/start",
        data=json.dumps({"businessKey": "ORD-1", "variables": variables}),
        headers={**MODELER_HEADERS, **basic("operator"), "Content-Type": "application/json"},
    )
    assert reply.status_code == 200, reply.json
    instance = reply.json
    assert instance == {
        "links": [
            {
                "method": "GET",
                "href": f"http://localhost/engine-rest/process-instance/{instance['id']}",
                "rel": "self",
            }
        ],
        "id": instance["id"],
        "definitionId": definition_id,
        "definitionKey": "rest_external",
        "businessKey": "ORD-1",
        "caseInstanceId": None,
        "ended": False,
        "suspended": False,
        "tenantId": None,
    }
    stored = client.get(
        f"/engine-rest/process-instance/{instance['id']}/variables", headers=basic("operator")
    )
    values = stored.json
    assert values["customer"] == {"type": "String", "value": "Иван Петров", "valueInfo": {}}
    assert values["express"] == {"type": "Boolean", "value": True, "valueInfo": {}}
    assert values["items"] == {"type": "Integer", "value": 3, "valueInfo": {}}
    assert values["cardNumber"] == {"type": "Long", "value": 4_000_000_000, "valueInfo": {}}
    assert values["amount"] == {"type": "Double", "value": 1499.5, "valueInfo": {}}
    assert values["orderedAt"]["value"] == "2026-11-23T10:00:00+03:00"
    assert values["address"]["type"] == "Json"
    assert json.loads(values["address"]["value"]) == {"city": "Москва", "floor": 3}
    assert json.loads(values["legacy"]["value"]) == {"a": [1, 2]}
    assert values["coupon"] == {"type": "Null", "value": None, "valueInfo": {}}
    assert values["untyped"] == {"type": "Integer", "value": 7, "valueInfo": {}}

    by_key = client.post(
        "/engine-rest/process-definition/key/rest_external/start",
        json={"variables": {"items": {"value": "5", "type": "integer"}}, "withVariablesInReturn": True},
        headers=basic("operator"),
    )
    assert by_key.status_code == 200 and by_key.json["definitionId"] == definition_id
    assert by_key.json["variables"]["items"] == {"type": "Integer", "value": 5, "valueInfo": {}}
    unknown = client.post(
        "/engine-rest/process-definition/key/nope/start", json={}, headers=basic("operator")
    )
    assert unknown.status_code == 404 and unknown.json["type"] == "InvalidRequestException"


@pytest.mark.parametrize(
    ("name", "typed"),
    [
        ("items", {"value": "three", "type": "Integer"}),
        ("items", {"value": 2**31, "type": "Integer"}),
        ("express", {"value": "maybe", "type": "Boolean"}),
        ("orderedAt", {"value": "next week", "type": "Date"}),
        ("address", {"value": "{not json", "type": "Json"}),
        ("scan", {"value": "AAEC", "type": "Bytes"}),
        (
            "legacy",
            {
                "value": "rO0ABXNyABFqYXZh",
                "type": "Object",
                "valueInfo": {"serializationDataFormat": "application/x-java-serialized-object"},
            },
        ),
    ],
)
def test_bad_variable_is_refused_with_400_naming_it_and_nothing_starts(client, name, typed):
    definition_id = deployed_id(client, "rest_external.bpmn", EXTERNAL_BPMN)
    reply = client.post(
        f"/engine-rest/process-definition/{definition_id}/start",
        json={"variables": {name: typed}},
        headers=basic("operator"),
    )
    assert reply.status_code == 400
    assert reply.json["type"] == "InvalidRequestException"
    assert repr(name) in reply.json["message"]
    assert client.get("/engine-rest/process-instance/count", headers=basic("operator")).json == {"count": 0}


# ---------------------------------------------------------------------------- instances, tasks, messages


def test_user_task_claim_complete_and_second_completion_conflicts(client):
    modeler_deploy(client, basic("analyst"), attachments=[(MODELER_FORM, ACCESS_FORM)])
    instance = client.post(
        "/engine-rest/process-definition/key/access_request/start",
        json={"businessKey": "ACC-1", "variables": {"days": {"value": 30, "type": "Long"}}},
        headers=basic("operator"),
    ).json
    auth = basic("approver")
    tasks = client.get(
        f"/engine-rest/task?candidateGroup=approvers&processInstanceId={instance['id']}", headers=auth
    ).json
    [task] = tasks
    assert task["name"] == "Согласовать доступ" and task["taskDefinitionKey"] == "approve"
    assert task["processInstanceId"] == instance["id"]
    assert task["processDefinitionId"] == instance["definitionId"]
    assert task["formKey"] == f"camunda-forms:deployment:{MODELER_FORM}"
    assert task["assignee"] is None and CAMUNDA_DATE.match(task["created"])
    assert client.get(f"/engine-rest/task/{task['id']}", headers=auth).json == task
    assert client.get("/engine-rest/task?candidateGroup=dispatchers", headers=auth).json == []

    # Who may see and work a task is the task list's rule; admins may do anything.
    operator = basic("operator")
    assert client.get(f"/engine-rest/task?processInstanceId={instance['id']}", headers=operator).json == []
    assert client.get(f"/engine-rest/task/{task['id']}", headers=operator).status_code == 403
    refused = client.post(f"/engine-rest/task/{task['id']}/complete", json={}, headers=operator)
    assert refused.status_code == 403 and refused.json["type"] == "AuthorizationException"
    for_someone_else = client.post(
        f"/engine-rest/task/{task['id']}/claim", json={"userId": "approver2"}, headers=auth
    )
    assert for_someone_else.status_code == 403
    assert [t["id"] for t in client.get("/engine-rest/task", headers=basic("admin")).json] == [task["id"]]

    form = client.get(f"/engine-rest/task/{task['id']}/form-variables", headers=auth).json
    assert form["days"] == {"type": "Long", "value": 30, "valueInfo": {}}
    assert form["approved"]["type"] == "Boolean" and form["comment"]["type"] == "String"

    url = f"/engine-rest/task/{task['id']}"
    assert client.post(f"{url}/claim", json={"userId": "approver"}, headers=auth).status_code == 204
    assert [t["id"] for t in client.get("/engine-rest/task?assignee=approver", headers=auth).json] == [
        task["id"]
    ]
    taken = client.post(f"{url}/claim", json={"userId": "approver2"}, headers=basic("approver2"))
    assert taken.status_code == 409 and taken.json["type"] == "TaskAlreadyClaimedException"
    assert client.post(f"{url}/unclaim", headers=auth).status_code == 204
    assert client.get(url, headers=auth).json["assignee"] is None

    too_long = client.post(f"{url}/complete", json={"variables": {"days": {"value": 120}}}, headers=auth)
    assert too_long.status_code == 400 and "days" in too_long.json["message"]
    not_a_number = client.post(
        f"{url}/complete", json={"variables": {"days": {"value": "ten", "type": "Long"}}}, headers=auth
    )
    assert not_a_number.status_code == 400 and "'days'" in not_a_number.json["message"]

    done = client.post(
        f"{url}/complete",
        json={
            "variables": {
                "approved": {"value": True, "type": "Boolean"},
                "days": {"value": 14, "type": "Long"},
                "comment": {"value": "на две недели", "type": "String"},
            }
        },
        headers=auth,
    )
    assert done.status_code == 204
    again = client.post(f"{url}/complete", json={}, headers=auth)
    assert again.status_code == 409 and "already completed" in again.json["message"]
    assert client.post("/engine-rest/task/no-such-task/complete", json={}, headers=auth).status_code == 404
    assert client.get(url, headers=auth).status_code == 404

    [history] = client.get(
        f"/engine-rest/history/process-instance?processInstanceId={instance['id']}", headers=auth
    ).json
    assert history["state"] == "COMPLETED" and history["businessKey"] == "ACC-1"
    assert history["processDefinitionKey"] == "access_request" and history["startUserId"] == "operator"
    assert CAMUNDA_DATE.match(history["endTime"]) and history["durationInMillis"] >= 0
    variables = client.get(
        f"/engine-rest/history/variable-instance?processInstanceId={instance['id']}", headers=auth
    ).json
    assert {v["name"]: v["value"] for v in variables}["comment"] == "на две недели"


def test_instances_are_listed_and_deleted(client):
    definition_id = deployed_id(client, "rest_external.bpmn", EXTERNAL_BPMN)
    first = start(client, definition_id, "ORD-1")
    start(client, definition_id, "ORD-2")
    auth = basic("operator")
    listed = client.get("/engine-rest/process-instance?processDefinitionKey=rest_external", headers=auth).json
    assert sorted(i["businessKey"] for i in listed) == ["ORD-1", "ORD-2"]
    assert [
        i["id"] for i in client.get("/engine-rest/process-instance?businessKey=ORD-1", headers=auth).json
    ] == [first["id"]]
    assert client.delete(f"/engine-rest/process-instance/{first['id']}", headers=auth).status_code == 204
    assert client.get(f"/engine-rest/process-instance/{first['id']}", headers=auth).status_code == 404
    assert client.delete(f"/engine-rest/process-instance/{first['id']}", headers=auth).status_code == 404
    [history] = client.get(
        f"/engine-rest/history/process-instance?processInstanceId={first['id']}", headers=auth
    ).json
    assert history["state"] == "EXTERNALLY_TERMINATED"
    assert client.get("/engine-rest/process-instance/count", headers=auth).json == {"count": 1}


def test_message_reaches_the_waiting_instance_by_business_key(client):
    definition_id = deployed_id(client, "payment.bpmn", PAYMENT_BPMN)
    waiting = start(client, definition_id, "INV-7")
    start(client, definition_id, "INV-8")
    auth = basic("operator")
    reply = client.post(
        "/engine-rest/message",
        json={
            "messageName": "invoice.paid",
            "businessKey": "INV-7",
            "processVariables": {"paidAmount": {"value": 99.5, "type": "Double"}},
            "resultEnabled": True,
        },
        headers=auth,
    )
    assert reply.status_code == 200
    assert reply.json == [
        {
            "resultType": "Execution",
            "execution": {
                "id": waiting["id"],
                "processInstanceId": waiting["id"],
                "ended": False,
                "tenantId": None,
            },
            "processInstance": None,
        }
    ]
    variables = client.get(f"/engine-rest/process-instance/{waiting['id']}/variables", headers=auth).json
    assert variables["paidAmount"]["value"] == 99.5
    [external] = client.get(
        f"/engine-rest/external-task?processInstanceId={waiting['id']}", headers=auth
    ).json
    assert external["topicName"] == "flaky" and external["workerId"] is None

    silent = client.post(
        "/engine-rest/message", json={"messageName": "invoice.paid", "businessKey": "INV-8"}, headers=auth
    )
    assert silent.status_code == 204
    nobody = client.post("/engine-rest/message", json={"messageName": "invoice.lost"}, headers=auth)
    assert nobody.status_code == 400 and "invoice.lost" in nobody.json["message"]


# ---------------------------------------------------------------------------- external tasks


def test_fetch_and_lock_returns_camunda_locked_task_and_complete_moves_on(client):
    definition_id = deployed_id(client, "rest_external.bpmn", EXTERNAL_BPMN)
    instance = start(
        client,
        definition_id,
        "ORD-1",
        amount={"value": 10.5, "type": "Double"},
        customer={"value": '{"name": "Иван"}', "type": "Json"},
        note={"value": "not asked for", "type": "String"},
    )
    [task] = fetch(
        client, "worker-1", "charge_card", variables=["amount", "customer"], includeExtensionProperties=True
    )
    assert task["id"].isdigit()
    assert task["topicName"] == "charge_card" and task["workerId"] == "worker-1"
    assert CAMUNDA_DATE.match(task["lockExpirationTime"]) and CAMUNDA_DATE.match(task["createTime"])
    assert task["processInstanceId"] == instance["id"]
    assert task["processDefinitionId"] == definition_id
    assert task["processDefinitionKey"] == "rest_external"
    assert task["activityId"] == "charge" and task["activityInstanceId"].startswith("charge:")
    assert task["executionId"] and task["businessKey"] == "ORD-1"
    assert task["retries"] is None and task["errorMessage"] is None
    assert task["priority"] == 0 and task["suspended"] is False and task["tenantId"] is None
    assert task["extensionProperties"] == {"gateway": "sandbox"}
    assert task["variables"]["amount"] == {"type": "Double", "value": 10.5, "valueInfo": {}}
    assert task["variables"]["customer"]["type"] == "Json"
    assert json.loads(task["variables"]["customer"]["value"]) == {"name": "Иван"}
    assert "note" not in task["variables"]
    assert fetch(client, "worker-2", "charge_card") == []

    url = f"/engine-rest/external-task/{task['id']}"
    auth = basic("operator")
    stolen = client.post(f"{url}/complete", json={"workerId": "worker-2"}, headers=auth)
    assert stolen.status_code == 400 and stolen.json["type"] == "BadUserRequestException"
    assert "worker-1" in stolen.json["message"]
    receipt = {"receipt": {"value": "R-1", "type": "String"}}
    done = client.post(f"{url}/complete", json={"workerId": "worker-1", "variables": receipt}, headers=auth)
    assert done.status_code == 204
    gone = client.post(f"{url}/complete", json={"workerId": "worker-1"}, headers=auth)
    assert gone.status_code == 404

    [ship] = fetch(client, "worker-2", "ship_order")
    assert ship["variables"]["receipt"]["value"] == "R-1"
    assert ship["variables"]["note"]["value"] == "not asked for"
    ok = client.post(
        f"/engine-rest/external-task/{ship['id']}/complete", json={"workerId": "worker-2"}, headers=auth
    )
    assert ok.status_code == 204
    [history] = client.get(
        f"/engine-rest/history/process-instance?processInstanceId={instance['id']}", headers=auth
    ).json
    assert history["state"] == "COMPLETED"


def test_two_workers_never_get_the_same_task(rest_app, client):
    definition_id = deployed_id(client, "rest_external.bpmn", EXTERNAL_BPMN)
    for n in range(16):
        start(client, definition_id, f"ORD-{n}")
    got: dict[str, list[str]] = {}
    barrier = threading.Barrier(4)

    def work(worker: str) -> None:
        own = rest_app.test_client()
        barrier.wait()
        mine = got.setdefault(worker, [])
        while True:
            tasks = fetch(own, worker, "charge_card", maxTasks=3)
            if not tasks:
                return
            mine.extend(t["id"] for t in tasks)

    threads = [threading.Thread(target=work, args=(f"worker-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    locked = [task_id for ids in got.values() for task_id in ids]
    assert len(locked) == 16 and len(set(locked)) == 16


def test_expired_lock_makes_the_task_fetchable_again_and_only_the_holder_acts(rest_app, client):
    rest_app.extensions["runtime"].clock = clock = Clock(T0)
    definition_id = deployed_id(client, "rest_external.bpmn", EXTERNAL_BPMN)
    start(client, definition_id, "ORD-1")
    [first] = fetch(client, "slow-worker", "charge_card", lock_ms=1000)
    assert first["lockExpirationTime"] == "2026-11-23T09:00:01.000+0000"
    assert fetch(client, "fast-worker", "charge_card") == []
    clock.now += timedelta(seconds=2)
    [second] = fetch(client, "fast-worker", "charge_card", lock_ms=5000)
    assert second["id"] == first["id"] and second["workerId"] == "fast-worker"

    url = f"/engine-rest/external-task/{first['id']}"
    auth = basic("operator")
    late = client.post(f"{url}/complete", json={"workerId": "slow-worker"}, headers=auth)
    assert late.status_code == 400 and "fast-worker" in late.json["message"]
    extend = {"workerId": "fast-worker", "newDuration": 60_000}
    assert client.post(f"{url}/extendLock", json=extend, headers=auth).status_code == 204
    assert client.get(url, headers=auth).json["lockExpirationTime"] == "2026-11-23T09:01:02.000+0000"
    wrong = {"workerId": "slow-worker", "newDuration": 60_000}
    assert client.post(f"{url}/extendLock", json=wrong, headers=auth).status_code == 400
    assert client.post(f"{url}/unlock", headers=auth).status_code == 204
    [third] = fetch(client, "slow-worker", "charge_card")
    assert third["id"] == first["id"] and third["workerId"] == "slow-worker"


def test_failure_counts_down_retries_then_raises_an_incident(rest_app, client):
    rest_app.extensions["runtime"].clock = clock = Clock(T0)
    definition_id = deployed_id(client, "rest_external.bpmn", EXTERNAL_BPMN)
    instance = start(client, definition_id, "ORD-1")
    auth = basic("operator")
    [task] = fetch(client, "worker-1", "charge_card")
    url = f"/engine-rest/external-task/{task['id']}"
    failure = {
        "workerId": "worker-1",
        "errorMessage": "payment gateway down",
        "errorDetails": "ConnectionError: gateway.example.com:443",
        "retries": 1,
        "retryTimeout": 60_000,
    }
    assert client.post(f"{url}/failure", json=failure, headers=auth).status_code == 204
    assert fetch(client, "worker-1", "charge_card") == []
    clock.now += timedelta(seconds=61)
    [retry] = fetch(client, "worker-1", "charge_card")
    assert retry["id"] == task["id"]
    assert retry["retries"] == 1 and retry["errorMessage"] == "payment gateway down"
    assert client.get("/engine-rest/incident", headers=auth).json == []

    last = {**failure, "retries": 0, "errorMessage": "card processor rejected the request"}
    assert client.post(f"{url}/failure", json=last, headers=auth).status_code == 204
    clock.now += timedelta(hours=1)
    assert fetch(client, "worker-1", "charge_card") == []
    [incident] = client.get(f"/engine-rest/incident?processInstanceId={instance['id']}", headers=auth).json
    assert incident["incidentType"] == "failedExternalTask"
    assert incident["activityId"] == "charge" and incident["configuration"] == task["id"]
    assert incident["incidentMessage"] == "card processor rejected the request"
    assert incident["processDefinitionId"] == definition_id
    assert CAMUNDA_DATE.match(incident["incidentTimestamp"])
    assert client.get(f"{url}/errorDetails", headers=auth).text == failure["errorDetails"]
    assert client.get(f"{url}", headers=auth).json["retries"] == 0
    counts = {
        path: client.get(f"/engine-rest/{path}/count", headers=auth).json["count"]
        for path in ("incident", "external-task", "process-instance", "history/process-instance")
    }
    assert counts == {"incident": 1, "external-task": 1, "process-instance": 1, "history/process-instance": 1}
    assert client.get("/engine-rest/process-definition/count?key=rest_external", headers=auth).json == {
        "count": 1
    }
    assert client.get("/engine-rest/task/count", headers=auth).json == {"count": 0}


def test_bpmn_error_is_caught_by_the_boundary_event_with_the_workers_variables(client):
    definition_id = deployed_id(client, "rest_external.bpmn", EXTERNAL_BPMN)
    instance = start(client, definition_id, "ORD-1")
    auth = basic("operator")
    [task] = fetch(client, "worker-1", "charge_card")
    reply = client.post(
        f"/engine-rest/external-task/{task['id']}/bpmnError",
        json={
            "workerId": "worker-1",
            "errorCode": "card_declined",
            "errorMessage": "Insufficient funds",
            "variables": {"declineReason": {"value": "insufficient_funds", "type": "String"}},
        },
        headers=auth,
    )
    assert reply.status_code == 204
    url = f"/engine-rest/task?processInstanceId={instance['id']}"
    [call] = client.get(url, headers=basic("dispatcher")).json
    assert call["taskDefinitionKey"] == "call_customer"
    variables = client.get(f"/engine-rest/process-instance/{instance['id']}/variables", headers=auth).json
    assert variables["declineReason"]["value"] == "insufficient_funds"
    assert client.get(f"/engine-rest/external-task/{task['id']}", headers=auth).status_code == 404
    assert client.get("/engine-rest/incident", headers=auth).json == []
    assert fetch(client, "worker-1", "ship_order") == []


def test_bpmn_error_nobody_catches_becomes_an_incident(client):
    definition_id = deployed_id(client, "rest_external.bpmn", EXTERNAL_BPMN)
    instance = start(client, definition_id, "ORD-1")
    [task] = fetch(client, "worker-1", "charge_card")
    reply = client.post(
        f"/engine-rest/external-task/{task['id']}/bpmnError",
        json={"workerId": "worker-1", "errorCode": "fraud_suspected"},
        headers=basic("operator"),
    )
    assert reply.status_code == 204
    [incident] = client.get(
        f"/engine-rest/incident?processInstanceId={instance['id']}", headers=basic("operator")
    ).json
    assert "fraud_suspected" in incident["incidentMessage"]


def test_long_polling_answers_as_soon_as_a_task_appears(rest_app, client):
    definition_id = deployed_id(client, "rest_external.bpmn", EXTERNAL_BPMN)
    began = time.monotonic()
    empty = client.post(
        "/engine-rest/external-task/fetchAndLock",
        json={
            "workerId": "w",
            "maxTasks": 1,
            "asyncResponseTimeout": 400,
            "topics": [{"topicName": "charge_card", "lockDuration": 1000}],
        },
        headers=basic("operator"),
    )
    assert empty.json == [] and time.monotonic() - began >= 0.35

    replies: list = []

    def poll() -> None:
        replies.append(
            rest_app.test_client().post(
                "/engine-rest/external-task/fetchAndLock",
                json={
                    "workerId": "w",
                    "maxTasks": 1,
                    "asyncResponseTimeout": 20_000,
                    "topics": [{"topicName": "charge_card", "lockDuration": 1000}],
                },
                headers=basic("operator"),
            )
        )

    poller = threading.Thread(target=poll)
    began = time.monotonic()
    poller.start()
    time.sleep(0.5)
    start(client, definition_id, "ORD-LP")
    poller.join(timeout=25)
    assert time.monotonic() - began < 10
    [task] = replies[0].json
    assert task["businessKey"] == "ORD-LP"


def test_fetch_and_lock_refuses_requests_missing_worker_or_lock_duration(client):
    auth = basic("operator")
    no_worker = {"maxTasks": 1, "topics": [{"topicName": "charge_card", "lockDuration": 1000}]}
    assert (
        client.post("/engine-rest/external-task/fetchAndLock", json=no_worker, headers=auth).status_code
        == 400
    )
    no_lock = {"workerId": "w", "maxTasks": 1, "topics": [{"topicName": "charge_card"}]}
    reply = client.post("/engine-rest/external-task/fetchAndLock", json=no_lock, headers=auth)
    assert reply.status_code == 400 and "lockDuration" in reply.json["message"]
