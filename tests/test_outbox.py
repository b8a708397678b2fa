"""The notification outbox: delivery states, backoff, SMS through a real local HTTP gateway, channel
preferences, the once-only e-mail fallback, the admin page, the CLI and RQ dispatch."""

from __future__ import annotations

import re
import threading
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from desk import notify, outbox
from desk.delivery import DeliveryConfigError
from desk.models import Notification, User
from desk.outbox import Status, UnknownChannelError
from desk.preferences import NotificationPreference
from tests.conftest import Clock, make_app
from tests.test_smtp_delivery import field, login, smtp_config, smtp_server  # noqa: F401  (fixture)
from web.demo import create_user

T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
OWNER_PAYLOAD = {"deal_title": "Ромашка", "old_responsible": "manager", "new_responsible": "executor"}
OWNER_PAYLOAD |= {"contacts_changed": 2}


# ---------------------------------------------------------------------- pure rules


def test_backoff_grows_then_repeats_its_last_step():
    assert [outbox.backoff(n) for n in (1, 2, 3, 4)] == [
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=15),
        timedelta(hours=1),
    ]
    assert outbox.backoff(7) == outbox.backoff(50) == timedelta(hours=12)
    with pytest.raises(ValueError, match="starts at 1"):
        outbox.backoff(0)


def test_a_failure_is_retried_until_the_last_attempt_and_a_permanent_one_dies_at_once():
    assert outbox.after_failure(1, T0, "451") == outbox.Transition(
        Status.FAILED, T0 + timedelta(minutes=1), "451"
    )
    last = outbox.after_failure(3, T0, "timeout", max_attempts=3)
    assert last.status == Status.DEAD and last.next_attempt_at is None and "after 3 attempts" in last.reason
    assert outbox.after_failure(1, T0, "550 no such user", permanent=True).status == Status.DEAD


def test_a_dead_sender_leaves_email_and_sms_unconfirmed_but_in_app_is_retried():
    assert outbox.after_lease_expired("email", T0).status == Status.UNCONFIRMED
    assert outbox.after_lease_expired("sms", T0).status == Status.UNCONFIRMED
    assert outbox.after_lease_expired("in_app", T0) == outbox.Transition(Status.PENDING, T0)


def test_only_rows_needing_attention_can_be_sent_again():
    for status in ("failed", "dead", "unconfirmed"):
        assert outbox.resend(status, T0).status == Status.PENDING
    for status in ("sent", "sending", "pending"):
        with pytest.raises(ValueError, match="this one is"):
            outbox.resend(status, T0)


def test_unknown_channels_are_refused_by_name():
    assert outbox.check_channels(["sms", "in_app"]) == ["in_app", "sms"]
    with pytest.raises(UnknownChannelError, match="'telegram'.*in_app, email, sms"):
        outbox.check_channels(["email", "telegram"])


def test_sms_text_is_subject_then_body_within_the_limit():
    assert (
        outbox.sms_text("REQ-1: просрочено", "Принтер\n  не печатает")
        == "REQ-1: просрочено. Принтер не печатает"
    )
    long = outbox.sms_text("Тема", "слово " * 200, limit=50)
    assert len(long) == 50 and long.endswith("…")


# ---------------------------------------------------------------------- fixtures


@pytest.fixture
def staff_app(database_url):
    app = make_app(database_url)
    app.extensions["runtime"].clock = Clock(T0)
    with app.app_context():
        create_user(
            "executor", "demo", roles=["executor"], groups=["executors"], email="executor@desk.example.com"
        )
        create_user("admin", "demo", roles=["admin"])
    with app.extensions["sessions"]() as session, session.begin():
        session.scalars(select(User).where(User.username == "executor")).one().phone = "8 (916) 123-45-67"
    yield app
    app.extensions["db_engine"].dispose()


def in_app(app, key: str, recipient: str = "executor", template: str = "owner_sync_summary") -> int:
    with app.extensions["sessions"]() as session, session.begin():
        row = notify.enqueue(
            session,
            now=app.extensions["runtime"].now(),
            recipient=recipient,
            channel="in_app",
            template=template,
            payload={**OWNER_PAYLOAD, "gained": 3, "lost": 1},
            idempotency_key=key,
        )
        return row.id


def rows(app) -> list[Notification]:
    with app.extensions["sessions"]() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def set_preference(app, username: str, event: str, channels: list[str]) -> None:
    from desk.preferences import save_preferences

    with app.extensions["sessions"]() as session, session.begin():
        user = session.scalars(select(User).where(User.username == username)).one()
        save_preferences(session, user, {event: channels})


# ---------------------------------------------------------------------- in-app, preferences


def test_in_app_notifications_are_delivered_when_their_transaction_commits(staff_app):
    nid = in_app(staff_app, "k:inapp")
    ghost = in_app(staff_app, "k:ghost", recipient="nobody-here")
    by_id = {r.id: r for r in rows(staff_app)}
    assert (by_id[nid].status, by_id[nid].sent_at) == ("sent", T0)
    assert by_id[ghost].status == "dead" and "no staff user 'nobody-here'" in by_id[ghost].dead_reason


def test_an_outbox_row_rolled_back_with_its_change_is_never_delivered(staff_app):
    with pytest.raises(RuntimeError), staff_app.extensions["sessions"]() as session, session.begin():
        notify.enqueue(
            session, now=T0, recipient="executor", channel="in_app", template="owner_sync_summary",
            payload={"gained": 1, "lost": 0}, idempotency_key="k:rolled-back",
        )  # fmt: skip
        raise RuntimeError("the change failed")
    assert rows(staff_app) == []
    assert staff_app.extensions["outbox"].run_pass().work == 0


def test_ticked_channels_replace_the_default_and_sms_goes_to_the_normalised_phone(staff_app):
    set_preference(staff_app, "executor", "owner_sync_summary", ["email", "sms"])
    in_app(staff_app, "k:pref")
    in_app(staff_app, "k:pref")  # the same job again: nothing new
    by_channel = {r.channel: r for r in rows(staff_app)}
    assert len(rows(staff_app)) == 3
    assert (
        by_channel["in_app"].status == "skipped" and "turned in_app off" in by_channel["in_app"].dead_reason
    )
    assert (by_channel["email"].recipient, by_channel["email"].idempotency_key) == (
        "executor@desk.example.com",
        "k:pref:email",
    )
    assert by_channel["email"].status == "pending", "e-mail waits: SMTP_HOST is not set"
    assert (by_channel["sms"].recipient, by_channel["sms"].status) == ("+79161234567", "sent"), "log gateway"


def test_saving_an_unknown_channel_is_refused_and_nothing_is_stored(staff_app):
    with pytest.raises(UnknownChannelError):
        set_preference(staff_app, "executor", "task_assigned", ["in_app", "pigeon"])
    with staff_app.extensions["sessions"]() as session:
        assert session.scalars(select(NotificationPreference)).all() == []


def test_settings_page_saves_the_ticked_channels_per_event(staff_app):
    client = staff_app.test_client()
    login(client, "executor")
    page = client.get("/settings/notifications")
    assert page.status_code == 200
    assert re.search(rb'name="task_assigned:in_app"[^>]*checked', page.data), "in-app is the default"
    csrf = field(page.data, "csrf_token")
    saved = client.post(
        "/settings/notifications",
        data={
            "csrf_token": csrf,
            "task_assigned:email": "on",
            "task_assigned:sms": "on",
            "request_overdue:in_app": "on",
        },
    )
    assert saved.status_code == 302
    page = client.get("/settings/notifications").data
    assert re.search(rb'name="task_assigned:email"[^>]*checked', page)
    assert not re.search(rb'name="task_assigned:in_app"[^>]*checked', page)
    assert not re.search(rb'name="owner_changed:in_app"[^>]*checked', page), (
        "unticked everything: told nothing"
    )

    bad = client.post("/settings/notifications", data={"csrf_token": csrf, "task_assigned:fax": "on"})
    assert bad.status_code == 400 and b"fax" in bad.data
    assert client.post("/settings/notifications", data={"task_assigned:email": "on"}).status_code == 400
    with staff_app.extensions["sessions"]() as session:
        stored = {p.event: p.channels for p in session.scalars(select(NotificationPreference))}
    assert stored["task_assigned"] == ["email", "sms"] and stored["owner_changed"] == []


# ---------------------------------------------------------------------- fallback


def test_unread_in_app_notification_is_emailed_exactly_once_after_ten_minutes(
    database_url,
    smtp_server,  # noqa: F811  (the fixture imported above)
):
    recorder, port = smtp_server
    app = make_app(database_url, **smtp_config(port))
    clock = Clock(T0)
    app.extensions["runtime"].clock = clock
    with app.app_context():
        create_user("executor", "demo", roles=["executor"], email="executor@desk.example.com")
    nid = in_app(app, "k:unread")
    read = in_app(app, "k:read", template="owner_changed")
    box = app.extensions["outbox"]

    clock.now = T0 + timedelta(minutes=5)
    client = app.test_client()
    login(client, "executor")
    inbox = client.get("/notifications")
    assert "Синхронизация ответственных завершена".encode() in inbox.data
    client.post("/notifications/read", data={"csrf_token": field(inbox.data, "csrf_token"), "id": str(read)})

    clock.now = T0 + timedelta(minutes=9, seconds=59)
    assert box.run_pass().fallbacks == 0 and recorder.envelopes == []
    clock.now = T0 + timedelta(minutes=10)
    report = box.run_pass()
    assert (report.fallbacks, report.outcomes) == (1, {"sent": 1})
    for minutes in (11, 30, 600):
        clock.now = T0 + timedelta(minutes=minutes)
        assert box.run_pass().fallbacks == 0
    [msg] = recorder.messages()
    assert msg["To"] == "executor@desk.example.com" and "Синхронизация" in str(msg["Subject"])
    [fallback] = [r for r in rows(app) if r.fallback_of_id is not None]
    assert (fallback.fallback_of_id, fallback.status, fallback.channel) == (nid, "sent", "email")
    app.extensions["db_engine"].dispose()


def test_no_fallback_for_someone_who_already_gets_that_event_by_email(staff_app):
    set_preference(staff_app, "executor", "owner_sync_summary", ["in_app", "email"])
    in_app(staff_app, "k:both")
    staff_app.extensions["runtime"].clock = Clock(T0 + timedelta(minutes=15))
    assert staff_app.extensions["outbox"].run_pass().fallbacks == 0
    assert staff_app.extensions["outbox"].run_pass().fallbacks == 0
    [fallback] = [r for r in rows(staff_app) if r.fallback_of_id is not None]
    assert fallback.status == "skipped"


def test_fallback_minutes_come_from_the_configuration(database_url):
    app = make_app(database_url, NOTIFY_FALLBACK_MINUTES=2)
    clock = Clock(T0)
    app.extensions["runtime"].clock = clock
    with app.app_context():
        create_user("executor", "demo", roles=["executor"])
    in_app(app, "k:quick")
    clock.now = T0 + timedelta(minutes=2)
    assert app.extensions["outbox"].run_pass().fallbacks == 1
    with pytest.raises(DeliveryConfigError, match="NOTIFY_FALLBACK_MINUTES"):
        make_app(database_url, NOTIFY_FALLBACK_MINUTES=-1)
    app.extensions["db_engine"].dispose()


# ---------------------------------------------------------------------- SMS through a real HTTP gateway


class Gateway(BaseHTTPRequestHandler):
    """A local SMS gateway: records each request's query, answers from the test's script."""

    calls: list[dict[str, list[str]]] = []
    answers: list[tuple[int, str, float]] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).calls.append(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query))
        status, body, delay = type(self).answers.pop(0) if type(self).answers else (200, "OK id=1", 0)
        time.sleep(delay)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(body.encode())
        except OSError:
            pass  # the client gave up waiting

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway():
    Gateway.calls, Gateway.answers = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Gateway, f"http://127.0.0.1:{server.server_port}/send?to={{phone}}&text={{text}}&id={{key}}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def sms_app(database_url, gateway):
    _handler, url = gateway
    app = sms_desk(
        database_url, "+7 916 123-45-67", SMS_GATEWAY_URL=url, SMS_GATEWAY_TIMEOUT=1, OUTBOX_MAX_ATTEMPTS=3
    )
    with app.app_context():
        create_user("admin", "demo", roles=["admin"])
    yield app
    app.extensions["db_engine"].dispose()


def sms_desk(url: str, phone: str = "+79161234567", **config: Any) -> Flask:
    """An app at T0 whose executor, with `phone`, takes owner_sync_summary by SMS."""
    app = make_app(url, **config)
    app.extensions["runtime"].clock = Clock(T0)
    with app.app_context():
        create_user("executor", "demo", roles=["executor"])
    with app.extensions["sessions"]() as session, session.begin():
        session.scalars(select(User).where(User.username == "executor")).one().phone = phone
    set_preference(app, "executor", "owner_sync_summary", ["sms"])
    return app


def sms_row(app) -> Notification:
    [row] = [r for r in rows(app) if r.channel == "sms"]
    return row


def test_sms_goes_to_the_gateway_url_encoded_with_the_idempotency_key(sms_app, gateway):
    handler, _url = gateway
    in_app(sms_app, "k:sms")
    [call] = handler.calls
    assert call["to"] == ["+79161234567"]
    assert call["text"] == [
        "Синхронизация ответственных завершена. Вам передано контактов: 3, передано другим: 1."
    ]
    assert call["id"] == ["k:sms:sms"]
    row = sms_row(sms_app)
    assert (row.status, row.attempts) == ("sent", 1)


def test_gateway_errors_retry_with_backoff_and_a_refusal_is_dead(sms_app, gateway):
    handler, _url = gateway
    handler.answers = [(503, "busy", 0), (400, "bad number", 0)]
    in_app(sms_app, "k:sms-retry")
    failed = sms_row(sms_app)
    assert failed.status == "failed" and "answered 503: busy" in failed.error
    sms_app.extensions["runtime"].clock = Clock(failed.next_attempt_at)
    assert sms_app.extensions["outbox"].run_pass().outcomes == {"dead": 1}
    dead = sms_row(sms_app)
    assert dead.attempts == 2 and "answered 400: bad number" in dead.dead_reason and len(handler.calls) == 2


def test_a_gateway_that_takes_the_request_and_never_answers_leaves_it_unconfirmed(sms_app, gateway):
    handler, _url = gateway
    handler.answers = [(200, "late", 3)]  # answers after the 1 s timeout
    in_app(sms_app, "k:sms-slow")
    row = sms_row(sms_app)
    assert row.status == "unconfirmed" and "gave no answer" in row.dead_reason
    sms_app.extensions["runtime"].clock = Clock(T0 + timedelta(days=1))
    assert sms_app.extensions["outbox"].run_pass().work == 0 and len(handler.calls) == 1, "not resent blindly"


def test_an_unreachable_gateway_is_retried(database_url):
    app = sms_desk(database_url, SMS_GATEWAY_URL="http://127.0.0.1:9/send?to={phone}&text={text}")
    in_app(app, "k:sms-down")
    row = sms_row(app)
    assert row.status == "failed" and "cannot reach SMS gateway 127.0.0.1:9" in row.error
    app.extensions["db_engine"].dispose()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://gw/send?to={phone}", r"needs the placeholder\(s\) \['text'\]"),
        ("http://gw/send?to={phone}&text={txt}", r"unknown placeholder\(s\) \['txt'\]"),
        ("ftp://gw/{phone}/{text}", "must be an http"),
        ("http://gw/send?to={phone&text={text}", "broken placeholder"),
    ],
)
def test_a_broken_gateway_url_stops_the_app_naming_the_setting(sqlite_url, url, problem):
    with pytest.raises(DeliveryConfigError, match="SMS_GATEWAY_URL: " + problem):
        make_app(sqlite_url, SMS_GATEWAY_URL=url)


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"SMTP_HOST": "mail.example.ru"}, "MAIL_FROM"),
        ({"SMTP_HOST": "mail.example.ru", "MAIL_FROM": "desk"}, "MAIL_FROM: 'desk' is not an e-mail address"),
        (
            {"SMTP_HOST": "m", "MAIL_FROM": "d@x.ru", "SMTP_SSL": True, "SMTP_STARTTLS": True},
            "set one of them",
        ),
    ],
)
def test_broken_smtp_settings_stop_the_app_naming_the_setting(sqlite_url, settings, problem):
    with pytest.raises(DeliveryConfigError, match=problem):
        make_app(sqlite_url, **settings)


# ---------------------------------------------------------------------- admin page, CLI


def test_admin_outbox_lists_dead_letters_and_sends_them_again(sms_app, gateway):
    handler, _url = gateway
    handler.answers = [(400, "bad number", 0)]
    in_app(sms_app, "k:admin")
    dead = sms_row(sms_app)
    assert dead.status == "dead"

    executor = sms_app.test_client()
    login(executor, "executor")
    assert executor.get("/admin/outbox/").status_code == 403
    token = field(executor.get("/notifications").data, "csrf_token")
    assert executor.post(f"/admin/outbox/{dead.id}/resend", data={"csrf_token": token}).status_code == 403

    admin = sms_app.test_client()
    login(admin, "admin")
    page = admin.get("/admin/outbox/")
    assert page.status_code == 200 and f'id="notification-{dead.id}"'.encode() in page.data
    assert b"bad number" in page.data
    assert admin.post(f"/admin/outbox/{dead.id}/resend").status_code == 400, "CSRF is required"
    csrf = field(page.data, "csrf_token")
    assert admin.post(f"/admin/outbox/{dead.id}/resend", data={"csrf_token": csrf}).status_code == 302
    assert (sms_row(sms_app).status, len(handler.calls)) == ("sent", 2)
    again = admin.post(f"/admin/outbox/{dead.id}/resend", data={"csrf_token": csrf}, follow_redirects=True)
    assert "sent" in again.data.decode() and len(handler.calls) == 2, "a sent row is not sent again"
    assert admin.post("/admin/outbox/999999/resend", data={"csrf_token": csrf}).status_code == 404
    assert f'id="notification-{dead.id}"'.encode() not in admin.get("/admin/outbox/").data


def test_cli_status_counts_per_status_and_deliver_runs_one_pass(staff_app):
    set_preference(staff_app, "executor", "owner_sync_summary", ["email"])
    in_app(staff_app, "k:cli")
    runner = staff_app.test_cli_runner()
    status = runner.invoke(args=["outbox", "status"])
    assert status.exit_code == 0, status.output
    lines = status.output.splitlines()
    assert "pending      1" in lines and "skipped      1" in lines and "sent         0" in lines
    assert "channel email: off: SMTP_HOST is not set" in lines
    deliver = runner.invoke(args=["outbox", "deliver"])
    assert deliver.exit_code == 0 and deliver.output.startswith("sent 0, failed 0, dead 0, unconfirmed 0")
    assert "waiting for a channel" not in deliver.output, "unconfigured e-mail is not even attempted"
    missing = runner.invoke(args=["outbox", "resend", "424242"])
    assert missing.exit_code != 0 and "No notification #424242" in missing.output
    pending = runner.invoke(args=["outbox", "resend", "1"])
    assert pending.exit_code != 0 and "this one is" in pending.output


# ---------------------------------------------------------------------- RQ


@pytest.mark.redis
def test_with_redis_a_commit_enqueues_only_the_notification_id_for_a_worker(
    sqlite_url, gateway, redis_db_url
):
    from redis import Redis
    from rq import Queue

    from web.queue import DeskWorker

    url = redis_db_url  # a database of our own: the worker below drains it
    connection = Redis.from_url(url, socket_connect_timeout=2)
    _handler, sms_url = gateway
    app = sms_desk(sqlite_url, REDIS_URL=url, SMS_GATEWAY_URL=sms_url)
    in_app(app, "k:rq")
    row = sms_row(app)
    assert row.status == "pending", "nothing is sent in the web process"
    jobs = Queue("default", connection=connection).jobs
    assert [(j.func_name, j.args) for j in jobs] == [("web.queue.deliver_notification", (row.id,))], (
        "one message carrying only the id; the in-app row the preference skipped needs none"
    )
    DeskWorker(["default"], connection=connection, app=app).work(burst=True)
    assert sms_row(app).status == "sent" and len(Gateway.calls) == 1
    app.extensions["outbox"].dispatch([row.id])  # a duplicate message finds it sent
    DeskWorker(["default"], connection=connection, app=app).work(burst=True)
    assert len(Gateway.calls) == 1
    connection.flushdb()
    app.extensions["db_engine"].dispose()
