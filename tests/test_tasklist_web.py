"""Task list, task forms, approvals, request list and card, and reports, through the Flask test client."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from desk.messages import MailMessage
from desk.models import Request
from engine.store import Instance, UserTask
from tests.conftest import MONDAY_10
from tests.web_helpers import post, seeded_fixture, staff_client  # noqa: F401
from web.demo import create_user

TASK_LINK = re.compile(r'href="/tasks/([0-9a-f-]{36})"')


def open_tasks(app, element_id: str) -> list[UserTask]:
    with app.extensions["sessions"]() as session:
        return list(
            session.scalars(
                select(UserTask)
                .where(UserTask.element_id == element_id, UserTask.status == "open")
                .order_by(UserTask.created_at, UserTask.id)
            )
        )


def task(app, task_id: str) -> UserTask:
    with app.extensions["sessions"]() as session:
        return session.get(UserTask, task_id)


def variables(app, instance_id: str) -> dict:
    with app.extensions["sessions"]() as session:
        return dict(session.get(Instance, instance_id).variables)


def approval_task(app) -> UserTask:
    """An open approval: the seed usually leaves some; if not, a purchase request is opened and dispatched."""
    existing = open_tasks(app, "Task_Approve")
    if existing:
        return existing[0]
    from web.intake import open_request

    with app.app_context():
        req = open_request(channel="web", subject="Купить новый монитор", body="Закупить монитор 27 дюймов.")
    dispatch = next(t for t in open_tasks(app, "Task_Dispatch") if t.business_key == req.number)
    app.extensions["runtime"].complete(dispatch.id, "dispatcher", {"executor": "executor"})
    return open_tasks(app, "Task_Approve")[0]


def test_rejecting_an_approval_needs_a_comment_and_changes_nothing_without_one(seeded):
    approval = approval_task(seeded)
    client = staff_client(seeded, approval.assignee)
    refused = post(client, f"/tasks/{approval.id}/complete", {"decision": "reject", "comment": "  "})
    assert refused.status_code == 400
    assert "Чтобы отклонить, напишите комментарий." in refused.get_data(as_text=True)
    assert task(seeded, approval.id).status == "open"

    rejected = post(
        client, f"/tasks/{approval.id}/complete", {"decision": "reject", "comment": "Нет бюджета"}
    )
    assert rejected.status_code == 302
    assert variables(seeded, approval.instance_id)["comment"] == "Нет бюджета"
    assert variables(seeded, approval.instance_id)["approved"] is False


def test_approving_needs_no_comment(seeded):
    approval = approval_task(seeded)
    client = staff_client(seeded, approval.assignee)
    assert post(client, f"/tasks/{approval.id}/complete", {"decision": "approve"}).status_code == 302
    assert task(seeded, approval.id).completed_by == approval.assignee


def test_a_form_post_cannot_set_variables_the_form_does_not_declare(seeded):
    dispatch = open_tasks(seeded, "Task_Dispatch")[0]
    client = staff_client(seeded, "dispatcher")
    done = post(
        client,
        f"/tasks/{dispatch.id}/complete",
        {"executor": "executor2", "needs_approval": "false", "x": "1"},
    )
    assert done.status_code == 302
    stored = variables(seeded, dispatch.instance_id)
    assert stored["executor"] == "executor2" and "x" not in stored


def test_a_task_completed_meanwhile_answers_409_with_a_message(seeded):
    dispatch = open_tasks(seeded, "Task_Dispatch")[0]
    first, second = staff_client(seeded, "dispatcher"), staff_client(seeded, "dispatcher")
    assert post(first, f"/tasks/{dispatch.id}/complete", {"executor": "executor"}).status_code == 302
    late = post(second, f"/tasks/{dispatch.id}/complete", {"executor": "executor2"})
    assert late.status_code == 409
    assert "Эту задачу уже завершил кто-то другой" in late.get_data(as_text=True)
    shown = second.get(f"/tasks/{dispatch.id}")
    assert shown.status_code == 409 and "Дмитрий Диспетчеров" in shown.get_data(as_text=True)


def test_claim_unclaim_and_delegate(seeded):
    with seeded.app_context():
        create_user("dispatcher2", "pw-dispatcher2", roles=["dispatcher"], groups=["dispatchers"])
    dispatch = open_tasks(seeded, "Task_Dispatch")[0]
    mine, other = staff_client(seeded, "dispatcher"), staff_client(seeded, "dispatcher2", "pw-dispatcher2")

    assert post(mine, f"/tasks/{dispatch.id}/claim").status_code == 302
    assert task(seeded, dispatch.id).assignee == "dispatcher"
    assert dispatch.id not in other.get("/tasks/?scope=groups").get_data(as_text=True)
    taken = post(other, f"/tasks/{dispatch.id}/complete", {"executor": "executor"})
    assert taken.status_code == 409 and "Эту задачу уже взял(а) Дмитрий Диспетчеров" in taken.get_data(
        as_text=True
    )
    assert post(other, f"/tasks/{dispatch.id}/claim").status_code == 409
    assert post(other, f"/tasks/{dispatch.id}/unclaim").status_code == 403

    assert post(mine, f"/tasks/{dispatch.id}/delegate", {"to": "nobody"}).status_code == 400
    assert post(mine, f"/tasks/{dispatch.id}/delegate", {"to": "dispatcher2"}).status_code == 302
    assert task(seeded, dispatch.id).assignee == "dispatcher2"
    assert dispatch.id in other.get("/tasks/?scope=mine").get_data(as_text=True)
    assert post(other, f"/tasks/{dispatch.id}/unclaim").status_code == 302
    assert task(seeded, dispatch.id).assignee is None


def test_tabs_count_filter_sort_and_page(seeded):
    client = staff_client(seeded, "dispatcher")
    page = client.get("/tasks/?scope=groups").get_data(as_text=True)
    offered = len(open_tasks(seeded, "Task_Dispatch"))
    assert offered and len(set(TASK_LINK.findall(page))) == offered
    assert f'Задачи моих групп <span class="count">{offered}</span>' in page

    none = client.get("/tasks/?scope=groups&process=owner_sync").get_data(as_text=True)
    assert not TASK_LINK.findall(none)
    assert client.get("/tasks/?scope=groups&priority=51").get_data(as_text=True).count(
        "/tasks/"
    ) < page.count("/tasks/")
    assert client.get("/tasks/?priority=high").status_code == 400
    assert client.get("/tasks/?due=31.12.2026").status_code == 400
    later = client.get("/tasks/?scope=groups&created=2026-11-24").get_data(as_text=True)
    assert not TASK_LINK.findall(later)
    ids = [t.id for t in open_tasks(seeded, "Task_Dispatch")]
    with seeded.extensions["sessions"]() as session, session.begin():
        for minutes, task_id in enumerate(ids):
            session.execute(
                update(UserTask)
                .where(UserTask.id == task_id)
                .values(created_at=MONDAY_10 - timedelta(minutes=minutes))
            )
    asc = TASK_LINK.findall(client.get("/tasks/?scope=groups&sort=created&dir=asc").get_data(as_text=True))
    desc = TASK_LINK.findall(client.get("/tasks/?scope=groups&sort=created&dir=desc").get_data(as_text=True))
    assert desc == ids and asc == list(reversed(ids))
    assert client.get("/tasks/?scope=all").status_code == 200  # not a manager: falls back to "mine"
    assert "All tasks" not in client.get("/tasks/?scope=all").get_data(as_text=True)


def test_everything_tab_is_for_managers_and_pages(seeded):
    manager = staff_client(seeded, "manager")
    with seeded.extensions["sessions"]() as session:
        total = len(session.scalars(select(UserTask.id).where(UserTask.status == "open")).all())
    first = manager.get("/tasks/?scope=all").get_data(as_text=True)
    assert len(set(TASK_LINK.findall(first))) == min(total, 25)
    assert f'<span class="count">{total}</span>' in first


def test_due_shows_working_time_left_and_overdue(seeded):
    dispatch = open_tasks(seeded, "Task_Dispatch")
    with seeded.extensions["sessions"]() as session, session.begin():
        # Monday 10:00: due at 12:30 is 2 h 30 min of working time away; Saturday's deadline counts
        # only Monday to Friday 09:00-18:00; one due at 09:00 today is overdue by one working hour.
        session.execute(
            update(UserTask)
            .where(UserTask.id == dispatch[0].id)
            .values(due=MONDAY_10 + timedelta(hours=2, minutes=30))
        )
        session.execute(
            update(UserTask).where(UserTask.id == dispatch[1].id).values(due=MONDAY_10 - timedelta(hours=1))
        )
    page = (
        staff_client(seeded, "dispatcher").get("/tasks/?scope=groups&sort=due&dir=asc").get_data(as_text=True)
    )
    assert "2 ч 30 мин осталось" in page
    assert "просрочено на 1 ч" in page
    overdue = staff_client(seeded, "dispatcher").get("/tasks/?scope=groups&overdue=1").get_data(as_text=True)
    assert TASK_LINK.findall(overdue) == [dispatch[1].id]


def test_request_list_searches_by_number_text_status_and_overdue(seeded):
    client = staff_client(seeded, "operator")
    by_number = client.get("/requests/?q=REQ-1").get_data(as_text=True)
    assert "REQ-000001" in by_number and "REQ-000002" not in by_number
    assert "REQ-000001" in client.get("/requests/?q=1").get_data(as_text=True)
    by_text = client.get("/requests/?q=монитор").get_data(as_text=True)
    assert "Купить новый монитор" in by_text and "принтер" not in by_text
    done = client.get("/requests/?status=done").get_data(as_text=True)
    assert 'class="status done"' in done and 'class="status new"' not in done
    with seeded.extensions["sessions"]() as session, session.begin():
        late = session.scalars(
            select(Request).where(Request.status.not_in(("done", "closed", "rejected"))).order_by(Request.id)
        ).first()
        late.resolve_by = MONDAY_10 - timedelta(hours=1)
    overdue = client.get("/requests/?overdue=1").get_data(as_text=True)
    assert late.number in overdue and overdue.count('href="/requests/REQ-') == 1


def test_request_card_shows_messages_sla_history_tasks_and_diagram(seeded):
    with seeded.extensions["sessions"]() as session, session.begin():
        req = session.scalars(select(Request).where(Request.number == "REQ-000004")).one()
        session.add_all(
            [
                MailMessage(
                    message_id="in-1@example.ru",
                    direction="in",
                    action="appended",
                    request_id=req.id,
                    subject="Re: интернет",
                    from_address="ivan.petrov@romashka.example.ru",
                    body_text="Всё ещё не работает",
                    at=MONDAY_10,
                ),
                MailMessage(
                    message_id="out-1@desk.example.com",
                    direction="out",
                    action="sent",
                    request_id=req.id,
                    subject="REQ-000004: принято",
                    from_address="desk@desk.example.com",
                    body_text="Работаем",
                    at=MONDAY_10 + timedelta(minutes=5),
                ),
            ]
        )
    page = staff_client(seeded, "operator").get("/requests/REQ-000004")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.index("Всё ещё не работает") < html.index("Работаем")  # oldest first
    assert 'class="msg in"' in html and 'class="msg out"' in html
    assert "<svg" in html  # the diagram, with where the request stands
    assert 'id="sla"' in html and "рабочие дни" in html
    assert 'id="history"' in html and "→" in html
    assert staff_client(seeded, "operator").get("/requests/REQ-999999").status_code == 404
    assert staff_client(seeded, "operator").get("/requests/nonsense").status_code == 404


def test_report_filters_dates_and_refuses_bad_ones(seeded):
    manager = staff_client(seeded, "manager")
    assert manager.get("/reports/?from=2026-11-23&to=2026-11-23&by=executor").status_code == 200
    assert manager.get("/reports/?from=yesterday").status_code == 400
    future = (
        manager.get("/reports/processing.csv?from=2027-01-01").get_data(as_text=True).strip().splitlines()
    )
    assert len(future) == 1  # the header only
    everything = manager.get("/reports/processing.csv").get_data(as_text=True).strip().splitlines()
    with seeded.extensions["sessions"]() as session:
        done = session.scalars(select(Request.number).where(Request.done_at.is_not(None))).all()
    assert len(everything) == 1 + len(done)


def test_time_in_status_counted_by_the_database_matches_the_domain_rule(seeded):
    from desk import reports as domain
    from web.views.report_queries import time_in_status

    with seeded.extensions["sessions"]() as session:
        rows = session.execute(select(Request.stage_totals).where(Request.done_at.is_not(None))).all()
        by_sql = time_in_status(session, None, None)  # every day: the counters of every done request
    expected = domain.time_in_status(rows)
    assert expected and by_sql.keys() == expected.keys()
    for status, (working, wall) in expected.items():
        assert by_sql[status] == (pytest.approx(working), pytest.approx(wall))
