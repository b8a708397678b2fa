"""/engine-rest/external-task speaks Camunda 7's external-task protocol: fetchAndLock with long
polling, locks that expire and extend, complete, failure with retries then an incident, and
BPMN errors, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

from tests.conftest import Clock
from tests.engine_rest_helpers import (
    CAMUNDA_DATE,
    EXTERNAL_BPMN,
    T0,
    WORKER,
    basic,
    client_fixture,  # noqa: F401  (fixture "client")
    deployed_id,
    fetch,
    rest_app_fixture,  # noqa: F401  (fixture "rest_app", which "client" uses)
    start,
)


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
    auth = basic(WORKER)
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
        f"/engine-rest/history/process-instance?processInstanceId={instance['id']}",
        headers=basic("analyst"),
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
    auth = basic(WORKER)
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
    auth = basic(WORKER)
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
    auth = basic(WORKER)
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
        headers=basic(WORKER),
    )
    assert reply.status_code == 204
    [incident] = client.get(
        f"/engine-rest/incident?processInstanceId={instance['id']}", headers=basic(WORKER)
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
        headers=basic(WORKER),
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
                headers=basic(WORKER),
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
    auth = basic(WORKER)
    no_worker = {"maxTasks": 1, "topics": [{"topicName": "charge_card", "lockDuration": 1000}]}
    assert (
        client.post("/engine-rest/external-task/fetchAndLock", json=no_worker, headers=auth).status_code
        == 400
    )
    no_lock = {"workerId": "w", "maxTasks": 1, "topics": [{"topicName": "charge_card"}]}
    reply = client.post("/engine-rest/external-task/fetchAndLock", json=no_lock, headers=auth)
    assert reply.status_code == 400 and "lockDuration" in reply.json["message"]
