"""Words, not codes: the catalogue is complete, and the demo's pages show labels and names, not stored codes.

Every page a demo role reaches is rendered through the real app (test client, SQLite) in Russian,
and its visible text (tags and attribute values removed) is searched for the raw codes the issue
listed: statuses, categories, priorities, events, process keys, BPMN ids, history kinds, logins.
"""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from desk.models import Request
from engine.store import Instance, ProcessDefinition, UserTask
from tests.conftest import seed_desk
from tests.db_helpers import module_database_url  # noqa: F401
from tests.web_helpers import staff_client
from web import i18n, labels

ROLES = ("operator", "dispatcher", "manager", "executor", "approver", "analyst", "admin")
RAW = re.compile(
    r"\b(in_progress|printer|purchases|service_request|field_service|owner_sync|service_task_called"
    r"|task_completed|task_created|instance_started|field_task_started|task_assigned|staff_reply"
    r"|Task_[A-Z]\w+|Start_\w+|Gateway_\w+|Lane_\w+|dispatchers|executors|operators|approvers"
    r"|True|False)\b"
)
# Logins that must appear as people's names; checked where a login can only be a person.
LOGINS = re.compile(r"(?<![\w@.])(dispatcher|executor2?|approver2?|operator|manager|analyst)(?![\w@.])")
# <code> holds what is technical on purpose (process variables and their values on the instance page).
TAGS = re.compile(r"<(script|style|code)\b.*?</\1>|<[^>]+>", re.S)


def visible_text(page: bytes) -> str:
    """What a reader sees: markup and attribute values dropped, entities decoded."""
    return html.unescape(TAGS.sub(" ", page.decode()))


@pytest.fixture(scope="module")
def demo(module_database_url):  # noqa: F811
    from tests.conftest import make_app

    app = seed_desk(make_app(module_database_url))
    yield app
    app.extensions["db_engine"].dispose()


def _pages(app) -> list[str]:
    with app.extensions["sessions"]() as session:
        numbers = session.scalars(select(Request.number).order_by(Request.id)).all()
        task_ids = session.scalars(select(UserTask.id).where(UserTask.status == "open")).all()
        instances = session.scalars(select(Instance.id)).all()
        definitions = session.scalars(select(ProcessDefinition.id)).all()
    return (
        ["/tasks/?scope=mine", "/tasks/?scope=groups", "/tasks/?scope=all", "/requests/"]
        + [f"/requests/{n}" for n in numbers]
        + [f"/tasks/{t}" for t in task_ids]
        + [f"/processes/instances/{i}" for i in instances[:4]]
        + [f"/processes/definitions/{d}" for d in definitions]
        + ["/processes/", "/reports/", "/notifications/", "/notifications/settings", "/admin/outbox/"]
    )


def test_every_message_and_label_has_russian_and_english():
    missing = [text for text, tr in i18n.MESSAGES.items() if not tr.get("ru")]
    assert not missing, f"messages without Russian: {missing}"
    for name, vocabulary in labels.VOCABULARIES.items():
        for code, entry in vocabulary.items():
            assert entry.get("ru") and entry.get("en"), f"{name} label {code!r} lacks ru or en: {entry}"


def test_every_stored_vocabulary_has_labels():
    from desk.classify_dictionary import DEFAULT_DICTIONARY
    from desk.models import STATUSES
    from desk.notify import TEMPLATES
    from desk.outbox import CHANNELS, Status

    assert set(STATUSES) <= set(labels.STATUS)
    assert set(DEFAULT_DICTIONARY) <= set(labels.CATEGORY)
    assert set(TEMPLATES) <= set(labels.EVENT)
    assert set(CHANNELS) <= set(labels.CHANNEL)
    assert {s.value for s in Status} <= set(labels.DELIVERY)


def test_a_message_id_cannot_be_translated_two_ways():
    with pytest.raises(i18n.MessageConflictError, match="Name"):
        i18n._extend({"Name": {"ru": "Название"}})


def test_history_reads_as_a_sentence_with_a_person():
    line = labels.history_sentence("task_completed", "Назначить исполнителя", "Дмитрий Диспетчеров", "ru")
    assert line == "Задача «Назначить исполнителя» выполнена — Дмитрий Диспетчеров"


@pytest.mark.parametrize("role", ROLES)
def test_pages_show_words_not_codes(demo, role):
    client = staff_client(demo, role)
    shown = 0
    for path in _pages(demo):
        response = client.get(path)
        if response.status_code in (302, 403, 404, 409):
            continue
        assert response.status_code == 200, f"{path} as {role}: {response.status_code}"
        text = visible_text(response.data)
        raw = sorted(set(RAW.findall(text)))
        assert not raw, f"{path} as {role} shows raw codes {raw}"
        logins = sorted(set(LOGINS.findall(text)))
        assert not logins, f"{path} as {role} shows logins {logins}"
        shown += 1
    assert shown >= 3


def test_instance_history_names_the_task_and_the_person(demo):
    client = staff_client(demo, "manager")
    with demo.extensions["sessions"]() as session:
        instance_id = session.scalars(
            select(UserTask.instance_id).where(UserTask.element_id == "Task_Approve")
        ).first()
    text = visible_text(client.get(f"/processes/instances/{instance_id}").data)
    assert "Задача «Назначить исполнителя» выполнена — Дмитрий Диспетчеров" in text
    assert "Шаг «Определить категорию» выполнен" in text


def test_an_english_reader_gets_english_words(demo):
    from sqlalchemy import update

    from desk.models import User

    client = staff_client(demo, "manager")
    with demo.extensions["sessions"]() as session, session.begin():
        session.execute(update(User).where(User.username == "manager").values(language="en"))
    try:
        text = visible_text(client.get("/requests/").data)
        assert "Printers and MFPs" in text or "Network and internet" in text
        assert "Принтеры и МФУ" not in text and "Service desk" in text
        assert not RAW.findall(text)
    finally:
        with demo.extensions["sessions"]() as session, session.begin():
            session.execute(update(User).where(User.username == "manager").values(language="ru"))


def test_notification_texts_name_the_executor_not_the_login(demo):
    from desk.models import Notification

    with demo.extensions["sessions"]() as session:
        bodies = session.scalars(
            select(Notification.body).where(Notification.template == "task_assigned")
        ).all()
    assert bodies, "the demo assigns some requests"
    assert all("Исполнителев" in b or "Исполнителева" in b for b in bodies)
    assert not any(LOGINS.search(b) for b in bodies)
