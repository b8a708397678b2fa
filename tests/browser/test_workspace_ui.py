"""Issue 20 in a real browser (Debian Chromium): words not codes, the day's task list, pickers,
staff intake with live lookup, the conversation with delivery states, reports with history,
diagram zoom, and the phone width. Screenshots at 1400 and 390 px go to tests/artifacts/.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from desk.models import Notification
from engine.store import UserTask
from tests.browser.helpers import login, screenshot
from web.demo_history import seed_history

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect
WIDE, PHONE = {"width": 1400, "height": 900}, {"width": 390, "height": 844}
RAW = re.compile(r"\b(in_progress|Task_[A-Z]\w+|service_request|service_task_called|field_task_started)\b")


@pytest.fixture(scope="module")
def desk_url(live_app, live_server):
    """The live demo with three months of closed history, as `flask --app web demo` leaves it."""
    with live_app.extensions["sessions"]() as session, session.begin():
        seed_history(session, live_app.extensions["runtime"].now())
    return live_server


def both_widths(page, name: str) -> None:
    for label, size in (("1400", WIDE), ("390", PHONE)):
        page.set_viewport_size(size)
        screenshot(page, f"i20_{name}_{label}")
    page.set_viewport_size(WIDE)


def no_page_overflow(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, f"{page.url} is {width}px wide at phone width"


def test_pages_read_in_words_at_both_widths(desk_url, page):
    login(page, desk_url, "manager")
    for name, path in (
        ("tasks_all", "/tasks/?scope=all"),
        ("requests", "/requests/"),
        ("request_card", "/requests/REQ-000001"),
        ("reports", "/reports/"),
        ("processes", "/processes/"),
    ):
        page.goto(f"{desk_url}{path}")
        text = page.locator("main").inner_text()
        assert not RAW.findall(text), f"{path}: {RAW.findall(text)}"
        both_widths(page, name)
        page.set_viewport_size(PHONE)
        no_page_overflow(page)
        header = page.locator("header.top").bounding_box()
        assert header["height"] < 140, f"header wraps badly at 390 px on {path}"
        page.set_viewport_size(WIDE)
    assert "Москва, UTC+03:00" in page.locator("#time-zone").inner_text()


def test_request_numbers_do_not_wrap(desk_url, page):
    login(page, desk_url, "manager")
    page.set_viewport_size(PHONE)
    page.goto(f"{desk_url}/requests/")
    cell = page.locator("#request-list tbody tr td.nowrap a").first
    box = cell.bounding_box()
    assert box["height"] < 30, "REQ-000014 must stay on one line"


def test_dispatcher_picks_from_eligible_people_nothing_preselected(desk_url, live_app, page):
    login(page, desk_url, "dispatcher")
    assert "Задачи моих групп" in page.locator(".tabs a.on").inner_text(), "lands where the work is"
    due = page.locator("#task-list td.due").first.inner_text()
    assert "осталось" in due or "просрочено" in due
    both_widths(page, "tasks_dispatcher")
    page.locator("#task-list tbody a").first.click()
    page.click("button:has-text('Взять')")
    # count() does not wait: let the claimed task's page load before reading its picker
    page.locator("select[name=executor]").wait_for()
    options = page.locator("select[name=executor] option")
    values = [options.nth(i).get_attribute("value") for i in range(options.count())]
    assert values[0] == "" and sorted(values[1:]) == ["executor", "executor2"]
    assert page.locator("select[name=executor]").input_value() == ""
    assert page.locator("select[name=to] option").count() == 1  # only the placeholder: no other dispatcher
    both_widths(page, "task_dispatch_picker")
    page.select_option("select[name=executor]", "executor")
    page.click("form.task-form button.primary")
    assert "Задача завершена." in page.locator(".flash").inner_text()


def test_executor_completes_a_task_at_phone_width(desk_url, live_app, page):
    with live_app.extensions["sessions"]() as session:
        task = session.scalars(
            select(UserTask).where(
                UserTask.element_id == "Task_Resolve",
                UserTask.status == "open",
                UserTask.assignee == "executor",
            )
        ).first()
    assert task is not None, "the demo leaves work assigned to the executor"
    page.set_viewport_size(PHONE)
    login(page, desk_url, "executor")
    no_page_overflow(page)
    screenshot(page, "i20_executor_tasks_390")
    page.goto(f"{desk_url}/tasks/{task.id}")
    no_page_overflow(page)
    page.fill("textarea[name=resolution], input[name=resolution]", "Заменили картридж, печать проверена.")
    page.check("input[name=done]")
    screenshot(page, "i20_executor_task_390")
    page.click("form.task-form button.primary")
    assert "Задача завершена." in page.locator(".flash").inner_text()
    page.goto(f"{desk_url}/requests/{task.business_key}")
    no_page_overflow(page)
    screenshot(page, "i20_executor_request_card_390")


def test_operator_registers_a_call_with_live_lookup_and_category(desk_url, page):
    login(page, desk_url, "operator")
    page.click("#nav-new-request")
    page.fill("#contact-search", "8 916 123-45-67")
    page.locator("#contact-suggestions button").first.click()
    assert page.locator("#phone").input_value() == "+79161234567"
    page.fill("#subject", "Не печатает принтер")
    page.fill("#body", "Горит ошибка замятия бумаги")
    expect(page.locator("#category-label")).to_have_text("Принтеры и МФУ")
    both_widths(page, "intake_new")
    page.click("#intake-form button.primary")
    assert re.search(r"/requests/REQ-\d+$", page.url)
    assert "Телефон" in page.locator("#summary").inner_text()


def test_operator_reply_is_in_the_thread_and_the_outbox_counts_it(desk_url, live_app, page):
    login(page, desk_url, "operator")
    page.goto(f"{desk_url}/requests/REQ-000001")
    page.fill("#reply-form textarea", "Приедем завтра к 10:00.")
    page.click("#reply-form button")
    entry = page.locator("#thread li[data-delivery]", has_text="Приедем завтра к 10:00.")
    expect(entry).to_have_count(1)
    assert "В очереди" in entry.inner_text()
    both_widths(page, "conversation_queued")
    login(page, desk_url, "admin")
    page.goto(f"{desk_url}/admin/outbox/")
    with live_app.extensions["sessions"]() as session:
        pending = len(session.scalars(select(Notification.id).where(Notification.status == "pending")).all())
    assert page.locator("#outbox-waiting tr[data-status=pending]").count() == min(pending, 200)
    assert page.locator("[data-status=pending] + .count").first.inner_text() == str(pending)
    assert page.locator("#outbox-clear").count() == 0
    both_widths(page, "outbox")


def test_reports_have_shape_and_the_diagram_zooms(desk_url, page):
    login(page, desk_url, "manager")
    page.goto(f"{desk_url}/reports/")
    assert page.locator("svg.chart").count() >= 5
    assert page.locator("#trend-table tbody tr").count() >= 12  # a quarter, per week
    both_widths(page, "reports_history")
    page.goto(f"{desk_url}/processes/")
    page.locator("#definitions tr[data-definition^='service_request:'] a").first.click()
    page.locator(".diagram .bpmn-heat").first.wait_for()  # the heat map paints where tasks wait
    svg = page.locator(".diagram svg").first
    before = svg.get_attribute("viewBox")
    page.click(".zoombar .zoom-in")
    assert svg.get_attribute("viewBox") != before
    both_widths(page, "definition_heat_map")
