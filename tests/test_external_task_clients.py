"""The real Camunda external-task clients serve our service tasks over HTTP, unchanged.

camunda-external-task-client-python3 (PyPI) and, when Node.js is present, the official
camunda-external-task-client-js (npm) run against the app on a real HTTP server: they
complete the tasks of a deployed diagram, report a failure that becomes an incident, and
throw a BPMN error that the diagram's boundary event catches.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from tests.conftest import npm_ready, require_service
from tests.engine_rest_helpers import EXTERNAL_BPMN, T0, basic, deployed_id, seed_users
from web.auth import issue_token
from web.demo import DEMO_PASSWORD

JS_WORKER = Path(__file__).parent / "js_worker"
# The Python client's own code still uses pydantic v1 validators; that is not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Pydantic V1 style:DeprecationWarning")


@pytest.fixture
def served(any_app: Flask) -> Iterator[str]:
    """The app on a threaded HTTP server on a free local port; yields the /engine-rest base URL."""
    seed_users(any_app)
    server = make_server("127.0.0.1", 0, any_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="engine-rest-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/engine-rest"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def client(any_app: Flask) -> FlaskClient:
    return any_app.test_client()


def outcome(client: FlaskClient, business_key: str) -> dict:
    """What became of the instance with this business key: state, open tasks, incidents, variables."""
    auth = basic("admin")
    [history] = client.get(
        f"/engine-rest/history/process-instance?processInstanceBusinessKey={business_key}", headers=auth
    ).json
    instance_id = history["id"]
    variables = client.get(
        f"/engine-rest/history/variable-instance?processInstanceId={instance_id}", headers=auth
    )
    return {
        "state": history["state"],
        "tasks": [
            t["taskDefinitionKey"]
            for t in client.get(f"/engine-rest/task?processInstanceId={instance_id}", headers=auth).json
        ],
        "incidents": client.get(f"/engine-rest/incident?processInstanceId={instance_id}", headers=auth).json,
        "variables": {v["name"]: (v["type"], v["value"]) for v in variables.json},
    }


# ---------------------------------------------------------------------------- Python client


def python_client_ready() -> None:
    """Skip (fail on CI) unless requirements-dev.txt's camunda-external-task-client-python3 is installed."""
    try:
        import camunda.external_task.external_task_worker  # noqa: F401
    except ImportError as err:
        require_service("camunda-external-task-client-python3", f"cannot be imported ({err})")


def test_python_client_completes_fails_and_throws_bpmn_errors(served, client):
    python_client_ready()
    from camunda.client.engine_client import EngineClient
    from camunda.external_task.external_task_worker import ExternalTaskWorker, NoExternalTaskFound

    deployed_id(client, "rest_external.bpmn", EXTERNAL_BPMN)
    auth = {"auth_basic": {"username": "admin", "password": DEMO_PASSWORD}}
    engine = EngineClient(served, config=auth)
    for key, scenario in (("PY-PAY", "pay"), ("PY-FAIL", "fail"), ("PY-DECLINE", "decline")):
        started = engine.start_process(
            "rest_external", {"scenario": scenario, "amount": 12.5}, business_key=key
        )
        assert started["businessKey"] == key and started["ended"] is False

    config = {**auth, "maxTasks": 10, "lockDuration": 20_000, "asyncResponseTimeout": 500, "sleepSeconds": 0}
    worker = ExternalTaskWorker(worker_id="py-worker", base_url=served, config=config)

    def charge(task):
        assert task.get_worker_id() == "py-worker" and task.get_activity_id() == "charge"
        scenario = task.get_variable("scenario")
        if scenario == "fail":
            return task.failure("card processor unreachable", "ECONNREFUSED", max_retries=0, retry_timeout=0)
        if scenario == "decline":
            return task.bpmn_error(
                "card_declined", "Card declined", {"declineReason": "card reported stolen"}
            )
        receipt = {"number": f"R-{task.get_business_key()}", "lines": [1, 2]}
        return task.complete(
            {"charged": True, "chargedCents": int(task.get_variable("amount") * 100), "receipt": receipt}
        )

    def ship(task):
        assert task.get_variable("charged") is True
        return task.complete({"shippedBy": "py-worker"})

    worker.fetch_and_execute("charge_card", charge)
    with pytest.raises(NoExternalTaskFound):
        worker.fetch_and_execute("charge_card", charge)
    worker.fetch_and_execute("ship_order", ship)

    paid = outcome(client, "PY-PAY")
    assert paid["state"] == "COMPLETED" and paid["incidents"] == []
    assert paid["variables"]["charged"] == ("Boolean", True)
    assert paid["variables"]["chargedCents"] == ("Integer", 1250)
    assert paid["variables"]["shippedBy"] == ("String", "py-worker")
    assert json.loads(paid["variables"]["receipt"][1]) == {"number": "R-PY-PAY", "lines": [1, 2]}

    failed = outcome(client, "PY-FAIL")
    assert failed["state"] == "ACTIVE"
    [incident] = failed["incidents"]
    assert incident["incidentType"] == "failedExternalTask"
    assert incident["incidentMessage"] == "card processor unreachable"

    declined = outcome(client, "PY-DECLINE")
    assert declined["tasks"] == ["call_customer"] and declined["incidents"] == []
    assert declined["variables"]["declineReason"] == ("String", "card reported stolen")


def test_python_client_authenticates_with_a_bearer_token(any_app, served, client):
    python_client_ready()
    from camunda.external_task.external_task_worker import ExternalTaskWorker

    definition_id = deployed_id(client, "rest_external.bpmn", EXTERNAL_BPMN)
    client.post(
        f"/engine-rest/process-definition/{definition_id}/start",
        json={"businessKey": "PY-TOKEN", "variables": {"amount": {"value": 1, "type": "Integer"}}},
        headers=basic("admin"),
    )
    sessions = any_app.extensions["sessions"]
    with sessions() as session, session.begin():
        token = issue_token(
            session, name="payment worker", username="operator", now=T0, scopes=["engine:worker"]
        )
    config = {"auth_bearer": {"access_token": token}, "maxTasks": 1, "asyncResponseTimeout": 500}
    worker = ExternalTaskWorker(worker_id="py-token-worker", base_url=served, config=config)
    worker.fetch_and_execute("charge_card", lambda task: task.complete({"charged": True}))
    assert outcome(client, "PY-TOKEN")["variables"]["charged"] == ("Boolean", True)


# ---------------------------------------------------------------------------- JavaScript client


def js_client_ready() -> None:
    """Skip unless node and npm are here; install the pinned client into tests/js_worker once."""
    npm_ready(
        JS_WORKER,
        JS_WORKER / "node_modules" / "camunda-external-task-client-js" / "package.json",
        what="camunda-external-task-client-js",
    )


@pytest.mark.node
@pytest.mark.slow
@pytest.mark.parametrize("auth_kind", ["basic", "bearer"])
def test_js_client_completes_fails_and_throws_bpmn_errors(any_app, served, client, auth_kind):
    js_client_ready()
    definition_id = deployed_id(client, "rest_external.bpmn", EXTERNAL_BPMN)
    for key, scenario in (("JS-PAY", "pay"), ("JS-FAIL", "fail"), ("JS-DECLINE", "decline")):
        started = client.post(
            f"/engine-rest/process-definition/{definition_id}/start",
            json={
                "businessKey": key,
                "variables": {
                    "scenario": {"value": scenario, "type": "String"},
                    "amount": {"value": 12.5, "type": "Double"},
                },
            },
            headers=basic("admin"),
        )
        assert started.status_code == 200
    if auth_kind == "basic":
        auth = f"basic:admin:{DEMO_PASSWORD}"
    else:
        with any_app.extensions["sessions"]() as session, session.begin():
            auth = "bearer:" + issue_token(
                session, name="js worker", username="operator", now=T0, scopes=["engine:worker"]
            )

    env = {**os.environ, "ENGINE_URL": served, "AUTH": auth, "EXPECT": "4"}
    run = subprocess.run(
        ["node", "worker.mjs"], cwd=JS_WORKER, env=env, capture_output=True, text=True, timeout=90
    )
    assert run.returncode == 0, run.stderr
    handled = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert sorted((h["topic"], h["businessKey"], h["action"]) for h in handled) == [
        ("charge_card", "JS-DECLINE", "bpmnError"),
        ("charge_card", "JS-FAIL", "failure"),
        ("charge_card", "JS-PAY", "complete"),
        ("ship_order", "JS-PAY", "complete"),
    ]

    paid = outcome(client, "JS-PAY")
    assert paid["state"] == "COMPLETED"
    assert paid["variables"]["charged"] == ("Boolean", True)
    assert paid["variables"]["chargedCents"] == ("Integer", 1250)
    assert paid["variables"]["chargedAt"] == (
        "Date",
        "2026-11-23T10:00:00.000+0000",
    )  # a JS Date stays a Date
    assert json.loads(paid["variables"]["receipt"][1]) == {"number": "R-JS-PAY", "lines": [1, 2]}
    assert paid["variables"]["shippedBy"] == ("String", "js-worker")

    [incident] = outcome(client, "JS-FAIL")["incidents"]
    assert incident["incidentMessage"] == "card processor unreachable"

    declined = outcome(client, "JS-DECLINE")
    assert declined["tasks"] == ["call_customer"] and declined["incidents"] == []
    assert declined["variables"]["declineReason"] == ("String", "card reported stolen")
