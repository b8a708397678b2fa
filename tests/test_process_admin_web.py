"""The process admin pages: deploy, start, definition counts, variable edits with audit, migration."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.admin_store import VariableAudit
from engine.deploy import deploy
from engine.store import Deployment, Instance, ProcessDefinition, UserTask
from tests.test_migration import END, START, V_REMOVED, V_TWO_STEPS, diagram, user_task
from web.demo import create_user

DATA = Path(__file__).parent / "data" / "bpmn"
ROLES = {"admin": ["admin"], "analyst": ["analyst"], "operator": ["operator"], "manager": ["manager"]}
START_WITH_FORM = (
    "start",
    "startEvent",
    "><bpmn:extensionElements><camunda:formData>"
    '<camunda:formField id="amount" label="Amount" type="long">'
    '<camunda:validation><camunda:constraint name="required"/><camunda:constraint name="min" config="1"/>'
    "</camunda:validation></camunda:formField>"
    '<camunda:formField id="urgent" label="Urgent" type="boolean"/>'
    "</camunda:formData></bpmn:extensionElements>",
)
BROKEN = diagram(
    "approval", [START, ("broken_call", "serviceTask", 'camunda:type="external">'), END], name="Broken"
)


@pytest.fixture
def admin_app(any_app):
    with any_app.app_context():
        for name, roles in ROLES.items():
            create_user(name, "pw", roles=roles, groups=["reviewers"])
    return any_app


def csrf(client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return re.search(rb'name="csrf_token" value="([^"]+)"', page.data).group(1).decode()


def client_for(app, username: str):
    client = app.test_client()
    reply = client.post(
        "/login", data={"username": username, "password": "pw", "csrf_token": csrf(client, "/login")}
    )
    assert reply.status_code == 302
    return client


def upload(client, files: dict[str, bytes], path: str = "/processes/deploy"):
    data = {"csrf_token": csrf(client, path), "files": [(io.BytesIO(c), n) for n, c in files.items()]}
    return client.post(path, data=data, content_type="multipart/form-data")


def count(app, model) -> int:
    with app.extensions["sessions"]() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_operator_cannot_deploy(admin_app):
    operator = client_for(admin_app, "operator")
    assert operator.get("/processes/deploy").status_code == 403
    token = csrf(operator, "/processes/start")
    refused = operator.post(
        "/processes/deploy",
        data={"csrf_token": token, "files": [(io.BytesIO(V_TWO_STEPS), "approval.bpmn")]},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 403 and count(admin_app, Deployment) == 0


def test_deploy_without_csrf_token_is_refused(admin_app):
    analyst = client_for(admin_app, "analyst")
    reply = analyst.post(
        "/processes/deploy",
        data={"files": [(io.BytesIO(V_TWO_STEPS), "approval.bpmn")]},
        content_type="multipart/form-data",
    )
    assert reply.status_code == 400 and count(admin_app, Deployment) == 0


def test_deploy_page_refuses_a_broken_diagram_naming_the_element_and_stores_nothing(admin_app):
    analyst = client_for(admin_app, "analyst")
    reply = upload(analyst, {"approval.bpmn": BROKEN})
    assert reply.status_code == 400
    page = reply.get_data(as_text=True)
    assert 'id="deploy-problems"' in page and "<code>broken_call</code>" in page
    assert "external service task has no camunda:topic" in page
    assert (count(admin_app, Deployment), count(admin_app, ProcessDefinition)) == (0, 0)


def test_analyst_deploys_a_diagram_with_its_form_and_then_a_new_version(admin_app):
    analyst = client_for(admin_app, "analyst")
    bpmn = (DATA / "access_request.bpmn").read_bytes()
    without_form = upload(analyst, {"access_request.bpmn": bpmn})
    assert without_form.status_code == 400 and "<code>approve</code>" in without_form.get_data(as_text=True)
    form = (DATA / "access_request.form").read_bytes()
    deployed = upload(analyst, {"access_request.bpmn": bpmn, "Форма заявки.form": form})
    assert deployed.status_code == 200 and "v1</a>" in deployed.get_data(as_text=True)

    assert "v1</a>" in upload(analyst, {"approval.bpmn": V_TWO_STEPS}).get_data(as_text=True)
    second = upload(analyst, {"approval.bpmn": V_REMOVED})
    assert second.status_code == 200 and "Approval v2</a>" in second.get_data(as_text=True)
    index = analyst.get("/processes/").get_data(as_text=True)
    assert index.count('data-definition="approval:') == 2
    refused_type = upload(analyst, {"notes.txt": b"hello"})
    assert (
        refused_type.status_code == 400
        and "можно развернуть только диаграммы .bpmn, решения .dmn и формы .form"
        in refused_type.get_data(as_text=True)
    )


def test_operator_starts_an_instance_from_the_start_form(admin_app):
    deploy(
        admin_app.extensions["sessions"],
        {"order.bpmn": diagram("order", [START_WITH_FORM, user_task("review"), END], name="Order")},
    )
    operator = client_for(admin_app, "operator")
    listing = operator.get("/processes/start").get_data(as_text=True)
    with admin_app.extensions["sessions"]() as session:
        definition_id = session.scalars(select(ProcessDefinition.id)).one()
    assert "Order" in listing
    path = f"/processes/definitions/{definition_id}/start"
    page = operator.get(path).get_data(as_text=True)
    assert 'name="amount"' in page and 'name="urgent"' in page
    token = csrf(operator, path)
    bad = operator.post(path, data={"csrf_token": token, "amount": "0"})
    assert bad.status_code == 400 and count(admin_app, Instance) == 0
    started = operator.post(
        path, data={"csrf_token": token, "amount": "12", "urgent": "true", "business_key": "ORD-7"}
    )
    assert started.status_code == 302
    with admin_app.extensions["sessions"]() as session:
        inst = session.scalars(select(Instance)).one()
    assert (inst.business_key, inst.started_by, inst.variables["amount"], inst.variables["urgent"]) == (
        "ORD-7",
        "operator",
        12,
        True,
    )
    executor = admin_app.test_client()
    assert executor.get(path).status_code == 302  # not logged in: sent to the login page


def test_definition_page_counts_instances_per_element(admin_app):
    runtime = admin_app.extensions["runtime"]
    definition_id = deploy(admin_app.extensions["sessions"], {"approval.bpmn": V_TWO_STEPS}).definitions[0].id
    for _ in range(3):
        runtime.start("approval")
    moved = runtime.start("approval")
    with admin_app.extensions["sessions"]() as session:
        task_id = session.scalars(select(UserTask.id).where(UserTask.instance_id == moved.id)).one()
    runtime.complete(task_id, "analyst", {})
    manager = client_for(admin_app, "manager")
    page = manager.get(f"/processes/definitions/{definition_id}").get_data(as_text=True)
    assert "<svg" in page
    assert re.search(r'data-element="review"><td>[^<]+</td><td class="active">3</td>', page)
    assert re.search(r'data-element="approve"><td>[^<]+</td><td class="active">1</td>', page)
    index = manager.get("/processes/").get_data(as_text=True)
    assert re.search(
        r'<td class="running">4</td><td class="finished">0</td><td class="incidents">0</td>', index
    )


def test_variable_edit_is_audited_and_bad_json_is_refused_with_a_message(admin_app):
    runtime = admin_app.extensions["runtime"]
    deploy(admin_app.extensions["sessions"], {"approval.bpmn": V_TWO_STEPS})
    started = runtime.start("approval", variables={"amount": 5})
    manager = client_for(admin_app, "manager")
    path = f"/processes/instances/{started.id}"
    token = csrf(manager, path)

    bad = manager.post(f"{path}/variables", data={"csrf_token": token, "name": "amount", "value": "seven"})
    assert bad.status_code == 400
    assert "is not valid JSON" in bad.get_data(as_text=True) and 'value="seven"' in bad.get_data(as_text=True)
    bad_name = manager.post(f"{path}/variables", data={"csrf_token": token, "name": "1st", "value": "1"})
    assert bad_name.status_code == 400 and "is not allowed" in bad_name.get_data(as_text=True)
    assert count(admin_app, VariableAudit) == 0 and runtime.variables(started.id)["amount"] == 5

    ok = manager.post(f"{path}/variables", data={"csrf_token": token, "name": "amount", "value": "7"})
    assert ok.status_code == 302
    added = manager.post(
        f"{path}/variables", data={"csrf_token": token, "name": "note", "value": '"checked"'}
    )
    assert added.status_code == 302
    with admin_app.extensions["sessions"]() as session:
        rows = session.scalars(select(VariableAudit).order_by(VariableAudit.id)).all()
    assert [(r.name, r.old_value, r.new_value, r.existed, r.user) for r in rows] == [
        ("amount", 5, 7, True, "manager"),
        ("note", None, "checked", False, "manager"),
    ]
    assert runtime.variables(started.id)["amount"] == 7
    with admin_app.extensions["sessions"]() as session:
        task_id = session.scalars(select(UserTask.id).where(UserTask.instance_id == started.id)).one()
    runtime.complete(task_id, "x", {})
    assert runtime.variables(started.id)["note"] == "checked"  # the edit reached the path that went on
    page = manager.get(path).get_data(as_text=True)
    assert 'id="variable-audit"' in page and "<code>5</code>" in page and "<code>7</code>" in page

    operator = client_for(admin_app, "operator")
    assert (
        operator.post(
            f"{path}/variables", data={"csrf_token": csrf(operator, path), "name": "amount", "value": "1"}
        ).status_code
        == 403
    )


def test_cancel_from_the_instance_page(admin_app):
    runtime = admin_app.extensions["runtime"]
    deploy(admin_app.extensions["sessions"], {"approval.bpmn": V_TWO_STEPS})
    started = runtime.start("approval")
    manager = client_for(admin_app, "manager")
    path = f"/processes/instances/{started.id}"
    reply = manager.post(f"{path}/cancel", data={"csrf_token": csrf(manager, path), "reason": "duplicate"})
    assert reply.status_code == 302
    with admin_app.extensions["sessions"]() as session:
        assert session.get(Instance, started.id).status == "cancelled"


def wait_for_batch(client, batch_id: int) -> dict:
    for _ in range(200):
        status = client.get(f"/processes/migrations/{batch_id}.json").get_json()
        if status["finished"]:
            return status
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} did not finish: {status}")


def test_migration_page_dry_runs_then_runs_a_batch_the_page_polls(admin_app):
    runtime = admin_app.extensions["runtime"]
    sessions = admin_app.extensions["sessions"]
    v1 = deploy(sessions, {"approval.bpmn": V_TWO_STEPS}).definitions[0].id
    v2 = deploy(sessions, {"approval.bpmn": V_REMOVED}).definitions[0].id
    at_review = runtime.start("approval", business_key="AT-REVIEW", definition_id=v1)
    at_approve = runtime.start("approval", business_key="AT-APPROVE", definition_id=v1)
    with sessions() as session:
        task_id = session.scalars(select(UserTask.id).where(UserTask.instance_id == at_approve.id)).one()
    runtime.complete(task_id, "x", {})
    with sessions() as session:
        state_before = session.get(Instance, at_review.id).state

    analyst = client_for(admin_app, "analyst")
    token = csrf(analyst, f"/processes/migrate?source={v1}")
    dry = analyst.post(
        "/processes/migrate", data={"csrf_token": token, "source": v1, "target": v2, "action": "dry"}
    )
    page = dry.get_data(as_text=True)
    assert dry.status_code == 200 and "AT-REVIEW" in page and "<code>review</code>" in page
    assert "has no counterpart in version 2" in page and "AT-APPROVE" not in page

    bad_map = analyst.post(
        "/processes/migrate",
        data={"csrf_token": token, "source": v1, "target": v2, "mapping": "revew=approve"},
    )
    assert bad_map.status_code == 400 and "did you mean review?" in bad_map.get_data(as_text=True)

    run = analyst.post(
        "/processes/migrate", data={"csrf_token": token, "source": v1, "target": v2, "action": "run"}
    )
    assert run.status_code == 302
    batch_id = int(run.headers["Location"].rsplit("/", 1)[1])
    assert 'id="batch-progress"' in analyst.get(f"/processes/migrations/{batch_id}").get_data(as_text=True)
    status = wait_for_batch(analyst, batch_id)
    assert (status["total"], status["done"], status["skipped"], status["failed"]) == (2, 1, 1, 0)
    assert status["problems"] == [
        {
            "instance_id": at_review.id,
            "status": "skipped",
            "reason": "review: has no counterpart in version 2; map it to an element of version 2 (old=new)",
        }
    ]
    with sessions() as session:
        assert session.get(Instance, at_review.id).state == state_before
        assert session.get(Instance, at_approve.id).definition_id == v2

    manager = client_for(admin_app, "manager")
    assert manager.get("/processes/migrate").status_code == 403
    assert json.loads(analyst.get(f"/processes/migrations/{batch_id}.json").data)["finished"] is True


def test_batch_page_refreshes_until_the_batch_is_finished(admin_app):
    from engine.migration import create_batch, plan, run_batch

    runtime = admin_app.extensions["runtime"]
    sessions = admin_app.extensions["sessions"]
    v1 = deploy(sessions, {"approval.bpmn": V_TWO_STEPS}).definitions[0].id
    v2 = deploy(sessions, {"approval.bpmn": V_REMOVED}).definitions[0].id
    started = runtime.start("approval", definition_id=v1)
    with sessions() as session:
        migration = plan(runtime.definition(session, v1), runtime.definition(session, v2))
    batch_id = create_batch(sessions, migration, [started.id], user="analyst")
    analyst = client_for(admin_app, "analyst")
    pending = analyst.get(f"/processes/migrations/{batch_id}")
    assert pending.headers.get("Refresh") == "1" and 'id="batch-progress"' in pending.get_data(as_text=True)
    run_batch(runtime, batch_id)
    finished = analyst.get(f"/processes/migrations/{batch_id}")
    assert "Refresh" not in finished.headers
    assert re.search(r'id="batch-skipped">1<', finished.get_data(as_text=True))
    assert analyst.get("/processes/migrations/999.json").status_code == 404
