"""E-mail out through a real SMTP server (aiosmtpd on 127.0.0.1): threading headers, the sent-mail
store, retries, dead letters, and a sender killed between the send and its commit."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select

from desk import crm, notify
from desk.mail.parse import parse_message
from desk.messages import MailMessage
from desk.models import Notification, Task
from tests.conftest import PROJECT, Clock, make_app

T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
MAIL_FROM = "Служба поддержки <desk@helpdesk.example.ru>"
CLIENT = "ivan.petrov@romashka.example.ru"


class Recorder:
    """An SMTP handler that keeps what it accepted and answers as the test says."""

    def __init__(self) -> None:
        self.envelopes: list = []
        self.data_replies: list[str] = []  # consumed one per DATA; "250 OK" when empty
        self.rcpt_reply: str | None = None
        self.on_data = None  # called (in a thread) after the message is stored, before replying

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = self.data_replies.pop(0) if self.data_replies else "250 OK"
        if reply.startswith("250"):
            self.envelopes.append(envelope)
        if self.on_data is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.on_data)
        return reply

    def messages(self):
        return [message_from_bytes(e.original_content, policy=policy.default) for e in self.envelopes]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield recorder, controller.port
    controller.stop()


def smtp_config(port: int, **extra) -> dict:
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "MAIL_FROM": MAIL_FROM, "SMTP_TIMEOUT": 10, **extra}


@pytest.fixture
def mail_app(database_url, smtp_server):
    _recorder, port = smtp_server
    app = make_app(database_url, **smtp_config(port))
    app.extensions["runtime"].clock = Clock(T0)
    yield app
    app.extensions["db_engine"].dispose()


def new_request(app, *, inbound_id: str | None = "client-1@mail.romashka.example.ru") -> int:
    """A request opened by an e-mail from the client (the inbound row as e-mail intake stores it)."""
    with app.extensions["sessions"]() as session, session.begin():
        req = crm.create_request(
            session, now=T0, channel="email", subject="Не печатает принтер", requester_email=CLIENT
        )
        if inbound_id:
            session.add(
                MailMessage(
                    message_id=inbound_id,
                    direction="in",
                    action="new",
                    request_id=req.id,
                    subject="Не печатает принтер",
                    from_address=CLIENT,
                    at=T0 - timedelta(minutes=5),
                )
            )
        return req.id


def enqueue_email(app, request_id: int, key: str, template: str = "request_received") -> int:
    with app.extensions["sessions"]() as session, session.begin():
        req = crm.get_request(session, request_id)
        row = notify.enqueue(
            session,
            now=app.extensions["runtime"].now(),
            recipient=req.requester_email,
            channel="email",
            template=template,
            payload=crm.request_payload(req),
            idempotency_key=key,
            request_id=req.id,
        )
        return row.id


def row(app, notification_id: int) -> Notification:
    with app.extensions["sessions"]() as session:
        return session.get(Notification, notification_id)


def sent_rows(app, request_id: int) -> list[MailMessage]:
    with app.extensions["sessions"]() as session:
        return list(
            session.scalars(
                select(MailMessage)
                .where(MailMessage.request_id == request_id, MailMessage.direction == "out")
                .order_by(MailMessage.id)
            )
        )


def test_notification_email_has_its_own_id_threads_into_the_request_and_is_stored(mail_app, smtp_server):
    recorder, _port = smtp_server
    request_id = new_request(mail_app)
    first = enqueue_email(mail_app, request_id, "t:first")  # delivered right after this commit

    [msg] = recorder.messages()
    stored = row(mail_app, first)
    assert stored.status == "sent" and stored.attempts == 1
    assert ids(msg["Message-ID"]) == [stored.message_id]
    assert ids(msg["In-Reply-To"]) == ["client-1@mail.romashka.example.ru"]
    assert ids(msg["References"]) == ["client-1@mail.romashka.example.ru"]
    assert "[#REQ-" in msg["Subject"] and msg["Auto-Submitted"] == "auto-generated"
    assert recorder.envelopes[0].rcpt_tos == [CLIENT]
    assert recorder.envelopes[0].mail_from == "desk@helpdesk.example.ru"
    [out] = sent_rows(mail_app, request_id)
    assert (out.message_id, out.action, out.notification_id) == (stored.message_id, "sent", first)
    assert out.in_reply_to == "client-1@mail.romashka.example.ru" and out.to_addresses == CLIENT
    assert out.subject == str(msg["Subject"]) and out.body_text == stored.body

    mail_app.extensions["runtime"].clock = Clock(T0 + timedelta(minutes=1))
    second = enqueue_email(mail_app, request_id, "t:second", template="task_assigned")
    later = recorder.messages()[1]
    assert ids(later["In-Reply-To"]) == [stored.message_id], "replies to the thread's latest message"
    assert ids(later["References"]) == ["client-1@mail.romashka.example.ru", stored.message_id]
    assert ids(later["Message-ID"]) == [row(mail_app, second).message_id] != ids(msg["Message-ID"])


def test_a_client_reply_to_our_email_names_an_id_stored_on_the_request(mail_app, smtp_server):
    recorder, _port = smtp_server
    request_id = new_request(mail_app, inbound_id=None)  # a web-form request: no earlier mail
    enqueue_email(mail_app, request_id, "t:only")
    [raw] = [e.original_content for e in recorder.envelopes]
    ours = parse_message(raw)
    assert ours.in_reply_to is None and ours.references == ()
    reply = (
        f"From: {CLIENT}\r\nTo: desk@helpdesk.example.ru\r\nSubject: Re: другая тема\r\n"
        f"Message-ID: <reply-1@mail.romashka.example.ru>\r\nIn-Reply-To: <{ours.message_id}>\r\n"
        "\r\nСпасибо\r\n"
    ).encode()
    replied_to = parse_message(reply).in_reply_to
    with mail_app.extensions["sessions"]() as session:
        found = session.scalars(select(MailMessage).where(MailMessage.message_id == replied_to)).one()
    assert (found.request_id, found.direction) == (request_id, "out")


def test_recipient_refused_for_good_is_dead_at_once(mail_app, smtp_server):
    recorder, _port = smtp_server
    recorder.rcpt_reply = "550 5.1.1 <ivan.petrov@romashka.example.ru>: no such user"
    request_id = new_request(mail_app)
    nid = enqueue_email(mail_app, request_id, "t:dead")
    dead = row(mail_app, nid)
    assert dead.status == "dead" and dead.attempts == 1
    assert "550" in dead.dead_reason and "no such user" in dead.dead_reason
    assert recorder.envelopes == [] and sent_rows(mail_app, request_id) == []
    assert mail_app.extensions["outbox"].run_pass().outcomes == {}, "a dead letter is not retried"


def test_temporary_refusal_is_retried_after_the_backoff_with_the_same_message_id(mail_app, smtp_server):
    recorder, _port = smtp_server
    recorder.data_replies = ["451 4.3.0 Try again later"]
    request_id = new_request(mail_app)
    nid = enqueue_email(mail_app, request_id, "t:retry")
    failed = row(mail_app, nid)
    assert failed.status == "failed" and failed.next_attempt_at == T0 + timedelta(minutes=1)
    assert "451" in failed.error
    outbox = mail_app.extensions["outbox"]
    assert outbox.run_pass().outcomes == {}, "not due before the backoff"
    mail_app.extensions["runtime"].clock = Clock(T0 + timedelta(minutes=1))
    assert outbox.run_pass().outcomes == {"sent": 1}
    sent = row(mail_app, nid)
    assert sent.status == "sent" and sent.attempts == 2 and sent.message_id == failed.message_id
    [msg] = recorder.messages()
    assert ids(msg["Message-ID"]) == [failed.message_id]


def test_unreachable_server_is_retried_then_dead_after_the_last_attempt(database_url):
    app = make_app(database_url, **smtp_config(free_port(), OUTBOX_MAX_ATTEMPTS=2))
    clock = Clock(T0)
    app.extensions["runtime"].clock = clock
    request_id = new_request(app)
    nid = enqueue_email(app, request_id, "t:down")
    first = row(app, nid)
    assert first.status == "failed" and "cannot connect to SMTP 127.0.0.1" in first.error
    clock.now = first.next_attempt_at
    assert app.extensions["outbox"].run_pass().outcomes == {"dead": 1}
    assert "gave up after 2 attempts" in row(app, nid).dead_reason
    app.extensions["db_engine"].dispose()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_login_uses_the_configured_account(database_url):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login, auth_data.password) == (b"desk", b"s3cret")
        return AuthResult(success=ok, handled=False)

    recorder = Recorder()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=authenticate,
        auth_require_tls=False,
        auth_required=True,
    )
    controller.start()
    try:
        wrong = make_app(database_url, **smtp_config(controller.port, SMTP_USER="desk", SMTP_PASSWORD="bad"))
        wrong.extensions["runtime"].clock = Clock(T0)
        request_id = new_request(wrong)
        nid = enqueue_email(wrong, request_id, "t:auth")
        assert row(wrong, nid).status == "failed" and "login as 'desk' refused" in row(wrong, nid).error
        right = make_app(
            database_url, **smtp_config(controller.port, SMTP_USER="desk", SMTP_PASSWORD="s3cret")
        )
        right.extensions["runtime"].clock = Clock(T0 + timedelta(minutes=1))
        assert right.extensions["outbox"].run_pass().outcomes == {"sent": 1}
        assert len(recorder.envelopes) == 1
    finally:
        controller.stop()
        wrong.extensions["db_engine"].dispose()
        right.extensions["db_engine"].dispose()


def test_sender_killed_after_the_server_took_the_message_never_sends_it_twice(database_url, smtp_server):
    """SIGKILL between the SMTP server's receipt and the commit: one message, then "unconfirmed"."""
    recorder, port = smtp_server
    quiet = make_app(database_url)  # no SMTP here: the row waits for the sender subprocess
    quiet.extensions["runtime"].clock = Clock(datetime.now(UTC))
    request_id = new_request(quiet)
    nid = enqueue_email(quiet, request_id, "t:killed")
    assert row(quiet, nid).status == "pending"

    received, killed = threading.Event(), threading.Event()
    recorder.on_data = lambda: (received.set(), killed.wait(60))
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env |= {
        "DATABASE_URL": database_url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "MAIL_FROM": MAIL_FROM,
        "WORKER_ID": "doomed-sender",
    }
    deliver = [sys.executable, "-m", "flask", "--app", "web", "outbox", "deliver"]
    proc = subprocess.Popen(deliver, env=env, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        while not received.wait(0.2):
            if proc.poll() is not None:
                pytest.fail(f"the sender exited before sending: {proc.stderr.read().decode()[-2000:]}")
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        killed.set()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert len(recorder.envelopes) == 1
    stuck = row(quiet, nid)
    assert (stuck.status, stuck.claimed_by, stuck.attempts) == ("sending", "doomed-sender", 1)

    # Another sender while the dead one's lease runs (in-process: a second process start-up
    # would prove nothing more, the row and its lease are in the database).
    later = make_app(database_url, **smtp_config(port))
    later.extensions["runtime"].clock = Clock(stuck.lease_until - timedelta(seconds=1))
    assert later.extensions["outbox"].run_pass().outcomes == {}
    assert len(recorder.envelopes) == 1, "a row another sender holds is left alone"
    assert row(later, nid).claimed_by == "doomed-sender"

    later.extensions["runtime"].clock = Clock(stuck.lease_until + timedelta(seconds=1))
    report = later.extensions["outbox"].run_pass()
    assert report.recovered == 1 and report.outcomes == {}
    assert len(recorder.envelopes) == 1, "never resent blindly"
    unconfirmed = row(later, nid)
    assert unconfirmed.status == "unconfirmed" and "sender stopped" in unconfirmed.dead_reason
    [out] = sent_rows(later, request_id)
    assert (out.message_id, out.action) == (unconfirmed.message_id, "unconfirmed"), "a reply still threads"
    assert later.extensions["outbox"].run_pass().recovered == 0

    later.extensions["outbox"].resend(nid)  # an admin decides the client did not get it
    assert row(later, nid).status == "sent"
    first, second = recorder.messages()
    assert ids(first["Message-ID"]) == ids(second["Message-ID"]) == [unconfirmed.message_id]
    assert [o.action for o in sent_rows(later, request_id)] == ["sent"]
    for app in (quiet, later):
        app.extensions["db_engine"].dispose()


def test_external_executor_gets_the_task_by_email_and_replies_attach_to_it(mail_app, smtp_server):
    recorder, _port = smtp_server
    request_id = new_request(mail_app)
    with mail_app.extensions["sessions"]() as session, session.begin():
        task = crm.create_task(
            session,
            now=T0,
            title="REQ: заменить картридж",
            assignee="master@podryadchik.example.ru",
            request=crm.get_request(session, request_id),
            description="Офис 301, принтер HP.",
            deadline=T0 + timedelta(days=1),
            idempotency_key="t:task",
        )
        task_id = task.id
    [msg] = recorder.messages()
    assert msg["To"] == "master@podryadchik.example.ru" and "[#REQ-" in msg["Subject"]
    assert "Офис 301" in msg.get_content() and "заменить картридж" in str(msg["Subject"])
    assert msg["In-Reply-To"] is None, "the task's own thread, not the client's"
    [out] = sent_rows(mail_app, request_id)
    assert out.task_id == task_id and [out.message_id] == ids(msg["Message-ID"])
    outbox = mail_app.extensions["outbox"]
    assert outbox.run_pass().task_mails == 0 and len(recorder.envelopes) == 1, "once per assignee"

    with mail_app.extensions["sessions"]() as session, session.begin():
        session.get(Task, task_id).assignee = "other@podryadchik.example.ru"
    assert [m["To"] for m in recorder.messages()] == [
        "master@podryadchik.example.ru",
        "other@podryadchik.example.ru",
    ]
    assert ids(recorder.messages()[1]["In-Reply-To"]) == ids(msg["Message-ID"])


def test_staff_reply_from_the_request_card_is_emailed_into_the_thread(mail_app, smtp_server):
    from web.demo import create_user

    recorder, _port = smtp_server
    with mail_app.app_context():
        create_user("operator", "demo", roles=["operator"], groups=["operators"])
        create_user("analyst", "demo", roles=["analyst"])
    request_id = new_request(mail_app)
    with mail_app.extensions["sessions"]() as session:
        number = crm.get_request(session, request_id).number
    client = mail_app.test_client()
    login(client, "operator")
    card = client.get(f"/requests/{number}")
    assert b'id="reply-form"' in card.data
    csrf = field(card.data, "csrf_token")
    reply_token = field(card.data, "reply_token")
    form = {"csrf_token": csrf, "reply_token": reply_token, "text": "Картридж заменим завтра до 12:00."}

    assert client.post(f"/requests/{number}/reply", data={**form, "csrf_token": ""}).status_code == 400
    assert client.post(f"/requests/{number}/reply", data={**form, "text": "  "}).status_code == 400
    assert recorder.envelopes == []
    response = client.post(f"/requests/{number}/reply", data=form)
    assert response.status_code == 302
    client.post(f"/requests/{number}/reply", data=form)  # the same form sent twice: one e-mail
    [msg] = recorder.messages()
    assert msg["To"] == CLIENT and ids(msg["In-Reply-To"]) == ["client-1@mail.romashka.example.ru"]
    assert msg["Subject"].startswith("Re: [#REQ-") and "Auto-Submitted" not in msg
    assert msg.get_content().strip() == "Картридж заменим завтра до 12:00."
    page = client.get(f"/requests/{number}").data.decode()
    assert "Картридж заменим завтра до 12:00." in page

    other = mail_app.test_client()
    login(other, "analyst")
    their_card = other.get(f"/requests/{number}").data
    assert b'id="reply-form"' not in their_card
    their_form = {**form, "csrf_token": field(their_card, "csrf_token")}
    assert other.post(f"/requests/{number}/reply", data=their_form).status_code == 403
    assert len(recorder.envelopes) == 1


def login(client, username: str) -> None:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": "demo", "csrf_token": field(page.data, "csrf_token")},
    )
    assert response.status_code == 302, response.data[:500]


def ids(header) -> list[str]:
    """Message ids in a header as stored (a long id may be folded onto the next line)."""
    return re.findall(r"<([^>]+)>", str(header or ""))


def field(html: bytes, name: str) -> str:
    return re.search(rb'name="' + name.encode() + rb'" value="([^"]+)"', html).group(1).decode()
