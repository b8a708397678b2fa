"""An external-task worker's completion sets only what its topic may: never a process-owned variable
(the request's start variables, another topic's declared outputs), and a topic with declared outputs
only those. Over /engine-rest on SQLite and PostgreSQL, with tests/data/bpmn/rest_external.bpmn."""

from __future__ import annotations

import pytest

from service.errors import UndeclaredOutputsError
from service.worker_outputs import check_worker_outputs
from tests.engine_rest_helpers import (
    EXTERNAL_BPMN,
    basic,
    deployed_id,
    fetch,
    rest_app_fixture,  # noqa: F401  (fixture "rest_app": the app with its demo users)
)


@pytest.fixture
def http(rest_app):
    return rest_app.test_client()


def locked_charge(http, **variables) -> dict:
    definition_id = deployed_id(http, "rest_external.bpmn", EXTERNAL_BPMN)
    reply = http.post(
        f"/engine-rest/process-definition/{definition_id}/start",
        json={"variables": {name: {"value": value} for name, value in variables.items()}},
        headers=basic("operator"),
    )
    assert reply.status_code == 200, reply.json
    [task] = fetch(http, "w1", "charge_card")
    return task


def complete(http, task: dict, **variables):
    return http.post(
        f"/engine-rest/external-task/{task['id']}/complete",
        json={"workerId": "w1", "variables": {n: {"value": v} for n, v in variables.items()}},
        headers=basic("admin"),
    )


def instance_variables(http, task: dict) -> dict:
    reply = http.get(
        f"/engine-rest/process-instance/{task['processInstanceId']}/variables", headers=basic("admin")
    )
    return {name: typed["value"] for name, typed in reply.json.items()} if reply.status_code == 200 else {}


@pytest.mark.parametrize("owned", ["request_id", "needs_approval", "approvers"])
def test_a_worker_cannot_overwrite_what_the_process_owns(http, owned):
    task = locked_charge(http, request_id=7, items=2)
    reply = complete(http, task, charged=True, **{owned: 999})
    assert reply.status_code == 400, reply.json
    assert reply.json["type"] == "InvalidRequestException"
    assert owned in reply.json["message"] and "charge_card" in reply.json["message"]
    assert instance_variables(http, task).get("request_id") == 7
    assert fetch(http, "w1", "ship_order") == []  # the instance did not move on


def test_a_worker_sets_its_own_new_variables(http):
    task = locked_charge(http, request_id=7, items=2)
    assert complete(http, task, charged=True).status_code == 204
    assert [t["topicName"] for t in fetch(http, "w1", "ship_order")] == ["ship_order"]


def test_a_topic_with_declared_outputs_sets_only_those():
    declared = {"route": frozenset({"dispatcher_group", "needs_approval"}), "notify": frozenset({"notified"})}
    check_worker_outputs("route", {"needs_approval"}, declared)
    with pytest.raises(UndeclaredOutputsError, match="executor") as refused:
        check_worker_outputs("route", {"needs_approval", "executor"}, declared)
    assert "dispatcher_group, needs_approval" in str(refused.value)
