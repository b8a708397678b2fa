"""Issue 18's reproductions, each at the door it was found at: one permission and integrity layer
(service.permissions, service.tasks, service.instances) behind the UI, /engine-rest, /api and the CLI.

Each test runs on SQLite and on PostgreSQL against the shipped diagrams and the demo seed.
"""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from desk.models import Request, StatusChange, User
from engine.store import Instance, UserTask
from tests.web_helpers import csrf_token, login, post, seeded_fixture  # noqa: F401  (fixture "seeded")
from web.demo import DEMO_PASSWORD


def basic(username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def open_task(app, element_id: str, number: str | None = None) -> UserTask:
    with app.extensions["sessions"]() as session:
        stmt = select(UserTask).where(UserTask.status == "open", UserTask.element_id == element_id)
        if number:
            stmt = stmt.where(UserTask.business_key == number)
        return session.scalars(stmt.order_by(UserTask.business_key)).first()


def request_row(app, number: str) -> Request:
    with app.extensions["sessions"]() as session:
        return session.scalars(select(Request).where(Request.number == number)).one()


def variables_of(app, instance_id: str) -> dict:
    with app.extensions["sessions"]() as session:
        return dict(session.get(Instance, instance_id).variables or {})


def test_a_rest_completion_cannot_skip_approval_with_an_undeclared_variable(seeded):
    client = seeded.test_client()
    task = open_task(seeded, "Task_Dispatch")
    before = variables_of(seeded, task.instance_id)
    reply = client.post(
        f"/engine-rest/task/{task.id}/complete",
        json={"variables": {"executor": {"value": "executor"}, "needs_approval": {"value": False}}},
        headers=basic("dispatcher"),
    )
    assert reply.status_code == 400, reply.json
    assert reply.json["type"] == "InvalidRequestException" and "needs_approval" in reply.json["message"]
    assert open_task(seeded, "Task_Dispatch", task.business_key).id == task.id
    assert variables_of(seeded, task.instance_id).get("needs_approval") == before.get("needs_approval")


def test_a_triage_completion_cannot_point_the_process_at_another_request(seeded):
    client = seeded.test_client()
    task = open_task(seeded, "Task_Triage")
    own = variables_of(seeded, task.instance_id)["request_id"]
    closed = request_row(seeded, "REQ-000001")
    reply = client.post(
        f"/engine-rest/task/{task.id}/complete",
        json={
            "variables": {
                "category": {"value": "hardware"},
                "priority": {"value": "normal"},
                "request_id": {"value": closed.id},
            }
        },
        headers=basic("operator"),
    )
    assert reply.status_code == 400 and "request_id" in reply.json["message"]
    assert variables_of(seeded, task.instance_id)["request_id"] == own
    assert request_row(seeded, "REQ-000001").status == closed.status


def test_an_executor_cannot_cancel_and_a_cancellation_cancels_the_request_with_its_reason(seeded):
    client = seeded.test_client()
    task = open_task(seeded, "Task_Dispatch")
    url = f"/engine-rest/process-instance/{task.instance_id}"
    refused = client.delete(url, headers=basic("executor"))
    assert refused.status_code == 403 and refused.json["type"] == "AuthorizationException"
    assert request_row(seeded, task.business_key).status == "new"

    done = client.delete(f"{url}?deleteReason=duplicate of REQ-000004", headers=basic("manager"))
    assert done.status_code == 204
    row = request_row(seeded, task.business_key)
    assert row.status == "cancelled"
    with seeded.extensions["sessions"]() as session:
        change = session.scalars(
            select(StatusChange).where(StatusChange.request_id == row.id).order_by(StatusChange.id.desc())
        ).first()
    assert (change.to_status, change.by, change.reason) == ("cancelled", "manager", "duplicate of REQ-000004")


@pytest.mark.parametrize("message", ["invoice.paid", "task.finished"])
def test_an_operator_cannot_correlate_a_message_that_stands_for_a_dispatchers_act(seeded, message):
    reply = seeded.test_client().post(
        "/engine-rest/message",
        json={"messageName": message, "businessKey": "REQ-000005"},
        headers=basic("operator"),
    )
    assert reply.status_code == 403 and reply.json["type"] == "AuthorizationException"
    assert message in reply.json["message"]


def test_starting_and_fetching_over_rest_follow_the_ui(seeded):
    client = seeded.test_client()
    started = client.post(
        "/engine-rest/process-definition/key/service_request/start", json={}, headers=basic("executor")
    )
    assert started.status_code == 403 and started.json["type"] == "AuthorizationException"
    fetched = client.post(
        "/engine-rest/external-task/fetchAndLock",
        json={"workerId": "w", "maxTasks": 1, "topics": [{"topicName": "classify", "lockDuration": 1000}]},
        headers=basic("operator"),
    )
    assert fetched.status_code == 403 and "external_task.fetch" in fetched.json["message"]


def test_a_dispatcher_cannot_dispatch_to_a_login_that_does_not_exist(seeded):
    task = open_task(seeded, "Task_Dispatch")
    client = seeded.test_client()
    login(client, "dispatcher")
    page = post(client, f"/tasks/{task.id}/complete", {"executor": "nobody"}, token_from=f"/tasks/{task.id}")
    assert page.status_code == 400 and "nobody" in page.get_data(as_text=True)
    rest = client.post(
        f"/engine-rest/task/{task.id}/complete",
        json={"variables": {"executor": {"value": "manager"}}},
        headers=basic("dispatcher"),
    )
    assert rest.status_code == 400 and "'manager'" in rest.json["message"]
    assert request_row(seeded, task.business_key).status == "new"
    assert open_task(seeded, "Task_Dispatch", task.business_key).id == task.id


@pytest.mark.parametrize("target", ["/%09/evil.example/", "/%0d%0aSet-Cookie:x=1", "/\\evil.example"])
def test_login_redirects_stay_on_this_site(seeded, target):
    client = seeded.test_client()
    response = client.post(
        f"/login?next={target}",
        data={"username": "operator", "password": DEMO_PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/tasks/"


def test_sessions_and_cached_passwords_end_on_logout_and_password_reset(seeded):
    first, second = seeded.test_client(), seeded.test_client()
    login(first, "operator")
    login(second, "operator")
    stolen = first.get_cookie("session").value
    post(first, "/logout")
    replay = seeded.test_client()
    replay.set_cookie("session", stolen)
    assert replay.get("/tasks/").status_code == 302
    assert second.get("/tasks/").status_code == 302

    api = seeded.test_client()
    assert api.get("/engine-rest/version", headers=basic("dispatcher")).status_code == 200
    dispatcher = seeded.test_client()
    login(dispatcher, "dispatcher")
    admin = seeded.test_client()
    login(admin, "admin")
    changed = post(
        admin,
        "/admin/users/dispatcher/password",
        {"password": "a new long passphrase", "password2": "a new long passphrase"},
        token_from="/admin/users/dispatcher",
    )
    assert changed.status_code == 302
    assert api.get("/engine-rest/version", headers=basic("dispatcher")).status_code == 401
    assert dispatcher.get("/tasks/").status_code == 302


def test_wrong_basic_passwords_lock_the_account_not_everyone_behind_the_address(seeded):
    client = seeded.test_client()
    for _ in range(5):
        assert client.get("/engine-rest/version", headers=basic("analyst", "guess")).status_code == 401
    assert client.get("/engine-rest/version", headers=basic("analyst")).status_code == 429
    assert client.get("/engine-rest/version", headers=basic("manager")).status_code == 200


def test_a_token_without_the_scope_is_refused(seeded):
    from web.auth import issue_token

    with seeded.extensions["sessions"]() as session, session.begin():
        pbx = issue_token(session, name="pbx", username="admin", now=seeded.extensions["runtime"].now())
        bank = issue_token(
            session,
            name="bank",
            username="dispatcher",
            now=seeded.extensions["runtime"].now(),
            scopes=["invoices:pay"],
        )
    client = seeded.test_client()
    refused = client.post("/api/telephony/event", json={}, headers={"Authorization": f"Bearer {pbx}"})
    assert refused.status_code == 403
    mail = client.post("/api/email", data=b"x", headers={"Authorization": f"Bearer {bank}"})
    assert mail.status_code == 403
    engine = client.post(
        "/engine-rest/external-task/fetchAndLock",
        json={"workerId": "w", "maxTasks": 1, "topics": [{"topicName": "classify", "lockDuration": 1}]},
        headers={"Authorization": f"Bearer {bank}"},
    )
    assert engine.status_code == 403


def test_deactivation_ends_sessions_at_once(seeded):
    client = seeded.test_client()
    login(client, "executor")
    with seeded.extensions["sessions"]() as session, session.begin():
        session.scalars(select(User).where(User.username == "executor")).one().active = False
    assert client.get("/tasks/").status_code == 302


def test_unknown_engine_rest_routes_and_methods_answer_camunda_json(seeded):
    client = seeded.test_client()
    missing = client.get("/engine-rest/no-such-resource", headers=basic("analyst"))
    assert missing.status_code == 404 and set(missing.json) >= {"type", "message"}
    wrong = client.put("/engine-rest/version", headers=basic("analyst"))
    assert wrong.status_code == 405 and set(wrong.json) >= {"type", "message"}


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("get", "/engine-rest/external-task/99999999999999999999999", None, None),
        ("get", "/engine-rest/deployment?after=yesterday", None, "after"),
        ("get", "/engine-rest/process-definition?version=99999999999999999999999", None, "version"),
        ("post", "/engine-rest/message", '{"messageName": NaN}', "NaN"),
        (
            "post",
            "/engine-rest/message",
            '{"messageName": "x", "a": ' + "[" * 5000 + "]" * 5000 + "}",
            "nested",
        ),
        ("post", "/engine-rest/message", '{"messageName": "\\ud800"}', "surrogate"),
        ("post", "/engine-rest/message", '{"messageName": "x", "all": 1e999}', "finite"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field_never_a_500(seeded, method, path, body, field):
    client = seeded.test_client()
    headers = {**basic("analyst"), "Content-Type": "application/json"}
    reply = getattr(client, method)(path, data=body, headers=headers)
    assert 400 <= reply.status_code < 500, (reply.status_code, reply.get_data(as_text=True))
    assert set(reply.json) >= {"type", "message"}
    if field:
        assert field in reply.json["message"]


def test_a_variable_over_the_size_limit_is_refused(seeded):
    seeded.config["MAX_VARIABLE_BYTES"] = 1000
    reply = seeded.test_client().post(
        "/engine-rest/process-definition/key/service_request/start",
        json={"variables": {"body": {"value": "я" * 1000, "type": "String"}}},
        headers=basic("operator"),
    )
    assert reply.status_code == 413 and "'body'" in reply.json["message"]


def test_csv_cells_cannot_be_formulas_and_the_file_opens_in_russian_excel():
    from web.csv_safe import BOM, safe_row

    assert safe_row(['=HYPERLINK("http://x")', "+7 495", "-1", "@SUM(A1)", "\tx", "REQ-1", 5, None]) == [
        '\'=HYPERLINK("http://x")',
        "'+7 495",
        "'-1",
        "'@SUM(A1)",
        "'\tx",
        "REQ-1",
        5,
        "",
    ]
    assert BOM == "\ufeff"


def test_template_previews_have_an_operation_budget():
    from jinja2 import TemplateError

    from desk.template_sandbox import BoundedSandbox

    env = BoundedSandbox()
    assert env.from_string("{{ 2**10 }} {{ 'ab' * 3 }}").render() == "1024 ababab"
    for bomb in ("{{ 9**(9**7) }}", "{{ 'x' * 10**9 }}", "{{ 10**60 * 10**60 * 10**60 }}"):
        with pytest.raises(TemplateError):
            env.from_string(bomb).render()


def test_a_multi_instance_cardinality_over_the_cap_names_the_element_and_the_number():
    from engine.limits import CardinalityTooLargeError, check_cardinality

    assert check_cardinality("i-1", "Task_Approve", 1000) == 1000
    with pytest.raises(CardinalityTooLargeError) as refused:
        check_cardinality("i-1", "Task_Approve", 1_000_000)
    assert "Task_Approve" in str(refused.value) and "1000000" in str(refused.value)
