"""The staff UI in a real browser: approvals, dispatching, reports, and what a user may not open.

Every test saves screenshots of the pages it visits under tests/artifacts/.
"""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from engine.store import UserTask
from tests.browser.helpers import login, screenshot

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


def _open_task_ids(live_app, element_id: str) -> list[str]:
    with live_app.extensions["sessions"]() as session:
        return list(
            session.scalars(
                select(UserTask.id)
                .where(UserTask.element_id == element_id, UserTask.status == "open")
                .order_by(UserTask.created_at)
            )
        )


def test_approver_must_comment_a_rejection_then_approves(live_server, live_app, page):
    with live_app.extensions["sessions"]() as session:
        # The seed casts one vote on some requests; take an approver who still has one open.
        approver = session.scalars(
            select(UserTask.assignee).where(
                UserTask.element_id == "Task_Approve",
                UserTask.status == "open",
                UserTask.assignee.is_not(None),
            )
        ).first()
    assert approver is not None, "the demo seed left no approval open"
    login(page, live_server, approver)
    screenshot(page, "tasks_mine_approver")
    page.click("#task-list a:has-text('Согласовать обращение')")
    task_url = page.url
    screenshot(page, "task_approval")

    page.click("button[value=reject]")
    error = page.locator(".field-error")
    assert error.inner_text() == "Чтобы отклонить, напишите комментарий."
    screenshot(page, "task_approval_reject_needs_comment")
    task_id = task_url.rsplit("/", 1)[1]
    with live_app.extensions["sessions"]() as session:
        assert session.get(UserTask, task_id).status == "open"  # the refused rejection changed nothing

    page.goto(task_url)
    page.click("button[value=approve]")
    assert page.url.endswith("/tasks/")
    assert "Задача завершена." in page.locator(".flash").inner_text()
    with live_app.extensions["sessions"]() as session:
        done = session.get(UserTask, task_id)
        assert (done.status, done.completed_by) == ("completed", approver)

    page.goto(task_url)  # opening it again says it is done, it is not an error page
    assert "уже завершил" in page.locator(".flash.error").inner_text()
    screenshot(page, "task_completed_meanwhile")


def test_dispatcher_assigns_an_executor(live_server, live_app, page):
    before = _open_task_ids(live_app, "Task_Dispatch")
    assert before, "the demo seed leaves requests waiting for a dispatcher"
    login(page, live_server, "dispatcher")
    page.click(".tabs a:has-text('Задачи моих групп')")
    expect(page.locator("#task-list")).to_have_count(1)
    screenshot(page, "tasks_groups_dispatcher")
    page.goto(f"{live_server}/tasks/{before[0]}")
    page.select_option("select[name=executor]", "executor2")
    screenshot(page, "task_dispatch")
    page.click("form.task-form button.primary")
    assert "Задача завершена." in page.locator(".flash").inner_text()
    assert before[0] not in _open_task_ids(live_app, "Task_Dispatch")
    with live_app.extensions["sessions"]() as session:
        assert session.get(UserTask, before[0]).completed_by == "dispatcher"


def test_manager_opens_the_processing_report_and_downloads_csv(live_server, page):
    login(page, live_server, "manager")
    page.click("nav a:has-text('Отчёты')")
    page.locator("svg.chart").nth(4).wait_for()  # count() does not wait for the page the click opens
    screenshot(page, "report_processing")
    with page.expect_download() as info:
        page.click("#csv")
    download = info.value
    assert download.suggested_filename == "processing-all.csv"
    rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8-sig").read())))
    assert rows[0][:3] == ["Номер", "Категория", "Исполнитель"]  # the manager reads Russian
    assert all(row[0].startswith("REQ-") for row in rows[1:])


def test_user_of_another_group_gets_403_on_the_task(live_server, live_app, page):
    dispatch = _open_task_ids(live_app, "Task_Dispatch")[0]
    login(page, live_server, "operator")
    response = page.goto(f"{live_server}/tasks/{dispatch}")
    assert response.status == 403
    assert "403" in page.locator("h1").inner_text()
    screenshot(page, "task_403")


def test_main_pages_render_for_screenshots(live_server, page):
    login(page, live_server, "admin")
    for name, path in (
        ("tasks_all_admin", "/tasks/?scope=all"),
        ("requests", "/requests/"),
        ("request_card", "/requests/REQ-000001"),
        ("admin_index", "/admin/"),
        ("admin_users", "/admin/users"),
        ("admin_calendar", "/admin/calendars/support"),
        ("admin_sla", "/admin/sla"),
        ("admin_templates", "/admin/templates"),
        ("admin_tokens", "/admin/tokens"),
    ):
        response = page.goto(f"{live_server}{path}")
        assert response.status == 200, path
        screenshot(page, name)
    page.goto(f"{live_server}/admin/dictionary")
    page.fill("#try input[name=subject]", "Не печатает принтер")
    page.click("#try button")
    assert page.locator("#verdict tr.winner td").first.inner_text() == "printer"
    screenshot(page, "admin_dictionary_try")
