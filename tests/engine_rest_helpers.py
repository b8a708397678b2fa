"""What the /engine-rest tests share: the diagrams they deploy, the Modeler's deploy request built
byte for byte, the pinned demo users the API is exercised with, and the app and client fixtures.

Other suites that talk to /engine-rest (worker outputs, external-task clients, lint) use these too.
Fixtures are named `*_fixture` and registered as "rest_app" and "client", so a test module imports
them without shadowing its tests' arguments.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

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


# External-task workers authenticating with a password: only admins hold external_task.fetch
# by role (a real worker uses a token scoped engine:worker).
WORKER = "admin"


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


@pytest.fixture(name="rest_app")
def rest_app_fixture(any_app: Flask) -> Flask:
    seed_users(any_app)
    return any_app


@pytest.fixture(name="client")
def client_fixture(rest_app: Flask) -> FlaskClient:
    return rest_app.test_client()


def fetch(client: FlaskClient, worker: str, topic: str, lock_ms: int = 10_000, **extra) -> list[dict]:
    body = {
        "workerId": worker,
        "maxTasks": extra.pop("maxTasks", 10),
        "usePriority": True,
        "topics": [{"topicName": topic, "lockDuration": lock_ms, **extra}],
    }
    reply = client.post("/engine-rest/external-task/fetchAndLock", json=body, headers=basic(WORKER))
    assert reply.status_code == 200, reply.json
    return reply.json
