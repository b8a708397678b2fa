"""/engine-rest/process-definition/{id}/start and /key/{key}/start: typed variables as the Modeler
sends them come back with their Camunda types; a value that does not fit its type is refused
with a 400 naming it and starts nothing. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json

import pytest

from tests.engine_rest_helpers import (
    EXTERNAL_BPMN,
    MODELER_HEADERS,
    basic,
    client_fixture,  # noqa: F401  (fixture "client")
    deployed_id,
    rest_app_fixture,  # noqa: F401  (fixture "rest_app", which "client" uses)
)


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
    assert values["orderedAt"] == {"type": "Date", "value": "2026-11-23T07:00:00.000+0000", "valueInfo": {}}
    assert values["address"]["type"] == "Json"
    assert json.loads(values["address"]["value"]) == {"city": "Москва", "floor": 3}
    # deserializeValues defaults to true: Camunda answers an Object with its deserialized JSON.
    assert values["legacy"]["type"] == "Object" and values["legacy"]["value"] == {"a": [1, 2]}
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
        ("scan", {"value": "not base64!", "type": "Bytes"}),
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
