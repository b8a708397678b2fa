"""A request handled end to end by bpmn/service_request.bpmn with real handlers, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, select

from desk.models import Notification, Request, StatusChange
from engine.forms import FormValidationError
from engine.store import HistoryEvent, Instance
from engine.tasklist import TaskQuery, query_tasks
from tests.conftest import MONDAY_10
from web.intake import open_request


def runtime_of(app):
    return app.extensions["runtime"]


def open_task(app, request: Request, element_id: str, **query):
    with app.extensions["sessions"]() as session:
        page = query_tasks(
            session, TaskQuery(everything=True, business_key=request.number, element_id=element_id, **query)
        )
    assert page.tasks, f"no open {element_id} task for {request.number}"
    return page.tasks


def reload(app, request_id: int) -> Request:
    with app.extensions["sessions"]() as session:
        return session.get(Request, request_id)


def history(app, request: Request) -> list[str]:
    with app.extensions["sessions"]() as session:
        return list(
            session.scalars(
                select(HistoryEvent.element_id)
                .where(HistoryEvent.instance_id == request.instance_id, HistoryEvent.element_id.is_not(None))
                .order_by(HistoryEvent.id)
            )
        )


def at(app, when: datetime) -> None:
    runtime_of(app).clock.now = when


def test_purchase_is_classified_dispatched_approved_by_two_worked_and_closed(desk):
    request = open_request(
        channel="email",
        subject="Купить новый монитор 27 дюймов",
        body="Прошу закупить монитор для дизайнера, старый сломался.",
        requester_email="ivan.petrov@romashka.example.ru",
    )
    request = reload(desk, request.id)
    assert request.category == "purchases" and request.resolve_by is not None
    [dispatch] = open_task(desk, request, "Task_Dispatch")
    assert dispatch.candidate_groups == ["dispatchers"]

    at(desk, MONDAY_10 + timedelta(minutes=10))
    runtime_of(desk).complete(dispatch.id, "dispatcher", {"executor": "executor2"})
    request = reload(desk, request.id)
    assert request.status == "assigned" and request.pickup_minutes == 10 and request.pickup_late is False

    approvals = open_task(desk, request, "Task_Approve")
    assert sorted(t.assignee for t in approvals) == ["approver", "approver2"]
    for task in approvals:
        runtime_of(desk).complete(task.id, task.assignee, {"approved": True})

    [work] = open_task(desk, request, "Task_Resolve")
    assert work.assignee == "executor2"
    assert reload(desk, request.id).status == "in_progress"
    at(desk, MONDAY_10 + timedelta(hours=3, minutes=40))
    runtime_of(desk).complete(work.id, "executor2", {"resolution": "Монитор выдан", "done": True})

    request = reload(desk, request.id)
    assert request.status == "done"
    assert request.processing_minutes == 210 and request.processing_bucket == "3 – 8 h"
    assert request.sla_met is True
    assert request.created_at == MONDAY_10  # never altered
    steps = history(desk, request)
    for element in (
        "Task_Classify",
        "Task_Sla",
        "Task_Route",
        "Task_Dispatch",
        "Task_MarkAssigned",
        "Task_Approve",
        "Task_CreateTask",
        "Task_Resolve",
    ):
        assert element in steps, f"{element} missing from the history"
    with desk.extensions["sessions"]() as session:
        assert session.get(Instance, request.instance_id).status == "completed"
        sent = session.scalars(
            select(Notification.template).where(Notification.request_id == request.id)
        ).all()
        assert {"task_assigned", "request_resolved"} <= set(sent)
        stages = session.scalars(
            select(StatusChange.to_status)
            .where(StatusChange.request_id == request.id)
            .order_by(StatusChange.id)
        ).all()
        assert stages == ["assigned", "in_progress", "done"]


def test_rejection_needs_a_comment_and_closes_the_request_as_rejected(desk):
    request = open_request(
        channel="web",
        subject="Нужен доступ к общей папке для стажёра",
        body="Прошу предоставить доступ к папке отдела продаж.",
        requester_email="s.smirnova@romashka.example.ru",
    )
    request = reload(desk, request.id)
    [dispatch] = open_task(desk, request, "Task_Dispatch")
    runtime_of(desk).complete(dispatch.id, "dispatcher", {"executor": "executor"})
    first = open_task(desk, request, "Task_Approve")[0]
    with pytest.raises(FormValidationError) as err:
        runtime_of(desk).complete(first.id, first.assignee, {"approved": False})
    assert "comment" in err.value.errors
    runtime_of(desk).complete(
        first.id, first.assignee, {"approved": False, "comment": "Стажёрам доступ не положен"}
    )
    request = reload(desk, request.id)
    assert request.status == "rejected"
    with desk.extensions["sessions"]() as session:
        rejected = session.scalars(
            select(Notification).where(
                Notification.request_id == request.id, Notification.template == "request_rejected"
            )
        ).one()
        assert rejected.recipient == "s.smirnova@romashka.example.ru" and rejected.channel == "email"
        assert "Стажёрам доступ не положен" in rejected.body


def test_unclassified_request_is_triaged_by_an_operator(desk):
    request = open_request(
        channel="phone",
        subject="Вопрос",
        body="Добрый день, перезвоните мне, пожалуйста.",
        variables={"client_phone": "+7 903 111-22-33"},  # a known client: no card task before dispatch
    )
    request = reload(desk, request.id)
    assert request.category is None and request.status == "triage"
    [triage] = open_task(desk, request, "Task_Triage")
    assert triage.candidate_groups == ["operators"]
    runtime_of(desk).complete(triage.id, "operator", {"category": "network", "priority": "high"})
    request = reload(desk, request.id)
    assert request.category == "network" and request.priority == "high" and request.status == "new"
    assert request.resolve_by is not None
    assert open_task(desk, request, "Task_Dispatch")


def test_overdue_request_is_escalated_to_the_manager(desk):
    request = open_request(
        channel="email",
        subject="Не работает интернет",
        body="С утра нет интернета, сеть не работает.",
        requester_email="ivan.petrov@romashka.example.ru",
        priority="high",
    )
    [dispatch] = open_task(desk, reload(desk, request.id), "Task_Dispatch")
    runtime_of(desk).complete(dispatch.id, "dispatcher", {"executor": "executor"})
    request = reload(desk, request.id)
    runtime_of(desk).fire_due_timers(request.resolve_by - timedelta(minutes=1))
    assert not reload(desk, request.id).escalated, "not overdue a minute before the deadline"
    at(desk, request.resolve_by + timedelta(minutes=1))
    runtime_of(desk).fire_due_timers()
    request = reload(desk, request.id)
    assert request.escalated
    [review] = open_task(desk, request, "Task_ManagerReview")
    assert review.candidate_groups == ["managers"]
    assert open_task(desk, request, "Task_Resolve"), "the executor keeps working (non-interrupting timer)"
    with desk.extensions["sessions"]() as session:
        assert session.scalars(
            select(Notification).where(
                Notification.recipient == "manager", Notification.template == "request_overdue"
            )
        ).all()


def test_request_card_and_instance_page_show_where_the_process_stands(desk):
    import re

    request = open_request(
        channel="web",
        subject="Не печатает принтер",
        body="Принтер зажевал бумагу.",
        requester_email="s.smirnova@romashka.example.ru",
    )
    client = desk.test_client()
    form = client.get("/login")
    token = re.search(rb'name="csrf_token" value="([^"]+)"', form.data).group(1).decode()
    client.post("/login", data={"username": "dispatcher", "password": "demo", "csrf_token": token})
    card = client.get(f"/requests/{request.number}")
    assert card.status_code == 200 and request.number.encode() in card.data
    page = client.get(f"/processes/instances/{reload(desk, request.id).instance_id}")
    assert page.status_code == 200 and b"<svg" in page.data
    assert re.search(rb'<g class="[^"]*active[^"]*" data-element-id="Task_Dispatch"', page.data)


def test_a_user_in_no_group_sees_only_tasks_offered_to_them_by_name(desk):
    """No groups is an empty IN on every database (PostgreSQL refused the old "\\x00" stand-in)."""
    open_request(channel="web", subject="Не работает принтер", requester_email="a@example.org")
    with desk.extensions["sessions"]() as session:
        everything = query_tasks(session, TaskQuery(everything=True)).tasks
        lonely = query_tasks(session, TaskQuery(user="nobody", groups=[])).tasks
        dispatcher = query_tasks(session, TaskQuery(user="dispatcher", groups=["dispatchers"])).tasks
    assert everything and lonely == [] and dispatcher


def test_intake_records_the_instance_on_the_request_in_the_start_s_own_transaction(desk):
    """The request names its instance exactly when the instance exists: the link is written by
    the transaction that starts the process, and the request returned is as the first step's
    handlers left it (classified, with its SLA)."""
    request = open_request(
        channel="email",
        subject="Купить новый монитор 27 дюймов",
        body="Прошу закупить монитор для дизайнера, старый сломался.",
        requester_email="ivan.petrov@romashka.example.ru",
    )
    assert request.instance_id is not None
    assert (request.category, request.resolve_by is not None) == ("purchases", True)
    stored = reload(desk, request.id)
    assert (stored.instance_id, stored.category) == (request.instance_id, "purchases")
    with desk.extensions["sessions"]() as session:
        assert session.get(Instance, request.instance_id).business_key == request.number


def test_a_new_request_commits_two_writing_transactions_the_request_and_its_process(desk):
    """Storing the request, then the start with everything up to the first wait state and the
    request's link to its instance; the link was a third transaction of its own."""
    bind = desk.extensions["sessions"].kw["bind"]
    committed: list[int] = []

    def statement(conn, cursor, statement, params, context, executemany) -> None:
        if statement.split()[0] in ("INSERT", "UPDATE", "DELETE"):
            conn.info["wrote"] = True

    def commit(conn) -> None:
        if conn.info.pop("wrote", False):
            committed.append(1)

    def rollback(conn) -> None:
        conn.info.pop("wrote", None)

    listeners = [("before_cursor_execute", statement), ("commit", commit), ("rollback", rollback)]
    for name, fn in listeners:
        event.listen(bind, name, fn)
    try:
        request = open_request(channel="web", subject="Не работает интернет", body="Нет интернета на этаже.")
    finally:
        for name, fn in listeners:
            event.remove(bind, name, fn)
    assert request.instance_id is not None
    assert len(committed) == 2


def test_a_process_that_cannot_start_leaves_the_request_without_an_instance(desk):
    from engine.errors import DefinitionNotFoundError

    with pytest.raises(DefinitionNotFoundError):
        open_request(channel="web", subject="Не работает интернет", process_key="no_such_process")
    with desk.extensions["sessions"]() as session:
        orphan = session.scalars(select(Request).order_by(Request.id.desc())).first()
        assert orphan.subject == "Не работает интернет" and orphan.instance_id is None
        assert session.scalars(select(Instance).where(Instance.business_key == orphan.number)).first() is None
