"""Messages with values in them, shown to staff by the process, request, notification and mail-API
doors and by SLA/outbox errors, read in the user's language (issue 20)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select, update

from desk import sla
from desk.models import User
from desk.outbox import UnknownChannelError
from engine.store import Instance
from tests.web_helpers import csrf_token, post, seeded_fixture, staff_client  # noqa: F401
from web.i18n import MESSAGES, error_text


def test_request_and_notification_errors_name_the_value_in_russian(seeded):
    operator = staff_client(seeded, "operator")
    missing = operator.get("/requests/REQ-999999")
    assert missing.status_code == 404
    assert "Нет обращения REQ-999999; найдите его в списке обращений." in missing.get_data(as_text=True)
    attachment = operator.get("/requests/REQ-000001/attachments/777")
    assert "У обращения REQ-000001 нет вложения 777." in attachment.get_data(as_text=True)
    bad_page = operator.get("/requests/?page=two")
    assert "Номер страницы должен быть целым числом." in bad_page.get_data(as_text=True)

    read = post(operator, "/notifications/read", {"id": "abc"})
    assert read.status_code == 400
    assert "id должен быть номером уведомления, а не abc." in read.get_data(as_text=True)
    settings = post(operator, "/settings/notifications", {"no_such_event:in_app": "on"})
    text = settings.get_data(as_text=True)
    assert settings.status_code == 400 and "Неизвестное событие no_such_event в форме" in text
    assert "task_assigned" not in text  # the known events are listed by name, not by code
    channel = post(operator, "/settings/notifications", {"task_assigned:pigeon": "on"})
    assert "Неизвестный канал уведомлений &#39;pigeon&#39;" in channel.get_data(as_text=True)


def test_process_flashes_name_the_instance_in_russian(seeded):
    analyst = staff_client(seeded, "analyst")
    refused = analyst.post(
        "/processes/deploy",
        data={
            "csrf_token": csrf_token(analyst, "/processes/deploy"),
            "files": (io.BytesIO(b"x"), "notes.txt"),
        },
        content_type="multipart/form-data",
    )
    assert refused.status_code == 400
    assert (
        "notes.txt: здесь можно развернуть только диаграммы .bpmn, решения .dmn и формы .form."
        in refused.get_data(as_text=True)
    )
    with seeded.extensions["sessions"]() as session:
        instance_id = session.scalars(select(Instance.id).where(Instance.status == "running")).first()
    cancelled = post(analyst, f"/processes/instances/{instance_id}/cancel", {}, token_from="/processes/")
    page = analyst.get(cancelled.headers["Location"]).get_data(as_text=True)
    assert f"Экземпляр {instance_id} отменён." in page


def test_english_users_read_the_same_messages_in_english(seeded):
    from web.demo import create_user

    with seeded.app_context():
        create_user("reader", "pw-reader", roles=["operator"], groups=["operators"])
    with seeded.extensions["sessions"]() as session, session.begin():
        session.execute(update(User).where(User.username == "reader").values(language="en"))
    reader = staff_client(seeded, "reader", "pw-reader")
    assert "No request REQ-999999; search the request list." in reader.get("/requests/REQ-999999").get_data(
        as_text=True
    )


def test_domain_errors_keep_english_text_and_read_russian_at_the_edge(seeded):
    no_policy = sla.NoSlaPolicyError("printer", "high", [("network", "normal")])
    assert "No SLA policy covers category 'printer'" in str(no_policy)
    with seeded.test_request_context():
        assert error_text(no_policy).startswith("Ни одна политика SLA не покрывает категорию 'printer'")
        assert error_text(UnknownChannelError("pigeon")).startswith("Неизвестный канал уведомлений 'pigeon'")
        with pytest.raises(sla.InvalidBucketsError) as bad:
            sla.bucket_labels((30, 10))
        assert error_text(bad.value) == (
            "Границы интервалов [30, 10] должны строго возрастать; отсортируйте их и уберите повторы."
        )
        assert error_text(ValueError("plain")) == "plain"
    for template in (no_policy.template, bad.value.template, UnknownChannelError("x").template):
        assert MESSAGES[template]["ru"]
