"""Paid field work end to end: bpmn/field_service.bpmn with real handlers, driven through the web app.

Request -> specialist's task -> start -> conversion (existing contact matched by a phone
typed another way) -> invoice -> payment -> work -> close, with the administrator told
at start and finish; on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from desk import billing
from desk.messages import MailMessage
from desk.models import Contact, Deal, Notification, Request, Task
from engine.store import HistoryEvent, Instance
from tests.conftest import MONDAY_10
from tests.web_helpers import csrf_token, seeded_fixture, staff_client  # noqa: F401  (fixture "seeded")
from web.auth import issue_token
from web.intake import open_request

CLIENT_PHONE = "8 (916) 123-45-67"  # Иван Петров of the demo seed is +79161234567


def reload(app, model, key):
    with app.extensions["sessions"]() as session:
        return session.get(model, key)


def notes(app, request_id: int, template: str) -> list[Notification]:
    with app.extensions["sessions"]() as session:
        return list(
            session.scalars(
                select(Notification).where(
                    Notification.request_id == request_id, Notification.template == template
                )
            )
        )


def waiting_at(app, request: Request) -> set[str]:
    states = app.extensions["runtime"].active_elements(request.instance_id)
    return {element for element, state in states.items() if state == "active"}


def open_field_request(app, request_type: str = "connection") -> Request:
    with app.app_context():
        request = open_request(
            channel="web",
            subject="Подключить квартиру к интернету",
            body="Ленина 5, кв. 12. Удобно после 14:00.",
            requester_email="ivan.home@example.org",
            process_key="field_service",
            variables={"request_type": request_type, "client_phone": CLIENT_PHONE, "client_name": "Иван"},
        )
    return reload(app, Request, request.id)


def test_a_field_request_runs_from_task_to_closed_deal(seeded):
    desk = seeded
    request = open_field_request(desk)
    assert request.assignee == "executor" and request.status == "assigned"
    assert waiting_at(desk, request) == {"Event_TaskStarted"}
    with desk.extensions["sessions"]() as session:
        task = session.scalars(select(Task).where(Task.request_id == request.id)).one()
    assert task.assignee == "executor"
    assert [n.recipient for n in notes(desk, request.id, "field_task_assigned")] == ["executor"]

    # The specialist starts the task from the card; the administrator is told.
    specialist = staff_client(desk, "executor")
    card = specialist.get(f"/field/tasks/{task.id}")
    assert b"start-task" in card.data and b"finish-task" not in card.data
    token = csrf_token(specialist, f"/field/tasks/{task.id}")
    started = specialist.post(f"/field/tasks/{task.id}/start", data={"csrf_token": token})
    assert started.status_code == 302, started.data.decode()[-1500:]
    assert reload(desk, Task, task.id).status == "in_progress"
    assert [n.recipient for n in notes(desk, request.id, "field_task_started")] == ["dispatcher"]
    assert waiting_at(desk, request) == {"Task_Convert"}
    # Finishing before payment is refused with a reason, not an error page.
    refused = specialist.post(f"/field/tasks/{task.id}/finish", data={"csrf_token": token})
    assert refused.status_code == 409

    # The administrator converts: a product code typo is shown inline and nothing moves.
    admin = staff_client(desk, "dispatcher")
    card = admin.get(f"/requests/{request.number}")
    assert b'id="convert"' in card.data and f"/field/tasks/{task.id}".encode() in card.data
    form = admin.get(f"/requests/{request.number}/convert")
    assert "Иван Петров".encode() in form.data  # matched by the phone typed another way
    token = csrf_token(admin, f"/requests/{request.number}/convert")
    typo = admin.post(
        f"/requests/{request.number}/convert",
        data={"csrf_token": token, "products": "CONECT", "client_phone": CLIENT_PHONE, "contact_id": ""},
    )
    assert typo.status_code == 400 and b"CONECT&#39; is not in the price list" in typo.data
    assert waiting_at(desk, request) == {"Task_Convert"}
    with desk.extensions["sessions"]() as session:
        contacts_before = session.scalar(select(func.count()).select_from(Contact))
    done = admin.post(
        f"/requests/{request.number}/convert",
        data={
            "csrf_token": token,
            "products": "CONNECT, CABLE-10:2",
            "client_phone": CLIENT_PHONE,
            "contact_id": "",
        },
    )
    assert done.status_code == 302, done.data[:500]

    with desk.extensions["sessions"]() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == contacts_before
        contact = session.scalars(select(Contact).where(Contact.phone_e164 == "+79161234567")).one()
        assert contact.responsible == "executor"
        deal = session.scalars(select(Deal).where(Deal.request_id == request.id)).one()
        assert deal.responsible == "dispatcher" and [c.id for c in deal.contacts] == [contact.id]
        invoice = session.scalars(
            select(billing.Invoice).where(billing.Invoice.request_id == request.id)
        ).one()
        assert invoice.total == Decimal("4758.00")  # (3000 + 2 × 450) × 1.22
    assert reload(desk, Request, request.id).contact_id == contact.id
    [sent] = notes(desk, request.id, "invoice_sent")
    assert sent.channel == "email" and sent.recipient == "ivan.home@example.org"
    assert sent.payload["attachments"] == [{"kind": "invoice_pdf", "invoice": invoice.number}]
    assert waiting_at(desk, request) == {"Task_WaitPayment", "Timer_PaymentReminder"}

    # The request card links the deal and the invoice; the invoice page has its PDF.
    card = admin.get(f"/requests/{request.number}")
    assert invoice.number.encode() in card.data and f"/deals/{deal.id}".encode() in card.data
    page = admin.get(f"/invoices/{invoice.number}")
    assert page.status_code == 200 and b"mark-paid" in page.data
    pdf = admin.get(f"/invoices/{invoice.number}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")

    # Payment arrives through the API (a bank integration), twice: recorded once.
    with desk.extensions["sessions"]() as session, session.begin():
        api_token = issue_token(
            session, name="bank", username="dispatcher", now=MONDAY_10, scopes=["invoices:pay"]
        )
    api = desk.test_client()
    headers = {"Authorization": f"Bearer {api_token}"}
    for _ in range(2):
        paid = api.post(
            f"/api/invoices/{invoice.number}/paid", json={"reference": "bank-77"}, headers=headers
        )
        assert paid.status_code == 200 and paid.json["status"] == "paid"
    with desk.extensions["sessions"]() as session:
        assert session.scalar(select(func.count()).select_from(billing.Payment)) == 1
    assert [n.recipient for n in notes(desk, request.id, "field_payment_received")] == ["executor"]
    assert waiting_at(desk, request) == {"Task_DoWork"}

    # The specialist finishes; the administrator is told, the deal closes, the request is done.
    token = csrf_token(specialist, f"/field/tasks/{task.id}")
    assert specialist.post(f"/field/tasks/{task.id}/finish", data={"csrf_token": token}).status_code == 302
    assert [n.recipient for n in notes(desk, request.id, "field_task_finished")] == ["dispatcher"]
    request = reload(desk, Request, request.id)
    assert request.status == "done" and request.processing_minutes is not None
    assert reload(desk, Deal, deal.id).status == "won"
    assert reload(desk, Task, task.id).status == "done"
    with desk.extensions["sessions"]() as session:
        assert session.get(Instance, request.instance_id).status == "completed"
        trail = list(
            session.scalars(
                select(HistoryEvent.element_id)
                .where(HistoryEvent.instance_id == request.instance_id, HistoryEvent.element_id.is_not(None))
                .order_by(HistoryEvent.id)
            )
        )
    for element in (
        "Task_PickSpecialist",
        "Task_NotifyStarted",
        "Task_Convert",
        "Task_IssueInvoice",
        "Task_SendInvoice",
        "Task_NotifyFinished",
        "Task_CloseDeal",
    ):
        assert element in trail


def test_an_unpaid_invoice_reminds_the_administrator_after_three_working_days(desk):
    request = open_field_request(desk, "tariff_change")
    runtime = desk.extensions["runtime"]
    runtime.correlate("task.started", business_key=request.number)
    [convert] = [t for t in _open_user_tasks(desk, request) if t.element_id == "Task_Convert"]
    runtime.complete(convert.id, "dispatcher", {"products": "TARIFF", "client_phone": CLIENT_PHONE})
    assert waiting_at(desk, request) == {"Task_WaitPayment", "Timer_PaymentReminder"}
    runtime.clock.now = MONDAY_10 + timedelta(days=2, hours=23)  # Thursday 09:00: two working days and a bit
    runtime.fire_due_timers()
    assert notes(desk, request.id, "field_payment_reminder") == []
    runtime.clock.now = MONDAY_10 + timedelta(days=3, hours=1)  # Thursday 11:00 Moscow
    runtime.fire_due_timers()
    runtime.run_due_jobs()
    assert [n.recipient for n in notes(desk, request.id, "field_payment_reminder")] == ["dispatcher"]
    runtime.fire_due_timers()
    runtime.run_due_jobs()
    assert len(notes(desk, request.id, "field_payment_reminder")) == 1
    assert waiting_at(desk, request) == {"Task_WaitPayment"}  # still waiting for the money; reminded once


def test_an_unknown_request_type_stops_with_an_incident_naming_it(desk):
    request = open_field_request(desk, "teleport")
    runtime = desk.extensions["runtime"]
    for minutes in (1, 5, 15, 60):  # past each retry's backoff
        runtime.clock.now = MONDAY_10 + timedelta(minutes=minutes)
        runtime.run_due_jobs()
    with desk.extensions["sessions"]() as session:
        from engine.store import Incident

        incident = session.scalars(
            select(Incident).where(Incident.instance_id == request.instance_id)
        ).first()
    assert incident is not None and "teleport" in incident.message


def test_only_the_specialist_or_staff_sees_the_task_card(seeded):
    desk = seeded
    request = open_field_request(desk)
    with desk.extensions["sessions"]() as session:
        task = session.scalars(select(Task).where(Task.request_id == request.id)).one()
    assert staff_client(desk, "executor2").get(f"/field/tasks/{task.id}").status_code == 403
    assert staff_client(desk, "approver").get(f"/requests/{request.number}/convert").status_code == 403


@pytest.mark.parametrize(
    "body, status, says",
    [
        (b"not json", 400, "not valid JSON"),
        (b'{"amount": "lots"}', 400, "'lots' is not a number"),
        (b'{"amount": NaN}', 400, "NaN is not a number JSON allows"),
        (b'{"amount": "Infinity"}', 400, "'Infinity' is not a number"),
        (b'{"reference": "\\ud800"}', 400, "reference: contains a lone surrogate"),
        (b'{"amount": 99999999999999999999}', 400, "amount: is a whole number beyond 64 bits"),
        (b'{"reference": ' + b"[" * 40 + b"]" * 40 + b"}", 400, "nested deeper than 32 levels"),
        (b'{"amount": "1.00"}', 400, "partial payments are not accepted"),
    ],
)
def test_bad_payment_calls_are_refused_and_change_nothing(seeded, body, status, says):
    desk = seeded
    request = open_field_request(desk)
    runtime = desk.extensions["runtime"]
    runtime.correlate("task.started", business_key=request.number)
    [convert] = [t for t in _open_user_tasks(desk, request) if t.element_id == "Task_Convert"]
    runtime.complete(convert.id, "dispatcher", {"products": "VISIT"})
    with desk.extensions["sessions"]() as session, session.begin():
        api_token = issue_token(
            session, name="bank", username="dispatcher", now=MONDAY_10, scopes=["invoices:pay"]
        )
        number = session.scalars(select(billing.Invoice.number)).one()
    headers = {"Authorization": f"Bearer {api_token}", "Content-Type": "application/json"}
    reply = desk.test_client().post(f"/api/invoices/{number}/paid", data=body, headers=headers)
    assert reply.status_code == status and says in reply.json["message"], reply.json
    assert reply.json["field"]
    assert desk.test_client().post(f"/api/invoices/{number}/paid", json={}).status_code == 401
    assert desk.test_client().post("/api/invoices/NOPE/paid", json={}, headers=headers).status_code == 404
    with desk.extensions["sessions"]() as session:
        assert session.scalars(select(billing.Invoice.status)).one() == "issued"
    assert waiting_at(desk, request) == {"Task_WaitPayment", "Timer_PaymentReminder"}


def _open_user_tasks(app, request: Request):
    from engine.tasklist import TaskQuery, query_tasks

    with app.extensions["sessions"]() as session:
        return query_tasks(session, TaskQuery(everything=True, business_key=request.number)).tasks


# ----------------------------------------------------------------------------- with real e-mail

from tests.test_smtp_delivery import smtp_config, smtp_server  # noqa: E402,F401  (fixture)


@pytest.fixture
def mail_desk(database_url, smtp_server):  # noqa: F811
    """The demo desk with an SMTP server of the test's own (aiosmtpd on 127.0.0.1)."""
    from tests.conftest import make_app, seed_desk

    recorder, port = smtp_server
    app = seed_desk(make_app(database_url, **smtp_config(port)))
    yield app, recorder
    app.extensions["db_engine"].dispose()


def test_a_web_form_request_is_invoiced_by_mail_paid_worked_and_the_client_reply_reaches_the_specialist(
    mail_desk,
):
    import io

    import pypdf

    app, smtp = mail_desk
    visitor = app.test_client()
    submitted = visitor.post(
        "/request/new",
        data={
            "csrf_token": csrf_token(visitor, "/request/new"),
            "name": "Иван Петров",
            "email": "ivan.home@example.org",
            "phone": CLIENT_PHONE,
            "request_type": "connection",
            "description": "Подключить квартиру к интернету\nЛенина 5, кв. 12",
            "website": "",
        },
    )
    assert submitted.status_code in (200, 302, 303), submitted.data[:500]
    with app.extensions["sessions"]() as session:
        request = session.scalars(select(Request).order_by(Request.id.desc())).first()
        task = session.scalars(select(Task).where(Task.request_id == request.id)).one()
        assert session.get(Instance, request.instance_id).definition_id.startswith("field_service")
        matched = session.get(Contact, request.contact_id)
    assert matched.phone_e164 == "+79161234567" and matched.name == "Иван Петров"  # the demo contact, no twin

    specialist, admin = staff_client(app, "executor"), staff_client(app, "dispatcher")
    specialist.post(
        f"/field/tasks/{task.id}/start",
        data={"csrf_token": csrf_token(specialist, f"/field/tasks/{task.id}")},
    )
    assert [n.recipient for n in notes(app, request.id, "field_task_started")] == ["dispatcher"]
    converted = admin.post(
        f"/requests/{request.number}/convert",
        data={
            "csrf_token": csrf_token(admin, f"/requests/{request.number}/convert"),
            "products": "CONNECT, CABLE-10:2",
        },
    )
    assert converted.status_code == 302

    with app.extensions["sessions"]() as session:
        invoice = session.scalars(
            select(billing.Invoice).where(billing.Invoice.request_id == request.id)
        ).one()
        assert session.get(Contact, invoice.contact_id).responsible == "executor"
    mails = [m for m in smtp.messages() if invoice.number in str(m["Subject"])]
    assert len(mails) == 1, [str(m["Subject"]) for m in smtp.messages()]
    mail = mails[0]
    assert mail["To"] == "ivan.home@example.org" and f"[#{request.number}]" in str(mail["Subject"])
    [pdf] = [part for part in mail.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert pdf.get_filename() == f"{invoice.number}.pdf"
    text = pypdf.PdfReader(io.BytesIO(pdf.get_content())).pages[0].extract_text()
    assert invoice.number in text and "4 758,00" in text.replace("\u00a0", " ")
    # Recorded as sent, with the outbound mail row replies thread by: recording it used to render
    # the PDF again in a second session while the first held SQLite's write lock, so it waited
    # out the 30 s busy timeout, failed, and the notification was never marked sent.
    message_id = mail["Message-ID"].strip("<>")
    with app.extensions["sessions"]() as session:
        sent = session.scalars(select(Notification).where(Notification.message_id == message_id)).one()
        recorded = session.scalars(select(MailMessage).where(MailMessage.message_id == message_id)).one()
    assert (sent.status, recorded.direction, recorded.action) == ("sent", "out", "sent")

    # The client answers the invoice mail from their own client: it threads to the request.
    reply = (
        "From: Иван <ivan.home@example.org>\r\nTo: desk@helpdesk.example.ru\r\n"
        f"Subject: Re: {mail['Subject']}\r\nMessage-ID: <reply-1@example.org>\r\n"
        f"In-Reply-To: {mail['Message-ID']}\r\nReferences: {mail['Message-ID']}\r\n"
        "Date: Mon, 23 Nov 2026 12:00:00 +0300\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Можно ли оплатить картой на месте?\r\n"
    ).encode()
    with app.extensions["sessions"]() as session, session.begin():
        api_token = issue_token(
            session, name="relay", username="admin", now=MONDAY_10, scopes=["mail:ingest"]
        )
    api = app.test_client()
    answer = api.post(
        "/api/email",
        data=reply,
        headers={"Authorization": f"Bearer {api_token}", "Content-Type": "message/rfc822"},
    )
    assert answer.status_code in (200, 201), answer.data
    assert answer.json["action"] == "appended" and answer.json["request"] == request.number
    with app.extensions["sessions"]() as session:
        told = session.scalars(
            select(Notification.recipient).where(
                Notification.request_id == request.id, Notification.template.like("%mail%")
            )
        ).all()
    assert "executor" in told

    # Paid from the invoice page, worked, closed; the administrator hears of the finish.
    admin.post(
        f"/invoices/{invoice.number}/paid",
        data={"csrf_token": csrf_token(admin, f"/invoices/{invoice.number}")},
    )
    specialist.post(
        f"/field/tasks/{task.id}/finish",
        data={"csrf_token": csrf_token(specialist, f"/field/tasks/{task.id}")},
    )
    assert [n.recipient for n in notes(app, request.id, "field_task_finished")] == ["dispatcher"]
    assert reload(app, Request, request.id).status == "done"
    with app.extensions["sessions"]() as session:
        assert session.scalars(select(Deal.status).where(Deal.request_id == request.id)).one() == "won"
