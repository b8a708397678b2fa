"""The history cleanup's and the erasure's doors (issue 23): Camunda's /engine-rest/history/cleanup,
the admin page and its button, /admin/queues, `health --json`; and the desk keeping its facts:
reports are identical after the process history under them is removed, the card says so."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from desk.models import Request
from engine.store import Instance
from service.permissions import Principal
from tests.conftest import MONDAY_10
from tests.web_helpers import post, seeded_fixture, staff_client  # noqa: F401  (fixture "seeded")
from web import retention
from web.demo import DEMO_PASSWORD

ADMIN = Principal.of("admin", roles=("admin",))


def basic(username: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{DEMO_PASSWORD}".encode()).decode()}


def later(app, days: int) -> None:
    app.extensions["runtime"].clock.now = MONDAY_10 + timedelta(days=days)


def finished_instances(app) -> list[str]:
    with app.extensions["sessions"]() as session:
        return list(session.scalars(select(Instance.id).where(Instance.status != "running")))


def test_rest_cleanup_is_camundas_job_dto_due_now_and_the_worker_runs_it(seeded):
    client = seeded.test_client()
    assert client.get("/engine-rest/history/cleanup/job", headers=basic("admin")).status_code == 404
    refused = client.post("/engine-rest/history/cleanup", headers=basic("manager"))
    assert refused.status_code == 403 and refused.json["type"] == "AuthorizationException"
    assert "history_cleanup.run" in refused.json["message"]
    later(seeded, 200)  # past service_request's historyTimeToLive of 180 days
    answer = client.post("/engine-rest/history/cleanup", headers=basic("admin"))
    assert answer.status_code == 200, answer.json
    job = answer.json
    assert job["id"] == "history-cleanup" and job["dueDate"] == "2027-06-11T07:00:00.000+0000"
    assert {"jobDefinitionId", "processInstanceId", "retries", "suspended", "priority", "createTime"} <= set(
        job
    )
    assert client.get("/engine-rest/history/cleanup/jobs", headers=basic("admin")).json == [job]
    done = finished_instances(seeded)
    assert done, "the demo has finished instances"
    with seeded.app_context():
        result = retention.run_scheduled_slice(seeded, "worker")  # due by request, outside the window
    assert result is not None and result.removed_instances == len(done)
    assert finished_instances(seeded) == []
    assert client.get("/engine-rest/history/cleanup/job", headers=basic("admin")).status_code == 404


def test_rest_cleanup_configuration_is_the_current_or_next_batch_window(seeded):
    seeded.config.update(
        HISTORY_CLEANUP_BATCH_WINDOW_START_TIME="22:00Z", HISTORY_CLEANUP_BATCH_WINDOW_END_TIME="06:00Z"
    )
    client = seeded.test_client()
    body = client.get("/engine-rest/history/cleanup/configuration", headers=basic("admin")).json
    assert body == {
        "batchWindowStartTime": "2026-11-23T22:00:00.000+0000",
        "batchWindowEndTime": "2026-11-24T06:00:00.000+0000",
        "enabled": True,
    }
    later_job = client.post("/engine-rest/history/cleanup?immediatelyDue=false", headers=basic("admin")).json
    assert later_job["dueDate"] == "2026-11-23T22:00:00.000+0000"
    seeded.config.update(HISTORY_CLEANUP_BATCH_WINDOW_START_TIME=None, HISTORY_CLEANUP_ENABLED=False)
    body = client.get("/engine-rest/history/cleanup/configuration", headers=basic("admin")).json
    assert body == {"batchWindowStartTime": None, "batchWindowEndTime": None, "enabled": False}
    refused = client.post("/engine-rest/history/cleanup?immediatelyDue=false", headers=basic("admin"))
    assert refused.status_code == 400 and "immediatelyDue=true" in refused.json["message"]


def test_process_definitions_answer_the_time_to_live_that_applies(seeded):
    rows = seeded.test_client().get("/engine-rest/process-definition", headers=basic("admin")).json
    assert {r["key"]: r["historyTimeToLive"] for r in rows}["service_request"] == 180


def test_reports_are_identical_after_the_history_under_them_is_removed(seeded):
    later(seeded, 200)
    manager = staff_client(seeded, "manager")
    pages = ["/reports/", "/reports/trend.csv", "/reports/groups.csv"]

    def read() -> list[str]:
        bodies = []
        for page in pages:
            response = manager.get(page)
            assert response.status_code == 200, page
            bodies.append(re.sub(r'name="csrf_token" value="[^"]*"', "", response.get_data(as_text=True)))
        return bodies

    before = read()
    with seeded.app_context():
        result = retention.run_now(seeded, ADMIN, "test")
    assert result.removed_instances >= 3
    assert read() == before


def test_the_request_card_says_the_process_detail_expired(seeded):
    later(seeded, 200)
    with seeded.extensions["sessions"]() as session:
        number = session.scalars(
            select(Request.number).where(Request.status == "done", Request.instance_id.is_not(None))
        ).first()
    with seeded.app_context():
        retention.run_now(seeded, ADMIN, "test")
    page = staff_client(seeded, "manager").get(f"/requests/{number}")
    assert page.status_code == 200
    assert 'id="process-expired"' in page.get_data(as_text=True)


def test_the_admin_page_runs_the_cleanup_and_shows_its_progress_on_the_queues_page(seeded):
    later(seeded, 200)
    assert staff_client(seeded, "manager").get("/admin/retention/").status_code == 403
    admin = staff_client(seeded, "admin")
    page = admin.get("/admin/retention/")
    assert page.status_code == 200 and 'id="run-cleanup"' in page.get_data(as_text=True)
    done = len(finished_instances(seeded))
    response = post(admin, "/admin/retention/cleanup", token_from="/admin/retention/")
    assert response.status_code == 302
    assert finished_instances(seeded) == []
    queues = admin.get("/admin/queues").get_data(as_text=True)
    assert 'id="history-cleanup"' in queues and f"{done} / " in queues


def test_the_admin_erasure_form_names_the_open_requests_it_refuses_for(seeded):
    with seeded.extensions["sessions"]() as session:
        contact_id, number = session.execute(
            select(Request.contact_id, Request.number).where(
                Request.status == "new", Request.contact_id.is_not(None)
            )
        ).first()
    admin = staff_client(seeded, "admin")
    post(admin, "/admin/retention/erase", {"contact_id": str(contact_id)}, token_from="/admin/retention/")
    assert number in admin.get("/admin/retention/").get_data(as_text=True)
    bad = post(admin, "/admin/retention/erase", {"contact_id": "x"}, token_from="/admin/retention/")
    assert bad.status_code == 400


def test_health_json_carries_the_cleanup_state(seeded):
    result = seeded.test_cli_runner().invoke(args=["health", "--json"])
    body = json.loads(result.output)
    assert body["checks"]["history_cleanup"]["ok"] is True
    assert {"status", "due_now", "removed_instances", "window_start", "default_ttl_days"} <= set(
        body["history_cleanup"]
    )


def test_the_cli_prints_exactly_the_pinned_json_object(seeded):
    later(seeded, 200)
    with seeded.extensions["sessions"]() as session:
        done = session.scalar(select(func.count()).select_from(Instance).where(Instance.status != "running"))
    dry = seeded.test_cli_runner().invoke(args=["history-cleanup", "--dry-run", "--json"])
    assert json.loads(dry.output)["removed_instances"] == done
    result = seeded.test_cli_runner().invoke(args=["history-cleanup", "--batch", "2", "--json"])
    body = json.loads(result.output)
    assert set(body) == {"removed_instances", "removed_rows", "remaining_due", "seconds"}
    assert body["removed_instances"] == done and body["remaining_due"] == 0 and body["removed_rows"] > done
    bad = seeded.test_cli_runner().invoke(args=["history-cleanup", "--batch", "0", "--json"])
    assert bad.exit_code == 2 and "batch" in bad.output


@pytest.mark.redis
def test_in_rq_mode_the_scheduler_sends_one_cleanup_message_in_the_window_and_a_worker_runs_it(
    database_url, tmp_path
):
    from redis import Redis
    from rq import Queue

    from tests.conftest import Clock, make_app
    from tests.service_processes import running_redis
    from tests.test_retention import deploy_key, finished
    from web.queue import QUEUES, DeskWorker, Scheduler

    with running_redis(tmp_path) as server:
        app = make_app(database_url, REDIS_URL=server.url, INLINE_JOBS=True)
        try:
            app.extensions["runtime"].clock = Clock(MONDAY_10)
            deploy_key(app, "rq_clean", "P1D")
            ids = finished(app, "rq_clean", 3)
            app.config.update(
                HISTORY_CLEANUP_BATCH_WINDOW_START_TIME="22:00Z",
                HISTORY_CLEANUP_BATCH_WINDOW_END_TIME="06:00Z",
            )
            app.extensions["runtime"].clock.now = MONDAY_10 + timedelta(days=2, hours=16)  # 23:00 UTC
            scheduler = Scheduler(app, "s1")
            assert scheduler.tick()["history_cleanup"] == 1
            app.extensions.pop("history_cleanup.last_check")
            assert scheduler.tick()["history_cleanup"] == 0, "one message at a time"
            redis = Redis.from_url(server.url)
            assert Queue("low", connection=redis).count == 1
            DeskWorker(list(QUEUES), connection=redis, app=app).work(burst=True)
            with app.extensions["sessions"]() as session:
                assert (
                    session.scalar(select(func.count()).select_from(Instance).where(Instance.id.in_(ids)))
                    == 0
                )
        finally:
            app.extensions["db_engine"].dispose()


def test_the_deploy_page_says_which_time_to_live_applies(seeded):
    import io

    from tests.test_retention import diagram
    from tests.web_helpers import csrf_token

    analyst = staff_client(seeded, "analyst")
    files = [
        (io.BytesIO(diagram("kept_five", "P5D")), "a.bpmn"),
        (io.BytesIO(diagram("kept_dflt", None)), "b.bpmn"),
    ]
    reply = analyst.post(
        "/processes/deploy",
        data={"csrf_token": csrf_token(analyst, "/processes/deploy"), "files": files},
        content_type="multipart/form-data",
    )
    page = reply.get_data(as_text=True)
    assert reply.status_code == 200, page
    assert "история хранится: 5 дн. (из схемы)" in page
    assert "история хранится: 180 дн. (по умолчанию)" in page
