"""Staff UI: login with throttling, CSRF, and who may see and complete which task."""

from __future__ import annotations

import re
from datetime import UTC
from pathlib import Path

import pytest

from engine.deploy import deploy
from web.demo import create_user

DATA = Path(__file__).parent / "data" / "bpmn"


@pytest.fixture
def staff(app):
    with app.app_context():
        create_user("reviewer", "pw-reviewer", roles=["executor"], groups=["reviewers"])
        create_user("outsider", "pw-outsider", roles=["executor"], groups=["somebody_else"])
        create_user("boss", "pw-boss", roles=["manager"], groups=["managers"])
    runtime = app.extensions["runtime"]
    runtime.handlers.register("step_one", lambda v: {"counter": 1})
    runtime.handlers.register("step_two", lambda v: {"result": 2})
    deploy(
        app.extensions["sessions"],
        {"five_step.bpmn": (DATA / "five_step.bpmn").read_bytes()},
        known_topics=runtime.handlers.topics(),
    )
    started = runtime.start("five_step", business_key="ORDER-1")
    return _task_id(app, started.id)


def _task_id(app, instance_id: str) -> str:
    from engine.tasklist import TaskQuery, query_tasks

    with app.extensions["sessions"]() as session:
        return query_tasks(session, TaskQuery(everything=True, instance_id=instance_id)).tasks[0].id


def token(client, path: str = "/login") -> str:
    page = client.get(path)
    return re.search(rb'name="csrf_token" value="([^"]+)"', page.data).group(1).decode()


def login(client, username: str, password: str):
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token(client)}
    )


@pytest.mark.parametrize("path", ["/tasks/", "/requests/", "/processes/"])
def test_anonymous_users_are_sent_to_login(app, path):
    response = app.test_client().get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_login_without_csrf_token_is_refused(app, staff):
    response = app.test_client().post("/login", data={"username": "reviewer", "password": "pw-reviewer"})
    assert response.status_code == 400


def test_failed_logins_are_throttled(app, staff):
    client = app.test_client()
    for _ in range(5):
        assert login(client, "reviewer", "wrong").status_code == 401
    assert login(client, "reviewer", "pw-reviewer").status_code == 429


def test_group_member_sees_and_completes_the_task(app, staff):
    client = app.test_client()
    assert login(client, "reviewer", "pw-reviewer").status_code == 302
    assert b"Review" in client.get("/tasks/?scope=groups").data
    page = client.get(f"/tasks/{staff}")
    assert page.status_code == 200
    bad = client.post(
        f"/tasks/{staff}/complete", data={"score": "99", "csrf_token": token(client, f"/tasks/{staff}")}
    )
    assert bad.status_code == 400 and b"at most 10" in bad.data
    done = client.post(
        f"/tasks/{staff}/complete",
        data={"ok": "true", "score": "7", "csrf_token": token(client, f"/tasks/{staff}")},
    )
    assert done.status_code == 302
    again = client.post(
        f"/tasks/{staff}/complete", data={"ok": "true", "score": "7", "csrf_token": token(client, "/tasks/")}
    )
    assert again.status_code == 409


def test_user_of_another_group_gets_403_on_the_task(app, staff):
    client = app.test_client()
    login(client, "outsider", "pw-outsider")
    assert b"Review" not in client.get("/tasks/?scope=groups").data
    assert client.get(f"/tasks/{staff}").status_code == 403
    csrf = token(client, "/tasks/")
    assert client.post(f"/tasks/{staff}/complete", data={"ok": "true", "csrf_token": csrf}).status_code == 403


def test_processes_page_needs_manager_or_analyst(app, staff):
    client = app.test_client()
    login(client, "outsider", "pw-outsider")
    assert client.get("/processes/").status_code == 403
    other = app.test_client()
    login(other, "boss", "pw-boss")
    assert other.get("/processes/").status_code == 200


def test_processing_report_shows_buckets_and_exports_csv(app, staff):
    from datetime import datetime, timedelta

    from desk.models import Request

    t0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    with app.extensions["sessions"]() as session, session.begin():
        for i, (minutes, bucket) in enumerate([(20, "< 30 min"), (45, "30 min – 1 h"), (200, "3 – 8 h")]):
            session.add(
                Request(
                    number=f"REQ-9{i:05d}",
                    channel="email",
                    subject=f"S{i}",
                    body="",
                    status="done",
                    category="printer",
                    created_at=t0,
                    status_changed_at=t0,
                    taken_at=t0,
                    done_at=t0 + timedelta(minutes=minutes),
                    processing_minutes=minutes,
                    processing_bucket=bucket,
                    pickup_minutes=5 + 10 * i,
                    pickup_late=i == 2,
                    pickup_overrun_minutes=10.0 if i == 2 else 0.0,
                    sla_met=i != 1,
                    stage_totals={"in_progress": [minutes, minutes]},
                )
            )
    client = app.test_client()
    login(client, "outsider", "pw-outsider")
    assert client.get("/reports/").status_code == 403
    manager = app.test_client()
    login(manager, "boss", "pw-boss")
    page = manager.get("/reports/")
    assert page.status_code == 200 and b"<svg" in page.data and "3 – 8 ч".encode() in page.data
    assert b"67%" in page.data  # 2 of 3 picked up within 15 minutes
    exported = manager.get("/reports/processing.csv")
    lines = exported.data.decode().strip().splitlines()
    assert exported.mimetype == "text/csv" and len(lines) == 4 and "REQ-900002" in lines[3]


def test_cli_issues_a_bearer_token_that_the_rest_api_accepts(app, staff):
    cli = app.test_cli_runner()
    missing = cli.invoke(args=["create-token", "nobody", "--name", "x"])
    assert missing.exit_code != 0 and "No user 'nobody'" in missing.output
    issued = cli.invoke(
        args=["create-token", "reviewer", "--name", "billing worker", "--scope", "engine:admin"]
    )
    token = issued.output.strip()
    assert issued.exit_code == 0 and len(token) > 30
    client = app.test_client()
    assert client.get("/engine-rest/deployment?maxResults=0").status_code == 401
    assert (
        client.get(
            "/engine-rest/deployment?maxResults=0", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 200
    )
