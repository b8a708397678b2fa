"""/engine-rest/process-instance: listing by definition and business key, deletion, and its
history record, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from tests.engine_rest_helpers import (
    EXTERNAL_BPMN,
    basic,
    client_fixture,  # noqa: F401  (fixture "client")
    deployed_id,
    rest_app_fixture,  # noqa: F401  (fixture "rest_app", which "client" uses)
    start,
)


def test_instances_are_listed_and_deleted(client):
    definition_id = deployed_id(client, "rest_external.bpmn", EXTERNAL_BPMN)
    first = start(client, definition_id, "ORD-1")
    start(client, definition_id, "ORD-2")
    auth = basic("analyst")
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
