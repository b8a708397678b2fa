"""Health: /health for load balancers, `flask --app web health` for workers, /admin/queues for admins."""

from __future__ import annotations

import json
import re
import signal
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select

from engine.store import Job
from tests.conftest import PROJECT, make_app
from tests.service_processes import flask_process, free_port, running_redis, service_env, wait_for
from web import create_app
from web.cli import deploy_paths
from web.demo import create_user
from web.intake import open_request
from web.queue import ALIVE_WITHIN, worker_status


@pytest.fixture
def redis_server(tmp_path):
    with running_redis(tmp_path) as server:
        yield server


def health(app) -> tuple[int, dict]:
    response = app.test_client().get("/health")
    return response.status_code, response.get_json()


def test_health_is_ok_when_the_database_answers_and_the_schema_is_at_head(any_app):
    status, body = health(any_app)
    assert status == 200 and body["status"] == "ok" and body["failed"] == []
    assert body["checks"]["database"]["ok"] is True
    migrations = body["checks"]["migrations"]
    assert migrations["ok"] is True and migrations["data"]["current"] == migrations["data"]["head"]
    assert body["checks"]["redis"]["ok"] is None, "no Redis configured is not a failure"


def test_health_names_a_schema_behind_the_code(tmp_path):
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/empty.db"})  # never upgraded
    status, body = health(app)
    assert status == 503 and body["status"] == "fail"
    [failed] = body["failed"]
    assert failed.startswith("migrations:") and "init-db" in failed
    assert body["checks"]["database"]["ok"] is True


def test_health_names_an_unreachable_database():
    app = create_app(
        {"TESTING": True, "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x"}
    )
    status, body = health(app)
    assert status == 503
    assert body["failed"][0].startswith("database: OperationalError")
    assert body["checks"]["database"]["ok"] is False


def test_health_names_an_unreachable_redis(sqlite_url):
    app = make_app(sqlite_url, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    status, body = health(app)
    assert status == 503
    assert body["failed"] == [body["failed"][0]] and body["failed"][0].startswith("redis: ConnectionError")
    assert body["checks"]["database"]["ok"] is True and body["checks"]["migrations"]["ok"] is True


@pytest.mark.redis
@pytest.mark.postgres
def test_health_is_ok_on_postgresql_with_redis(postgres_url, redis_server):
    app = make_app(postgres_url, REDIS_URL=redis_server.url, INLINE_JOBS=False)
    status, body = health(app)
    assert status == 200 and body["checks"]["redis"]["ok"] is True
    redis_server.stop()
    status, body = health(app)
    assert status == 503 and body["failed"][0].startswith("redis:")
    app.extensions["db_engine"].dispose()


def cli_health(app) -> tuple[int, dict]:
    result = app.test_cli_runner().invoke(args=["health", "--json"])
    return result.exit_code, json.loads(result.output.strip().splitlines()[-1])


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.slow
def test_worker_health_reports_heartbeats_last_jobs_and_a_dead_worker(postgres_url, redis_server, tmp_path):
    app = make_app(postgres_url, REDIS_URL=redis_server.url, INLINE_JOBS=False)
    with app.app_context():
        deploy_paths([PROJECT / "bpmn"])
    code, report = cli_health(app)
    assert code == 1
    assert {f.split(":")[0] for f in report["failed"]} == {"workers", "scheduler"}
    assert "rq-worker" in report["checks"]["workers"]["detail"]

    env = service_env(postgres_url, redis_server.url)
    worker = flask_process("worker", ["rq-worker", "--name", "health-probe"], env, tmp_path)
    scheduler = flask_process("scheduler", ["scheduler", "--interval", "0.5"], env, tmp_path)
    worker.start()
    scheduler.start()
    try:
        wait_for(lambda: worker.logged("Listening on"), 120, "the worker to listen", every=0.5)
        wait_for(lambda: cli_health(app)[0] == 0, 60, "health to turn ok", every=0.5)
        with app.app_context():
            request = open_request(channel="web", subject="Не работает интернет", body="Нет сети")
        wait_for(
            lambda: cli_health(app)[1]["workers"][0]["last_job_at"], 120, "a job on the worker", every=0.5
        )
        code, report = cli_health(app)
        assert code == 0 and report["status"] == "ok"
        [probe] = report["workers"]
        assert probe["name"] == "health-probe" and probe["alive"] is True and probe["pid"] == worker.popen.pid
        assert report["scheduler"] is not None and set(report["queues"]) == {"high", "default", "low"}
        with app.extensions["sessions"]() as session:
            assert session.scalars(select(Job.status).where(Job.topic == "classify")).all() == ["done"]
        assert request.number
        text = app.test_cli_runner().invoke(args=["health"]).output
        assert re.search(r"worker health-probe .* alive heartbeat", text)

        worker.kill(signal.SIGKILL)
        connection = Redis.from_url(redis_server.url)
        [dead] = worker_status(connection, now=datetime.now(UTC) + timedelta(seconds=ALIVE_WITHIN + 1))
        assert dead["name"] == "health-probe" and dead["alive"] is False, "killed: no more heartbeats"
    finally:
        worker.kill(signal.SIGTERM)
        scheduler.kill(signal.SIGTERM)
        app.extensions["db_engine"].dispose()


def login(client, username: str) -> None:
    page = client.get("/login")
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page.data).group(1).decode()
    client.post("/login", data={"username": username, "password": "demo", "csrf_token": token})


def test_queue_page_is_for_admins_only_and_shows_the_embedded_mode(app):
    with app.app_context():
        create_user("admin", "demo", roles=["admin"])
        create_user("operator", "demo", roles=["operator"], groups=["operators"])
    client = app.test_client()
    assert client.get("/admin/queues").status_code == 302, "anonymous users go to the login page"
    login(client, "operator")
    assert client.get("/admin/queues").status_code == 403
    admin = app.test_client()
    login(admin, "admin")
    page = admin.get("/admin/queues")
    assert page.status_code == 200
    assert "Redis is not configured" in page.get_data(as_text=True) or "Redis не настроен" in page.get_data(
        as_text=True
    )


@pytest.mark.redis
def test_queue_page_counts_queued_and_overdue_jobs_and_workers(sqlite_url, redis_server):
    app = make_app(sqlite_url, REDIS_URL=redis_server.url, INLINE_JOBS=False)
    with app.app_context():
        deploy_paths([PROJECT / "bpmn"])
        create_user("admin", "demo", roles=["admin"])
        open_request(channel="web", subject="Не работает интернет", body="Нет сети")
    runtime = app.extensions["runtime"]
    runtime.clock = lambda: datetime.now(UTC) + timedelta(minutes=5)  # the job has waited for 5 minutes
    admin = app.test_client()
    login(admin, "admin")
    html = admin.get("/admin/queues").get_data(as_text=True)
    jobs = re.search(r'<table class="list" id="jobs">.*?<tbody><tr>(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r"<td>(\d+)</td>", jobs) == ["1", "0", "0", "1", "0"], "1 pending, and overdue"
    assert re.search(r'data-queue="default"><td>default</td><td>1</td>', html), "one message waiting"
    assert "No worker is registered" in html or "Нет зарегистрированных" in html
    assert Queue("default", connection=Redis.from_url(redis_server.url)).count == 1
