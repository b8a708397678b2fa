"""The public request form: anyone can open a request; bots, floods, forged posts and huge files cannot."""

from __future__ import annotations

import re
import uuid
from io import BytesIO

import pytest
from sqlalchemy import func, select

from desk.models import Contact, Notification, Request
from desk.public_form import RequestAttachment
from engine.store import Instance
from tests.conftest import MONDAY_10, PROJECT, REDIS_URL, make_app, require_service
from web.cli import deploy_paths
from web.demo import create_user

IVAN_EMAIL = "ivan.petrov@romashka.example.ru"
VISITOR = {
    "name": "Пётр Сидоров",
    "email": "petr.sidorov@example.ru",
    "phone": "+7 903 765-43-21",
    "request_type": "incident",
    "description": "Не печатает принтер на 3 этаже\nГорит ошибка замятия бумаги.",
}


def prepare(app) -> None:
    """The shipped diagrams, a known client and one staff account, at Monday 10:00 Moscow time."""
    app.extensions["runtime"].clock = lambda: MONDAY_10
    with app.app_context():
        deploy_paths([PROJECT / "bpmn"])
        create_user("operator", "demo", full_name="Ольга", roles=["operator"], groups=["operators"])
    with app.extensions["sessions"]() as session, session.begin():
        session.add(
            Contact(
                name="Иван Петров",
                email=IVAN_EMAIL,
                phones=["+79161234567"],
                phone_e164="+79161234567",
                created_at=MONDAY_10,
                updated_at=MONDAY_10,
            )
        )


@pytest.fixture
def site(any_app):
    prepare(any_app)
    return any_app


def csrf_token(client, path: str = "/request/new") -> str:
    return re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', client.get(path).data)[1].decode()


def submit(client, files=(), token: bool = True, **fields):
    data = {**VISITOR, **fields}
    if token:
        data["csrf_token"] = csrf_token(client)
    if files:
        data["attachments"] = [(BytesIO(content), name) for name, content in files]
    return client.post("/request/new", data=data, content_type="multipart/form-data")


def stored(app) -> tuple[int, int, int, int]:
    """How many requests, contacts, notifications and attachments there are."""
    with app.extensions["sessions"]() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (Request, Contact, Notification, RequestAttachment)
        )


def the_request(app, number: str) -> Request:
    with app.extensions["sessions"]() as session:
        return session.scalars(select(Request).where(Request.number == number)).one()


def thanks_number(client, response) -> str:
    assert response.status_code == 303 and response.headers["Location"].endswith("/request/thanks")
    page = client.get("/request/thanks").get_data(as_text=True)
    return re.search(r'class="request-number">(REQ-\d+)<', page)[1]


# --- the happy path -------------------------------------------------------------------


def test_a_visitor_opens_a_request_with_an_attachment_and_gets_a_confirmation(site):
    client = site.test_client()
    assert "Новое обращение" in client.get("/request/new").get_data(as_text=True)
    response = submit(client, files=[("скан ошибки.pdf", b"%PDF-1.7 scan")])
    number = thanks_number(client, response)
    request = the_request(site, number)
    with site.extensions["sessions"]() as session:
        contact = session.get(Contact, request.contact_id)
        [attachment] = session.scalars(
            select(RequestAttachment).where(RequestAttachment.request_id == request.id)
        )
        notes = session.scalars(select(Notification).where(Notification.request_id == request.id)).all()
        process = session.get(Instance, request.instance_id)
    assert (request.channel, request.priority) == ("web", "high")
    assert (
        process.variables["request_type"] == "incident"
        and process.variables["client_phone"] == "+79037654321"
    )
    assert request.subject == "Не печатает принтер на 3 этаже"
    assert request.requester_email == "petr.sidorov@example.ru" and request.instance_id is not None
    assert (contact.name, contact.email, contact.phone_e164) == (
        "Пётр Сидоров",
        "petr.sidorov@example.ru",
        "+79037654321",
    )
    assert (attachment.filename, attachment.size, attachment.content) == (
        "скан ошибки.pdf",
        13,
        b"%PDF-1.7 scan",
    )
    [confirmation] = [n for n in notes if n.template == "web_request_received"]
    assert (confirmation.recipient, confirmation.channel, confirmation.status) == (
        "petr.sidorov@example.ru",
        "email",
        "pending",
    )
    assert number in confirmation.subject and "Пётр Сидоров" in confirmation.body


@pytest.mark.parametrize(
    "fields",
    [
        {"email": "Ivan.Petrov@ROMASHKA.example.ru", "phone": "+7 903 000-11-22"},  # same e-mail, other case
        {"email": "ivan.home@example.ru", "phone": "8 (916) 123-45-67"},  # same number, other spelling
    ],
)
def test_a_known_client_is_matched_by_email_or_phone_never_duplicated(site, fields):
    client = site.test_client()
    before = stored(site)[1]
    number = thanks_number(client, submit(client, **fields))
    with site.extensions["sessions"]() as session:
        ivan = session.scalars(select(Contact).where(Contact.email == IVAN_EMAIL)).one()
    assert the_request(site, number).contact_id == ivan.id
    assert stored(site)[1] == before


def test_request_type_sets_the_priority(site):
    client = site.test_client()
    number = thanks_number(client, submit(client, request_type="question", description="Как подключить VPN?"))
    assert the_request(site, number).priority == "low"


# --- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("email", "", "Заполните это поле."),
        ("email", "ivan@", "Введите правильный адрес e-mail"),
        ("email", "ivan petrov@example.ru", "Введите правильный адрес e-mail"),
        ("phone", "", "Заполните это поле."),
        ("phone", "12345", "Введите полный номер телефона с кодом"),
        ("phone", "+7 000 000-00-00", "Введите полный номер телефона с кодом"),
        ("description", "   ", "Заполните это поле."),
    ],
)
def test_missing_or_invalid_fields_are_shown_inline_and_nothing_is_stored(site, field, value, message):
    client = site.test_client()
    before = stored(site)
    response = submit(client, files=[("a.txt", b"hello")], **{field: value})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(rf'id="{field}-error">{re.escape(message)}', page)
    assert 'value="Пётр Сидоров"' in page  # what the visitor typed is kept
    assert stored(site) == before


def test_a_filled_honeypot_looks_like_success_but_stores_nothing(site):
    client = site.test_client()
    before = stored(site)
    response = submit(client, website="http://cheap-pills.example")
    assert response.status_code == 303 and response.headers["Location"].endswith("/request/thanks")
    page = client.get("/request/thanks")
    assert page.status_code == 200 and "Спасибо" in page.get_data(as_text=True)
    assert "REQ-" not in page.get_data(as_text=True)
    assert stored(site) == before


def test_too_many_requests_from_one_address_get_429(site):
    site.config["PUBLIC_FORM_RATE"] = "2/hour"
    client = site.test_client()
    for i in range(2):
        assert submit(client, description=f"Принтер {i}").status_code == 303
    before = stored(site)
    response = submit(client, description="Принтер 3")
    assert response.status_code == 429
    assert "Слишком много обращений с вашего адреса" in response.get_data(as_text=True)
    assert stored(site) == before
    other = site.test_client()
    response = other.post(
        "/request/new",
        data={**VISITOR, "csrf_token": csrf_token(other)},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert response.status_code == 303  # another address is not affected


def test_the_limit_holds_across_web_nodes_sharing_the_database(sqlite_url):
    nodes = [make_app(sqlite_url, PUBLIC_FORM_RATE="2/hour") for _ in range(2)]
    try:
        for node in nodes:
            node.extensions["runtime"].clock = lambda: MONDAY_10
        codes = [submit(nodes[i % 2].test_client(), website="x").status_code for i in range(3)]
    finally:
        for node in nodes:
            node.extensions["db_engine"].dispose()
    assert codes == [303, 303, 429]


@pytest.mark.redis
def test_with_redis_the_limit_is_counted_in_redis(sqlite_url):
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisDown

    try:
        Redis.from_url(REDIS_URL).ping()
    except RedisDown:
        require_service("Redis", f"is not reachable at {REDIS_URL}")
    address = f"203.0.113.{uuid.uuid4().int % 250 + 1}-{uuid.uuid4().hex[:6]}"
    nodes = [make_app(sqlite_url, PUBLIC_FORM_RATE="2/hour", REDIS_URL=REDIS_URL) for _ in range(2)]
    redis = nodes[0].extensions["redis"]
    try:
        for node in nodes:
            node.extensions["runtime"].clock = lambda: MONDAY_10
        codes = []
        for i in range(3):
            client = nodes[i % 2].test_client()
            data = {**VISITOR, "website": "x", "csrf_token": csrf_token(client)}
            codes.append(
                client.post("/request/new", data=data, environ_base={"REMOTE_ADDR": address}).status_code
            )
        keys = redis.keys(f"desk:public_form:{address}:*")
        assert codes == [303, 303, 429]
        assert [int(redis.get(k)) for k in keys] == [3]
    finally:
        for key in redis.keys(f"desk:public_form:{address}:*"):
            redis.delete(key)
        for node in nodes:
            node.extensions["db_engine"].dispose()


def test_a_post_without_csrf_token_is_refused(site):
    before = stored(site)
    response = submit(site.test_client(), token=False)
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    assert stored(site) == before


def test_an_oversized_attachment_is_refused_with_a_message(site):
    site.config["PUBLIC_FORM_MAX_FILE_KB"] = 1
    before = stored(site)
    response = submit(site.test_client(), files=[("ok.txt", b"x" * 1024), ("фото.jpg", b"x" * 1025)])
    assert response.status_code == 413
    assert "Файл фото.jpg больше 1 КБ" in response.get_data(as_text=True)
    assert stored(site) == before


def test_more_files_than_allowed_are_refused(site):
    site.config["PUBLIC_FORM_MAX_FILES"] = 2
    before = stored(site)
    response = submit(site.test_client(), files=[(f"{i}.txt", b"x") for i in range(3)])
    assert response.status_code == 413
    assert "Приложите не больше 2 файлов." in response.get_data(as_text=True)
    assert stored(site) == before


# --- staff side and language -----------------------------------------------------------------


def test_staff_see_and_download_attachments_on_the_request_card(site):
    visitor = site.test_client()
    number = thanks_number(visitor, submit(visitor, files=[("схема сети.png", b"\x89PNG data")]))
    staff = site.test_client()
    page = staff.get(f"/requests/{number}")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    staff.post(
        "/login", data={"username": "operator", "password": "demo", "csrf_token": csrf_token(staff, "/login")}
    )
    card = staff.get(f"/requests/{number}").get_data(as_text=True)
    link = re.search(rf'href="(/requests/{number}/attachments/\d+)"[^>]*>схема сети.png<', card)[1]
    download = staff.get(link)
    assert download.status_code == 200 and download.data == b"\x89PNG data"
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert staff.get(f"/requests/REQ-999999/attachments/{link.rsplit('/', 1)[1]}").status_code == 404


def test_the_form_speaks_english_when_the_desk_does(sqlite_url):
    app = make_app(sqlite_url, DEFAULT_LANGUAGE="en")
    try:
        prepare(app)
        client = app.test_client()
        assert "New request" in client.get("/request/new").get_data(as_text=True)
        page = submit(client, email="nope").get_data(as_text=True)
        assert "Enter a valid e-mail address, e.g. name@example.com." in page
    finally:
        app.extensions["db_engine"].dispose()
