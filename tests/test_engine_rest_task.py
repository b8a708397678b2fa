"""/engine-rest/task: list, claim, unclaim, form variables and complete as Camunda 7 answers them,
with the task list's rule for who may see and work a task, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from tests.engine_rest_helpers import (
    ACCESS_FORM,
    CAMUNDA_DATE,
    MODELER_FORM,
    basic,
    client_fixture,  # noqa: F401  (fixture "client")
    modeler_deploy,
    rest_app_fixture,  # noqa: F401  (fixture "rest_app", which "client" uses)
)


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
        f"/engine-rest/history/process-instance?processInstanceId={instance['id']}",
        headers=basic("analyst"),
    ).json
    assert history["state"] == "COMPLETED" and history["businessKey"] == "ACC-1"
    assert history["processDefinitionKey"] == "access_request" and history["startUserId"] == "operator"
    assert CAMUNDA_DATE.match(history["endTime"]) and history["durationInMillis"] >= 0
    variables = client.get(
        f"/engine-rest/history/variable-instance?processInstanceId={instance['id']}",
        headers=basic("analyst"),
    ).json
    assert {v["name"]: v["value"] for v in variables}["comment"] == "на две недели"
