"""/engine-rest/message: correlation by name and business key, Camunda's result body, and the
answers for a message nobody waits for, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from tests.engine_rest_helpers import (
    PAYMENT_BPMN,
    basic,
    client_fixture,  # noqa: F401  (fixture "client")
    deployed_id,
    rest_app_fixture,  # noqa: F401  (fixture "rest_app", which "client" uses)
    start,
)


def test_message_reaches_the_waiting_instance_by_business_key(client):
    definition_id = deployed_id(client, "payment.bpmn", PAYMENT_BPMN)
    waiting = start(client, definition_id, "INV-7")
    start(client, definition_id, "INV-8")
    auth = basic("dispatcher")
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
    variables = client.get(
        f"/engine-rest/process-instance/{waiting['id']}/variables", headers=basic("analyst")
    ).json
    assert variables["paidAmount"]["value"] == 99.5
    [external] = client.get(
        f"/engine-rest/external-task?processInstanceId={waiting['id']}", headers=basic("analyst")
    ).json
    assert external["topicName"] == "flaky" and external["workerId"] is None

    silent = client.post(
        "/engine-rest/message", json={"messageName": "invoice.paid", "businessKey": "INV-8"}, headers=auth
    )
    assert silent.status_code == 204
    nobody = client.post("/engine-rest/message", json={"messageName": "invoice.lost"}, headers=auth)
    assert nobody.status_code == 400 and "invoice.lost" in nobody.json["message"]


def _paid(client, **fields):
    body = {"messageName": "invoice.paid", "resultEnabled": True, **fields}
    return client.post("/engine-rest/message", json=body, headers=basic("dispatcher"))


def test_a_message_for_one_execution_that_matches_two_is_refused_as_camunda_refuses_it(client):
    definition_id = deployed_id(client, "payment.bpmn", PAYMENT_BPMN)
    first = start(client, definition_id, "INV-20", customer={"value": "acme"})
    second = start(client, definition_id, "INV-21", customer={"value": "globex"})

    ambiguous = _paid(client)
    assert ambiguous.status_code == 400
    assert "to a single execution. 2 executions match" in ambiguous.json["message"]

    # Both still wait: the keys single one out, and keys nobody has match nobody.
    nobody = _paid(client, correlationKeys={"customer": {"value": "initech", "type": "String"}})
    assert nobody.status_code == 400 and "invoice.paid" in nobody.json["message"]
    by_key = _paid(client, correlationKeys={"customer": {"value": "acme", "type": "String"}})
    assert by_key.status_code == 200 and [r["execution"]["id"] for r in by_key.json] == [first["id"]]

    assert _paid(client, processInstanceId="no-such-instance").status_code == 400
    by_id = _paid(client, processInstanceId=second["id"])
    assert by_id.status_code == 200 and [r["execution"]["id"] for r in by_id.json] == [second["id"]]
