"""E-mail in (DESIGN §5): the corpus replayed into the database, each source and rule, on SQLite and PG."""

from __future__ import annotations

import json
import mailbox
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import func, select

from desk import crm
from desk.mail.ingest import IngestSettings, MailIngester, timeline
from desk.mail.outbound import build_message
from desk.messages import MailAttachment, MailMessage
from desk.models import Contact, Notification, Request, Task
from engine.store import UserTask
from tests.conftest import MONDAY_10, PROJECT, Clock
from web.auth import issue_token
from web.cli import deploy_paths
from web.intake import open_request
from web.mail_in import mail_ingester

CORPUS = Path(__file__).parent / "data" / "mail"
MANIFEST = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
DOMAIN = "helpdesk.example.ru"


def raw(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


class Mail:
    """An app and its ingester; `at(when)` moves the engine clock."""

    def __init__(self, app) -> None:
        self.app = app
        self.ingester = mail_ingester(app)
        self.sessions = app.extensions["sessions"]

    def at(self, when: datetime) -> None:
        self.app.extensions["runtime"].clock.now = when

    def ingest(self, data: bytes, source: str = "file"):
        return self.ingester.ingest(data, source)


@pytest.fixture
def mail(desk) -> Mail:
    """The demo desk (users, routing rules, sample requests) at Monday 10:00."""
    return Mail(desk)


@pytest.fixture
def bare_mail(any_app) -> Iterator[Mail]:
    """Only the shipped diagrams, no demo requests: the corpus's request numbers mean what they say."""
    any_app.extensions["runtime"].clock = Clock(MONDAY_10)
    with any_app.app_context():
        deploy_paths([PROJECT / "bpmn"])
        yield Mail(any_app)


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def store_outbound(mail, message_id: str, request_number: str | None, task_id: int | None = None) -> None:
    """What the outbox helper writes when it sends a notification or a task e-mail."""
    with mail.sessions() as session, session.begin():
        request = crm.get_request(session, request_number) if request_number else None
        session.add(
            MailMessage(
                message_id=message_id,
                direction="out",
                action="sent",
                request_id=request.id if request else None,
                task_id=task_id,
                at=mail.app.extensions["runtime"].now(),
            )
        )


def add_request(mail, number: str, status: str, closed_at: datetime | None) -> None:
    """A request with exactly this number (its id is the number), as the corpus setup names them."""
    now = mail.app.extensions["runtime"].now()
    with mail.sessions() as session, session.begin():
        request = Request(
            id=int(number.split("-")[1]),
            number=number,
            channel="email",
            subject=f"setup {number}",
            status=status,
            created_at=now - timedelta(days=30),
            status_changed_at=closed_at or now,
            closed_at=closed_at,
            stage_totals={},
        )
        session.add(request)


class Numbers:
    """Expected request numbers (from a fresh index) bound one-to-one to the database's numbers."""

    def __init__(self) -> None:
        self.bound: dict[str, str] = {}

    def bind(self, expected: str | None, actual: str | None) -> None:
        if expected is None or actual is None:
            assert expected == actual
            return
        if expected in self.bound:
            assert self.bound[expected] == actual, f"{expected} was {self.bound[expected]}, now {actual}"
        else:
            assert actual not in self.bound.values(), f"{actual} already stands for another request"
            self.bound[expected] = actual

    def __getitem__(self, expected: str) -> str:
        return self.bound[expected]


# ---------------------------------------------------------------------------
# The corpus sequences, through the database
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("sequence", MANIFEST["sequences"], ids=lambda s: s["name"])
def test_corpus_sequence_ingests_as_expected(bare_mail, sequence):
    mail = bare_mail
    numbers = Numbers()
    for setup in sequence.get("setup", []):
        closed = setup.get("closed_at")
        add_request(
            mail, setup["number"], setup["status"], datetime.fromisoformat(closed) if closed else None
        )
        numbers.bind(setup["number"], setup["number"])
        for message_id in setup.get("messages", []):
            store_outbound(mail, message_id, setup["number"])
    for step in sequence["steps"]:
        if "outbound" in step:
            store_outbound(mail, step["outbound"], numbers[step["request"]])
            continue
        if "close" in step:
            with mail.sessions() as session, session.begin():
                request = crm.get_request(session, numbers[step["close"]])
                crm.close_request(session, request, step["status"], now=datetime.fromisoformat(step["at"]))
            continue
        mail.at(datetime.fromisoformat(step["now"]))
        result = mail.ingest(raw(step["file"]))
        assert result.action == step["action"], f"{step['file']}: {result.reason}"
        assert result.settled
        numbers.bind(step["request"], result.request)
        if step.get("linked_to"):
            assert result.linked_to == numbers[step["linked_to"]]
        if "status_after" in step:
            with mail.sessions() as session:
                assert crm.get_request(session, result.request).status == step["status_after"]


# ---------------------------------------------------------------------------
# New requests: contact, process, text without quotes, attachments
# ---------------------------------------------------------------------------


def test_new_message_from_an_unknown_sender_opens_a_request_whose_card_makes_the_contact(mail):
    result = mail.ingest(raw("a01_outlook_ru_cp1251_new_printer.eml"))
    assert result.action == "new"
    with mail.sessions() as session:
        request = crm.get_request(session, result.request)
        assert request.contact_id is None  # a new client: the manager's card makes the contact
        assert count(session, Contact, Contact.email == "i.petrov@stroymontazh.example.ru") == 0
        assert request.instance_id is not None  # service_request started via the engine
        assert request.channel == "email" and request.subject == "Не печатает принтер в бухгалтерии"
        assert "ошибка 49.4C02" in request.body
        assert "С уважением" not in request.body  # signature stays out of the request text
        stored = session.scalars(select(MailMessage).where(MailMessage.message_id == result.message_id)).one()
        assert "С уважением" in stored.quoted_text  # ...and is kept on the message record
        assert (stored.action, stored.request_id, stored.raw) == ("new", request.id, None)
        [card] = session.scalars(
            select(UserTask).where(UserTask.business_key == request.number, UserTask.status == "open")
        ).all()
        assert card.element_id == "Task_ClientCard"
    mail.app.extensions["runtime"].complete(card.id, "manager", {"client_name": "Иван Петров"})
    again = mail.ingest(raw("a02_outlook_ru_reply_changed_subject.eml"))
    assert (again.action, again.request) == ("appended", result.request)  # References name a01
    with mail.sessions() as session:
        [contact] = session.scalars(
            select(Contact).where(Contact.email == "i.petrov@stroymontazh.example.ru")
        )
        assert contact.name == "Иван Петров"
        assert crm.get_request(session, result.request).contact_id == contact.id


def test_attachments_are_stored_and_the_one_over_the_limit_keeps_only_its_name_and_size(mail):
    ingester = MailIngester(
        mail.sessions,
        clock=mail.app.extensions["runtime"].now,
        open_request=open_request,
        settings=IngestSettings(max_attachment_bytes=2048),
    )
    result = ingester.ingest(raw("h03_attachment_over_limit.eml"), "file")
    with mail.sessions() as session:
        request = crm.get_request(session, result.request)
        [entry] = timeline(session, request.id)
        files = {a.filename: a for a in entry.attachments}
        assert files["scanner-crash.dmp"].truncated and files["scanner-crash.dmp"].size == 3000
        assert not files["inventory.csv"].truncated
        rows = {a.filename: a for a in session.scalars(select(MailAttachment))}
        assert rows["scanner-crash.dmp"].content is None
        assert rows["inventory.csv"].content.startswith(b"sku")


# ---------------------------------------------------------------------------
# Replies: appended, duplicate, token, reopen, linked, auto-replies
# ---------------------------------------------------------------------------


@pytest.fixture
def printer(mail):
    """Ivan's request with our acknowledgement sent, taken by `executor`."""
    first = mail.ingest(raw("a01_outlook_ru_cp1251_new_printer.eml"))
    store_outbound(mail, "176590081234.4411.9183746521093847561@helpdesk.example.ru", first.request)
    with mail.sessions() as session, session.begin():
        crm.get_request(session, first.request).assignee = "executor"
    return first.request


def test_reply_is_appended_notifies_the_assignee_and_shows_on_the_timeline(mail, printer):
    mail.at(MONDAY_10 + timedelta(hours=1))
    result = mail.ingest(raw("a02_outlook_ru_reply_changed_subject.eml"))
    assert (result.action, result.request) == ("appended", printer)
    with mail.sessions() as session:
        request = crm.get_request(session, printer)
        [note] = session.scalars(
            select(Notification).where(
                Notification.template == "mail_received", Notification.request_id == request.id
            )
        ).all()
        assert note.recipient == "executor" and note.channel == "in_app"
        assert (note.status, note.sent_at) == ("sent", MONDAY_10 + timedelta(hours=1))  # written delivered
        assert "Ошибка сканирования" in note.body
        entries = timeline(session, request.id)
        assert [(e.direction, e.action) for e in entries] == [
            ("in", "new"),
            ("out", "sent"),
            ("in", "appended"),
        ]
        assert "Отправлено: 23 ноября" not in entries[-1].text and "Отправлено" in entries[-1].quoted


def test_same_message_twice_is_a_duplicate_and_changes_nothing(mail, printer):
    mail.ingest(raw("a02_outlook_ru_reply_changed_subject.eml"))
    with mail.sessions() as session:
        before = (count(session, MailMessage), count(session, Notification), count(session, Request))
    result = mail.ingest(raw("a04_outlook_ru_reply_changed_subject_redelivered.eml"))
    assert (result.action, result.request, result.settled) == ("duplicate", printer, True)
    with mail.sessions() as session:
        assert (count(session, MailMessage), count(session, Notification), count(session, Request)) == before


def test_token_in_the_subject_joins_a_request_when_no_reference_matches(mail, printer):
    msg = EmailMessage()
    msg["From"] = "Иван Петров <i.petrov@stroymontazh.example.ru>"
    msg["To"] = "support@helpdesk.example.ru"
    msg["Subject"] = f"Ещё вопрос [#{printer}]"
    msg["Message-ID"] = "<token-1@stroymontazh.example.ru>"
    msg["In-Reply-To"] = "<never-seen@elsewhere.example>"
    msg.set_content("И картридж заканчивается.")
    result = mail.ingest(msg.as_bytes())
    assert (result.action, result.request) == ("appended", printer)
    assert f"[#{printer}]" in result.reason


def test_reply_to_a_done_request_within_7_days_reopens_it_and_tells_the_assignee(mail, printer):
    with mail.sessions() as session, session.begin():
        crm.close_request(session, crm.get_request(session, printer), "done", now=MONDAY_10)
    mail.at(MONDAY_10 + timedelta(days=6, hours=23))
    result = mail.ingest(raw("a02_outlook_ru_reply_changed_subject.eml"))
    assert (result.action, result.request) == ("reopened", printer)
    with mail.sessions() as session:
        request = crm.get_request(session, printer)
        assert request.status == "in_progress" and request.done_at is None
        templates = session.scalars(
            select(Notification.template).where(Notification.request_id == request.id)
        )
        assert "request_reopened" in set(templates)


def test_reply_after_the_window_opens_a_new_request_linked_to_the_old_one(mail, printer):
    with mail.sessions() as session, session.begin():
        crm.close_request(session, crm.get_request(session, printer), "done", now=MONDAY_10)
    mail.at(MONDAY_10 + timedelta(days=7, minutes=1))
    result = mail.ingest(raw("a02_outlook_ru_reply_changed_subject.eml"))
    assert (result.action, result.linked_to) == ("new_linked", printer)
    assert result.request != printer
    with mail.sessions() as session:
        old, new = crm.get_request(session, printer), crm.get_request(session, result.request)
        assert old.status == "done"
        assert new.linked_to_id == old.id and new.instance_id is not None
        assert new.created_at == MONDAY_10 + timedelta(days=7, minutes=1)


def test_reopen_window_comes_from_the_configuration(mail, printer):
    mail.app.config["MAIL_REOPEN_DAYS"] = 14
    mail.app.extensions.pop("mail_ingester")
    with mail.sessions() as session, session.begin():
        crm.close_request(session, crm.get_request(session, printer), "done", now=MONDAY_10)
    mail.at(MONDAY_10 + timedelta(days=10))
    assert (
        mail_ingester(mail.app).ingest(raw("a02_outlook_ru_reply_changed_subject.eml"), "file").action
        == "reopened"
    )


def test_auto_reply_to_a_closed_request_never_reopens_it_nor_opens_one(mail, printer):
    store_outbound(mail, "176590412077.4411.2650918837465102934@helpdesk.example.ru", printer)
    with mail.sessions() as session, session.begin():
        crm.close_request(session, crm.get_request(session, printer), "done", now=MONDAY_10)
        requests, notes = count(session, Request), count(session, Notification)
    mail.at(MONDAY_10 + timedelta(hours=2))
    for name in (
        "a03_exchange_oof_ru.eml",
        "i04_exchange_ndr_postmaster.eml",
        "c06_newsletter_precedence_bulk.eml",
    ):
        assert mail.ingest(raw(name)).action == "auto_reply"
    with mail.sessions() as session:
        assert crm.get_request(session, printer).status == "done"
        assert (count(session, Request), count(session, Notification)) == (requests, notes)
        filed = session.scalars(select(MailMessage).where(MailMessage.action == "auto_reply")).all()
        assert len(filed) == 3 and all(m.task_id is None for m in filed)


def test_reply_to_a_task_email_attaches_to_the_task_and_notifies_the_dispatchers(mail, printer):
    with mail.sessions() as session, session.begin():
        request = crm.get_request(session, printer)
        task = crm.create_task(
            session,
            now=MONDAY_10,
            title="Заменить фьюзер",
            assignee="master@fixit.example.com",
            request=request,
        )
        task_id = task.id
    message, sent_id = build_message(
        from_addr="support@helpdesk.example.ru",
        to="master@fixit.example.com",
        subject="Задача: заменить фьюзер",
        text="Прошу заменить фьюзер.",
        request_number=printer,
        thread_message_ids=[],
        domain=DOMAIN,
    )
    store_outbound(mail, sent_id, printer, task_id)
    reply = EmailMessage()
    reply["From"] = "Мастер <master@fixit.example.com>"
    reply["To"] = "support@helpdesk.example.ru"
    reply["Subject"] = "Re: Задача: заменить фьюзер"
    reply["Message-ID"] = "<reply-1@fixit.example.com>"
    reply["In-Reply-To"] = f"<{sent_id}>"
    reply["References"] = f"<{sent_id}>"
    reply.set_content("Заменил, принтер печатает.\n\n> Прошу заменить фьюзер.\n")
    result = mail.ingest(reply.as_bytes())
    assert (result.action, result.request, result.task_id) == ("appended", printer, task_id)
    with mail.sessions() as session:
        stored = session.scalars(
            select(MailMessage).where(MailMessage.message_id == "reply-1@fixit.example.com")
        ).one()
        assert stored.task_id == task_id and stored.body_text.strip() == "Заменил, принтер печатает."
        notes = session.scalars(
            select(Notification).where(Notification.template == "task_mail_received")
        ).all()
        assert {n.recipient for n in notes} == {"dispatcher"}
        assert "Заменить фьюзер" in notes[0].subject
        assert count(session, Contact, Contact.email == "master@fixit.example.com") == 0
        assert session.get(Task, task_id).status == "open"


# ---------------------------------------------------------------------------
# Broken input and failures
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["k01_malformed_no_headers.eml", "k02_malformed_binary_png.eml", "k03_malformed_no_from.eml"]
)
def test_malformed_message_is_rejected_with_a_reason_and_kept_raw(mail, name):
    data = raw(name)
    with mail.sessions() as session:
        requests = count(session, Request)
    result = mail.ingest(data)
    assert result.action == "rejected" and result.request is None and result.settled
    assert result.reason
    with mail.sessions() as session:
        row = session.scalars(select(MailMessage).where(MailMessage.message_id == result.message_id)).one()
        assert (row.action, row.raw, row.reason) == ("rejected", data, result.reason)
        assert count(session, Request) == requests
    assert mail.ingest(data).action == "duplicate"


def test_message_over_the_size_limit_is_rejected_and_its_head_kept(mail):
    ingester = MailIngester(
        mail.sessions,
        clock=mail.app.extensions["runtime"].now,
        open_request=open_request,
        settings=IngestSettings(max_message_bytes=1000),
    )
    result = ingester.ingest(raw("h03_attachment_over_limit.eml"), "api")
    assert result.action == "rejected" and "1000-byte limit" in result.reason
    with mail.sessions() as session:
        row = session.scalars(select(MailMessage).where(MailMessage.message_id == result.message_id)).one()
        assert len(row.raw) == 1000 and row.subject == "Full crash dump from the warehouse scanner"


def test_malformed_message_in_the_middle_of_an_mbox_loses_none_of_the_others(mail, tmp_path):
    path = tmp_path / "batch.mbox"
    box = mailbox.mbox(path)
    for name in ("b01_gmail_ru_problema_new.eml", "k03_malformed_no_from.eml", "d01_iphone_en_new.eml"):
        box.add(raw(name))
    box.flush()
    box.close()
    out = mail.app.test_cli_runner().invoke(args=["ingest-email", "--json", str(path)])
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in out.output.splitlines()]
    assert [line["action"] for line in lines] == ["new", "rejected", "new"]
    assert all(set(line) == {"message_id", "action", "request", "reason"} for line in lines)
    assert lines[1]["reason"] == "no From header" and lines[1]["request"] is None
    assert lines[0]["request"].startswith("REQ-") and lines[0]["request"] != lines[2]["request"]
    again = mail.app.test_cli_runner().invoke(args=["ingest-email", str(path)])
    assert again.exit_code == 0
    assert [line.split(": ", 1)[1].split()[0] for line in again.output.splitlines()] == ["duplicate"] * 3


def test_request_that_cannot_be_opened_stays_pending_and_is_resumed_without_a_second_request(mail):
    calls = []

    def open_then_crash(**kwargs):
        calls.append(kwargs)
        open_request(**kwargs)  # committed, then the process dies before the message is settled
        raise RuntimeError("worker killed")

    crashing = MailIngester(
        mail.sessions, clock=mail.app.extensions["runtime"].now, open_request=open_then_crash
    )
    data = raw("d01_iphone_en_new.eml")
    [(_, failed)] = list(crashing.ingest_all([("d01", data)], "imap"))
    assert failed.action == "rejected" and not failed.settled and "pending" in failed.reason
    with mail.sessions() as session:
        row = session.scalars(select(MailMessage).where(MailMessage.message_id == failed.message_id)).one()
        assert row.action == "pending" and row.raw == data
        requests = count(session, Request)
    busy = mail.ingest(data)  # another ingester holds the claim: not settled, nothing changes
    assert (busy.action, busy.settled) == ("duplicate", False)
    assert mail.ingester.resume_stale() == []  # within the lease
    mail.at(MONDAY_10 + timedelta(minutes=6))
    [resumed] = mail.ingester.resume_stale()
    assert resumed.action == "new" and resumed.settled
    with mail.sessions() as session:
        assert count(session, Request) == requests  # the request the crash left behind was adopted
        row = session.scalars(select(MailMessage).where(MailMessage.message_id == failed.message_id)).one()
        assert row.action == "new" and row.raw is None
        assert crm.get_request(session, resumed.request).requester_email == "emily.chen@lakeside.example.org"
    assert len(calls) == 1


def test_cli_refuses_a_path_that_does_not_exist(mail, tmp_path):
    missing = mail.app.test_cli_runner().invoke(args=["ingest-email", str(tmp_path / "nope.eml")])
    assert missing.exit_code != 0 and "does not exist" in missing.output


# ---------------------------------------------------------------------------
# POST /api/email
# ---------------------------------------------------------------------------


@pytest.fixture
def token(mail):
    with mail.sessions() as session, session.begin():
        return issue_token(
            session, name="mail relay", username="admin", now=MONDAY_10, scopes=["mail:ingest"]
        )


def test_api_ingests_a_raw_message_with_a_bearer_token(mail, token):
    client = mail.app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "message/rfc822"}
    data = raw("b01_gmail_ru_problema_new.eml")
    created = client.post("/api/email", data=data, headers=headers)
    assert created.status_code == 201
    body = created.get_json()
    assert set(body) == {"message_id", "action", "request", "reason"} and body["action"] == "new"
    again = client.post("/api/email", data=data, headers=headers)
    assert (again.status_code, again.get_json()["action"]) == (200, "duplicate")
    broken = client.post("/api/email", data=raw("k03_malformed_no_from.eml"), headers=headers)
    assert (broken.status_code, broken.get_json()["reason"]) == (422, "no From header")
    with mail.sessions() as session:
        row = session.scalars(select(MailMessage).where(MailMessage.action == "rejected")).one()
        assert row.source == "api" and row.raw == raw("k03_malformed_no_from.eml")


def test_api_refuses_missing_tokens_and_empty_or_oversized_bodies(mail, token):
    client = mail.app.test_client()
    data = raw("b01_gmail_ru_problema_new.eml")
    assert client.post("/api/email", data=data).status_code == 401
    assert client.post("/api/email", data=data, headers={"Authorization": "Bearer wrong"}).status_code == 401
    empty = client.post("/api/email", data=b"  \r\n", headers={"Authorization": f"Bearer {token}"})
    assert empty.status_code == 400 and "RFC 822" in empty.get_json()["message"]
    mail.app.config["MAIL_MAX_MESSAGE_BYTES"] = 100
    big = client.post("/api/email", data=data, headers={"Authorization": f"Bearer {token}"})
    assert big.status_code == 413
    with mail.sessions() as session:
        assert count(session, MailMessage, MailMessage.direction == "in") == 0


def test_the_same_reply_ingested_by_four_pollers_at_once_is_stored_once(mail, printer):
    data = raw("a02_outlook_ru_reply_changed_subject.eml")
    barrier = threading.Barrier(4)
    results = []

    def poller() -> None:
        with mail.app.app_context():
            barrier.wait()
            results.append(mail.ingest(data, "imap"))

    threads = [threading.Thread(target=poller) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.action for r in results) == ["appended", "duplicate", "duplicate", "duplicate"]
    assert all(r.settled and r.request == printer for r in results)
    with mail.sessions() as session:
        assert count(session, MailMessage, MailMessage.message_id == results[0].message_id) == 1
        assert count(session, Notification, Notification.template == "mail_received") == 1
