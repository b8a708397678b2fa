"""Erasing a contact on request (issue 23): refused while a request is open; afterwards no table
holds the contact's e-mail address or phone number, found by scanning every text, JSON and
binary column the metadata declares; the requests keep their facts for reports."""

from __future__ import annotations

import json
import subprocess
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import JSON, LargeBinary, String, Text, func, select

from desk import crm
from desk.erasure import ContactHasOpenRequestsError, ErasureRecord, contains, needles
from desk.messages import MailMessage
from desk.models import Base as DeskBase
from desk.models import Contact, Request
from engine.store import Base as EngineBase
from engine.store import Instance
from service.erasure import erase_contact
from service.errors import PermissionDenied
from service.instances import cancel_instance
from service.permissions import Principal
from tests.conftest import MONDAY_10, PROJECT
from web.auth import issue_token
from web.mail_in import mail_ingester

ADDRESS = "Erase.Me_Now@Example.org"
PHONE = "+7 (916) 555-12-34"
E164 = "+79165551234"
ADMIN = Principal.of("admin", roles=("admin",))
BIN = PROJECT / ".venv" / "bin"


def email_from(address: str, subject: str, body: str) -> bytes:
    message = EmailMessage()
    message["From"] = f"Эраз Мин <{address}>"
    message["To"] = "support@helpdesk.example.ru"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.org")
    message.set_content(body)
    return bytes(message)


@pytest.fixture
def client_data(desk):
    """A known client (a manager made their card) who wrote an e-mail (their phone in the signature)
    and called and was missed."""
    app = desk
    sessions = app.extensions["sessions"]
    with sessions() as session, session.begin():
        contact = crm.match_contact(session, now=MONDAY_10, name="Эраз Мин", email=ADDRESS, phone_e164=E164)
        contact.phones = [PHONE]
        contact_id = contact.id
        token = issue_token(session, name="PBX", username="admin", now=MONDAY_10, scopes=["telephony"])
    ingested = mail_ingester(app).ingest(
        email_from(ADDRESS, "Не работает VPN", f"Здравствуйте, VPN не подключается.\nМой телефон {PHONE}"),
        "file",
    )
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    routed = api.post(
        "/api/telephony/route",
        json={"caller": "8 916 555 12 34", "called": "+7 495 123-45-67"},
        headers=headers,
    )
    assert routed.status_code == 200, routed.json
    call_id = routed.json["call_id"]
    api.post("/api/telephony/event", json={"call_id": call_id, "event": "started"}, headers=headers)
    missed = api.post("/api/telephony/event", json={"call_id": call_id, "event": "missed"}, headers=headers)
    assert missed.status_code == 201, missed.json
    with sessions() as session:
        numbers = [ingested.request, missed.json["request"]]
        requests = session.scalars(select(Request).where(Request.number.in_(numbers))).all()
        assert {r.contact_id for r in requests} == {contact_id}
    return app, contact_id, numbers


def close_all(app, numbers: list[str]) -> None:
    """Cancel each request's process (the request is cancelled with it): nothing of theirs is open."""
    sessions = app.extensions["sessions"]
    with sessions() as session:
        instances = session.scalars(select(Request.instance_id).where(Request.number.in_(numbers))).all()
    for instance_id in instances:
        cancel_instance(
            app.extensions["runtime"], sessions, ADMIN, instance_id, "client asked to be forgotten"
        )


def traces(app, found: list[str]) -> list[str]:
    """Every (table.column) where a needle still is: each text, JSON or binary column of both schemas."""
    hits = []
    with app.extensions["sessions"]() as session:
        for metadata in (EngineBase.metadata, DeskBase.metadata):
            for table in metadata.sorted_tables:
                columns = [c for c in table.c if isinstance(c.type, String | Text | JSON | LargeBinary)]
                if not columns:
                    continue
                for row in session.execute(select(*columns)).all():
                    for column, value in zip(columns, row, strict=True):
                        if contains(value, found):
                            hits.append(f"{table.name}.{column.name}")
    return sorted(set(hits))


def test_the_client_data_is_really_everywhere_before_the_erasure(client_data):
    app, _contact_id, _numbers = client_data
    found = traces(app, needles(ADDRESS, [PHONE, E164]))
    assert {"contact.email", "mail_message.from_address", "call.caller_e164", "instance.variables"} <= set(
        found
    )


def test_erasure_is_refused_while_a_request_of_the_contact_is_open_naming_them(client_data):
    app, contact_id, numbers = client_data
    with pytest.raises(ContactHasOpenRequestsError) as refused:
        erase_contact(ADMIN, app.extensions["sessions"], contact_id, MONDAY_10)
    assert sorted(refused.value.numbers) == sorted(numbers)
    assert all(n in str(refused.value) for n in numbers)
    with app.extensions["sessions"]() as session:
        assert (
            session.get(Contact, contact_id).email == ADDRESS.lower()
            or session.get(Contact, contact_id).email
        )


def test_only_admins_may_erase(client_data):
    app, contact_id, numbers = client_data
    close_all(app, numbers)
    manager = Principal.of("manager", roles=("manager",))
    with pytest.raises(PermissionDenied, match="contact_erasure.erase"):
        erase_contact(manager, app.extensions["sessions"], contact_id, MONDAY_10)


def test_erasure_leaves_no_trace_of_the_address_or_phone_in_any_column(client_data):
    app, contact_id, numbers = client_data
    close_all(app, numbers)
    sessions = app.extensions["sessions"]
    with sessions() as session:
        facts_before = {
            r.number: (r.channel, r.category, r.priority, r.status, r.created_at, r.stage_totals)
            for r in session.scalars(select(Request).where(Request.number.in_(numbers)))
        }
    report = erase_contact(ADMIN, sessions, contact_id, MONDAY_10)
    assert report.counts["request"] == 2 and report.counts["process_rows"] > 0
    assert traces(app, needles(ADDRESS, [PHONE, E164])) == []
    with sessions() as session:
        requests = session.scalars(select(Request).where(Request.number.in_(numbers))).all()
        facts_after = {
            r.number: (r.channel, r.category, r.priority, r.status, r.created_at, r.stage_totals)
            for r in requests
        }
        assert facts_after == facts_before, "the requests keep their non-personal facts"
        assert all(r.subject == "" and r.requester_email is None for r in requests)
        assert (
            session.scalar(
                select(func.count())
                .select_from(Instance)
                .where(Instance.id.in_([r.instance_id for r in requests]))
            )
            == 0
        )
        contact = session.get(Contact, contact_id)
        assert contact.erased_at is not None and contact.email is None and contact.phones == []
        [record] = session.scalars(select(ErasureRecord).where(ErasureRecord.contact_id == contact_id)).all()
        assert record.erased_by == "admin" and record.counts == report.counts
        assert not contains(record.counts, needles(ADDRESS, [PHONE, E164]))
        assert (
            session.scalar(
                select(func.count())
                .select_from(MailMessage)
                .where(MailMessage.request_id.in_([r.id for r in requests]))
            )
            >= 1
        ), "the thread's ids stay for threading"


def test_the_command_line_erases_and_answers_in_json(client_data, tmp_path):
    app, contact_id, numbers = client_data
    env_url = app.config["DATABASE_URL"]
    app.extensions["db_engine"].dispose()
    import os

    env = {**os.environ, "DATABASE_URL": env_url, "PYTHONPATH": str(PROJECT)}
    env.pop("REDIS_URL", None)
    argv = [str(BIN / "flask"), "--app", "web", "erase-contact", str(contact_id), "--json"]
    refused = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and sorted(json.loads(refused.stdout)["open_requests"]) == sorted(numbers)
    close_all(app, numbers)
    app.extensions["db_engine"].dispose()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=True)
    body = json.loads(done.stdout)
    assert body["contact_id"] == contact_id and body["erased_by"] == "cli" and body["counts"]["request"] == 2
    assert traces(app, needles(ADDRESS, [PHONE, E164])) == []
