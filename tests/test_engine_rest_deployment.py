"""/engine-rest/deployment speaks Camunda 7: the Modeler's deploy request byte for byte, the reply
field by field, Camunda's ParseException for a broken diagram, and cascade deletion, on SQLite
and PostgreSQL.
"""

from __future__ import annotations

import re

from tests.engine_rest_helpers import (
    ACCESS_BPMN,
    ACCESS_FORM,
    CAMUNDA_DATE,
    EXTERNAL_BPMN,
    MODELER_DIAGRAM,
    MODELER_FORM,
    basic,
    client_fixture,  # noqa: F401  (fixture "client")
    deployed_id,
    modeler_deploy,
    rest_app_fixture,  # noqa: F401  (fixture "rest_app", which "client" uses)
    start,
)

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
        "historyTimeToLive": 180,  # the diagram has none: the HISTORY_TIME_TO_LIVE default applies
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
