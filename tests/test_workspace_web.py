"""The day's work and the pickers, through the Flask test client on the seeded demo desk.

* the task list lands where a person's work is, counts every tab, shows the SLA deadline with the
  working time left and the request's priority as a word, and sorts the nearest deadline first;
* dispatch and delegate offer only the active people of the right group, with their open-task
  counts and nothing preselected, and the server refuses anyone else.
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update

from desk.models import Request, User
from engine.store import UserTask
from tests.conftest import MONDAY_10
from tests.web_helpers import post, seeded_fixture, staff_client  # noqa: F401
from web.demo import create_user

TASK_LINK = re.compile(r'href="/tasks/([0-9a-f-]{36})"')
OPTION = re.compile(r'<option value="([^"]*)"\s*(selected)?\s*>([^<]*)</option>')


def open_tasks(app, element_id: str) -> list[UserTask]:
    with app.extensions["sessions"]() as session:
        return list(
            session.scalars(
                select(UserTask)
                .where(UserTask.element_id == element_id, UserTask.status == "open")
                .order_by(UserTask.created_at, UserTask.id)
            )
        )


def select_options(page: str, name: str) -> list[tuple[str, bool, str]]:
    found = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert found, f"no <select name={name}> on the page"
    return [(value, bool(sel), text) for value, sel, text in OPTION.findall(found.group(1))]


def test_dispatcher_lands_on_the_group_queue_with_counts(seeded):
    dispatcher = staff_client(seeded, "dispatcher")
    page = dispatcher.get("/tasks/").get_data(as_text=True)
    offered = len(open_tasks(seeded, "Task_Dispatch"))
    assert offered
    assert re.search(rf'class="on"[^>]*>Задачи моих групп <span class="count">{offered}</span>', page)
    assert 'Мои задачи <span class="count">0</span>' in page
    assert len(set(TASK_LINK.findall(page))) == offered


def test_due_column_shows_the_sla_deadline_time_left_and_priority_word(seeded):
    dispatch = open_tasks(seeded, "Task_Dispatch")
    with seeded.extensions["sessions"]() as session:
        resolve_by = {
            r.number: r.resolve_by for r in session.execute(select(Request.number, Request.resolve_by))
        }
        priorities = dict(session.execute(select(Request.number, Request.priority)).all())
    assert all(t.due is not None for t in dispatch), "dispatch tasks carry their request's SLA deadline"
    assert all(t.due == resolve_by[t.business_key] for t in dispatch)
    rank = {"high": 80, "normal": 50, "low": 20}
    assert all(t.priority == rank[priorities[t.business_key]] for t in dispatch)
    page = staff_client(seeded, "dispatcher").get("/tasks/?scope=groups").get_data(as_text=True)
    words = {"high": "Высокий", "normal": "Обычный", "low": "Низкий"}
    assert "осталось" in page and ">50<" not in page
    assert all(words[priorities[t.business_key]] in page for t in dispatch)
    # Default order: the nearest deadline first.
    order = TASK_LINK.findall(page)
    due_of = {t.id: t.due for t in dispatch}
    assert [due_of[i] for i in order] == sorted(due_of[i] for i in order)


def test_a_deadline_near_or_past_is_coloured(seeded):
    first, second = open_tasks(seeded, "Task_Dispatch")[:2]
    with seeded.extensions["sessions"]() as session, session.begin():
        session.execute(
            update(UserTask).where(UserTask.id == first.id).values(due=MONDAY_10 + timedelta(minutes=30))
        )
        session.execute(
            update(UserTask).where(UserTask.id == second.id).values(due=MONDAY_10 - timedelta(hours=1))
        )
    page = staff_client(seeded, "dispatcher").get("/tasks/?scope=groups").get_data(as_text=True)
    rows = re.findall(r'<tr class="(\w*)">\s*<td><a href="/tasks/([0-9a-f-]{36})"', page)
    assert rows[0] == ("overdue", second.id) and rows[1] == ("soon", first.id)


def test_dispatch_offers_only_active_executors_with_their_load_and_nothing_preselected(seeded):
    with seeded.app_context():
        create_user("retired", "pw-retired", roles=["executor"], groups=["executors"])
    with seeded.extensions["sessions"]() as session, session.begin():
        session.execute(update(User).where(User.username == "retired").values(active=False))
    dispatch = open_tasks(seeded, "Task_Dispatch")[0]
    dispatcher = staff_client(seeded, "dispatcher")
    post(dispatcher, f"/tasks/{dispatch.id}/claim")
    page = dispatcher.get(f"/tasks/{dispatch.id}").get_data(as_text=True)
    options = select_options(page, "executor")
    assert options[0][0] == "" and not any(selected for _, selected, _ in options)
    assert {value for value, _, _ in options[1:]} == {"executor", "executor2"}
    assert any("Евгений Исполнителев · " in text and "открытых задач" in text for _, _, text in options)

    for outsider in ("admin", "retired", "ghost"):
        refused = post(dispatcher, f"/tasks/{dispatch.id}/complete", {"executor": outsider})
        assert refused.status_code == 400, outsider
        assert "Выберите человека из списка" in refused.get_data(as_text=True)
    with seeded.extensions["sessions"]() as session:
        assert session.get(UserTask, dispatch.id).status == "open"
    assert post(dispatcher, f"/tasks/{dispatch.id}/complete", {"executor": "executor2"}).status_code == 302


def test_delegate_offers_only_the_tasks_group_and_refuses_others(seeded):
    with seeded.app_context():
        create_user("dispatcher2", "pw-dispatcher2", roles=["dispatcher"], groups=["dispatchers"])
    dispatch = open_tasks(seeded, "Task_Dispatch")[0]
    dispatcher = staff_client(seeded, "dispatcher")
    post(dispatcher, f"/tasks/{dispatch.id}/claim")
    options = select_options(dispatcher.get(f"/tasks/{dispatch.id}").get_data(as_text=True), "to")
    assert [value for value, _, _ in options] == ["", "dispatcher2"]
    assert not any(selected for _, selected, _ in options)
    assert post(dispatcher, f"/tasks/{dispatch.id}/delegate", {"to": "admin"}).status_code == 400
    assert post(dispatcher, f"/tasks/{dispatch.id}/delegate", {"to": "executor"}).status_code == 400
    with seeded.extensions["sessions"]() as session:
        assert session.get(UserTask, dispatch.id).assignee == "dispatcher"
    assert post(dispatcher, f"/tasks/{dispatch.id}/delegate", {"to": "dispatcher2"}).status_code == 302
