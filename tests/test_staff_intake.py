"""Staff open requests: the caller is found by phone (any spelling, E.164) or e-mail while typing,
the classifier suggests the category, and the request starts the same process as every channel.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from desk.models import Contact, Request
from engine.store import UserTask
from tests.conftest import make_app, seed_desk
from tests.db_helpers import module_database_url  # noqa: F401
from tests.web_helpers import csrf_token, staff_client


@pytest.fixture(scope="module")
def demo(module_database_url):  # noqa: F811
    app = seed_desk(make_app(module_database_url))
    yield app
    app.extensions["db_engine"].dispose()


@pytest.mark.parametrize("typed", ["8 (916) 123-45-67", "+7 916 1234567", "9161234567", "ivan.petrov@rom"])
def test_the_caller_is_found_as_the_operator_types(demo, typed):
    found = staff_client(demo, "operator").get("/intake/contacts.json", query_string={"q": typed}).get_json()
    assert [c["phone"] for c in found] == ["+79161234567"]
    assert found[0]["email"] == "ivan.petrov@romashka.example.ru"


def test_the_classifier_suggests_a_category_by_its_label(demo):
    operator = staff_client(demo, "operator")
    verdict = operator.get(
        "/intake/classify.json", query_string={"subject": "Принтер не печатает", "body": "замятие бумаги"}
    ).get_json()
    assert verdict["category"] == "printer" and verdict["label"] == "Принтеры и МФУ"


def test_a_phone_call_becomes_a_request_in_the_service_process(demo):
    operator = staff_client(demo, "operator")
    page = operator.get("/intake/new").get_data(as_text=True)
    assert 'id="contact-search"' in page and "intake.js" in page
    with demo.extensions["sessions"]() as session:
        contact_id = session.scalars(select(Contact.id).where(Contact.phone_e164 == "+79161234567")).one()
    response = operator.post(
        "/intake/new",
        data={
            "csrf_token": csrf_token(operator, "/intake/new"),
            "contact_id": str(contact_id),
            "subject": "Не печатает принтер в переговорной",
            "body": "Звонок: принтер пишет «замятие бумаги».",
            "channel": "phone",
            "priority": "high",
        },
    )
    assert response.status_code == 302
    number = response.headers["Location"].rsplit("/", 1)[-1]
    with demo.extensions["sessions"]() as session:
        req = session.scalars(select(Request).where(Request.number == number)).one()
        tasks = session.scalars(select(UserTask).where(UserTask.instance_id == req.instance_id)).all()
    assert req.channel == "phone" and req.contact_id == contact_id and req.priority == "high"
    assert req.requester_email == "ivan.petrov@romashka.example.ru"
    assert req.category == "printer" and req.instance_id and tasks
    card = operator.get(f"/requests/{number}").get_data(as_text=True)
    assert "Телефон" in card and "Высокий" in card


def test_a_new_caller_is_stored_as_a_contact_and_bad_input_is_explained(demo):
    operator = staff_client(demo, "operator")
    token = csrf_token(operator, "/intake/new")
    empty = operator.post("/intake/new", data={"csrf_token": token, "channel": "phone", "priority": "normal"})
    assert empty.status_code == 400 and "Запишите, что нужно клиенту" in empty.get_data(as_text=True)
    bad_phone = operator.post(
        "/intake/new",
        data={"csrf_token": token, "subject": "x", "phone": "12", "channel": "phone", "priority": "normal"},
    )
    assert bad_phone.status_code == 400
    walk_in = operator.post(
        "/intake/new",
        data={
            "csrf_token": token,
            "name": "Пётр Новиков",
            "phone": "8 903 555-66-77",
            "subject": "Нужен доступ к папке бухгалтерии",
            "channel": "walk_in",
            "priority": "normal",
        },
    )
    assert walk_in.status_code == 302
    with demo.extensions["sessions"]() as session:
        contact = session.scalars(select(Contact).where(Contact.phone_e164 == "+79035556677")).one()
    assert contact.name == "Пётр Новиков"


def test_only_front_line_staff_open_requests(demo):
    assert staff_client(demo, "executor").get("/intake/new").status_code == 403
    assert staff_client(demo, "executor").get("/intake/contacts.json?q=916").status_code == 403
