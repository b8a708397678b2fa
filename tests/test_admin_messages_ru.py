"""Admin messages that carry names and values read in Russian, with words for codes (issue 20)."""

from __future__ import annotations

from tests.web_helpers import post, seeded_fixture, staff_client  # noqa: F401


def admin_post(client, path: str, data: dict):
    return post(client, path, data, token_from="/admin/")


def page_after(client, response) -> str:
    return client.get(response.headers["Location"]).get_data(as_text=True)


def test_sla_messages_and_help_are_russian_with_words_for_codes(seeded):
    admin = staff_client(seeded, "admin")
    sla_page = admin.get("/admin/sla").get_data(as_text=True)
    assert "Срок решения — рабочее время выбранного календаря" in sla_page

    bad_limit = admin_post(
        admin, "/admin/sla", {"category": "printer", "priority": "high", "resolve_within": "2 hours"}
    )
    assert "Срок 2 hours — не длительность" in page_after(admin, bad_limit)

    no_calendar = admin_post(
        admin,
        "/admin/sla",
        {"category": "printer", "priority": "high", "resolve_within": "4h", "calendar": "moon"},
    )
    assert "Нет календаря moon; сначала создайте его" in page_after(admin, no_calendar)

    saved = admin_post(
        admin,
        "/admin/sla",
        {"category": "printer", "priority": "high", "resolve_within": "4h", "calendar": "support"},
    )
    text = page_after(admin, saved)
    assert "SLA для «Принтеры и МФУ» / «Высокий» сохранён: 4h по календарю" in text
    assert "<td>Принтеры и МФУ</td><td>Высокий</td>" in text


def test_error_bodies_with_a_name_in_them_are_russian(seeded):
    admin = staff_client(seeded, "admin")
    missing = admin.get("/admin/users/nobody")
    assert missing.status_code == 404
    assert "Нет пользователя nobody." in missing.get_data(as_text=True)
