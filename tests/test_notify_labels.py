"""Notification texts name the category, priority and status in words, in the reader's language."""

from __future__ import annotations

from desk import notify

PAYLOAD = {
    "number": "REQ-000042",
    "subject": "Не печатает принтер",
    "status": "in_progress",
    "category": "printer",
    "priority": "high",
    "assignee_name": "Иван Исполнителев",
    "resolve_by": None,
}
WORDING = ("{{ number }}: {{ category }}, {{ priority }}", "Статус: {{ status }} ({{ status_code }}).")


def test_an_admins_wording_gets_words_not_codes_in_russian():
    subject, body = notify.render("task_assigned", "ru", PAYLOAD, {("task_assigned", "ru"): WORDING})
    assert subject == "REQ-000042: Принтеры и МФУ, Высокий"
    assert body == "Статус: В работе (in_progress)."


def test_an_english_reader_gets_english_words():
    wording = {("task_assigned", "en"): WORDING}
    subject, body = notify.render("task_assigned", "en", PAYLOAD, wording)
    assert subject == "REQ-000042: Printers and MFPs, High"
    assert body == "Статус: In progress (in_progress)."
