"""The notify topic: one row per recipient and channel, in-app rows written delivered, the recipient's
ticked channels applied, and a re-run job adds nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import event, select

from desk import crm
from desk.models import Notification, User
from desk.preferences import save_preferences
from engine.handlers import JobContext
from handlers import notify as notify_topic
from handlers._common import DeskResources
from web.demo import create_user

T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def _context(app, job_id: int) -> JobContext:
    return JobContext(
        job_id=job_id,
        instance_id="i-1",
        business_key=None,
        element_id="Task_NotifyAssigned",
        topic="notify",
        attempt=1,
        now=T0,
        resources=DeskResources(app.extensions["sessions"]),
    )


def _rows(app) -> list[tuple[str, str, str, str]]:
    with app.extensions["sessions"]() as session:
        return [
            (r.recipient, r.channel, r.status, r.body)
            for r in session.scalars(select(Notification).order_by(Notification.id))
        ]


def test_assigned_notice_reaches_executor_and_requester_once(any_app):
    sessions = any_app.extensions["sessions"]
    with any_app.app_context():
        create_user("executor", "demo", roles=["executor"], full_name="Иван Исполнителев")
    with sessions() as session, session.begin():
        request = crm.create_request(
            session, now=T0, channel="web", subject="Принтер", requester_email="client@example.com"
        )
        request.assignee = "executor"
        request_id = request.id
    variables = {"template": "task_assigned", "to": "executor,requester", "request_id": request_id}

    seen: list[str] = []
    event.listen(any_app.extensions["db_engine"], "before_cursor_execute", lambda *a: seen.append(a[2]))
    assert notify_topic.handle(variables, _context(any_app, 7)) == {"notified": 2}
    # Nothing was left to deliver (in-app written delivered, e-mail off): no read after the commit.
    assert not [s for s in seen if s.startswith("SELECT notification.id \n")]
    assert notify_topic.handle(variables, _context(any_app, 7)) == {"notified": 2}  # the job re-run

    rows = _rows(any_app)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("executor", "in_app", "sent"),
        ("client@example.com", "email", "pending"),
    ]
    assert all("Иван Исполнителев" in body for *_, body in rows)
    with sessions() as session:
        in_app = session.scalars(select(Notification).where(Notification.channel == "in_app")).one()
        assert (in_app.sent_at, in_app.attempts) == (T0, 0)


def test_the_executors_ticked_channels_replace_in_app(any_app):
    sessions = any_app.extensions["sessions"]
    with any_app.app_context():
        create_user("executor", "demo", roles=["executor"], email="executor@desk.example.com")
    with sessions() as session, session.begin():
        user = session.scalars(select(User).where(User.username == "executor")).one()
        save_preferences(session, user, {"task_assigned": ["email"]})
        request = crm.create_request(session, now=T0, channel="web", subject="Принтер")
        request.assignee = "executor"
        request_id = request.id
    variables = {"template": "task_assigned", "to": "executor", "request_id": request_id}

    notify_topic.handle(variables, _context(any_app, 8))
    notify_topic.handle(variables, _context(any_app, 8))

    assert [(r[0], r[1], r[2]) for r in _rows(any_app)] == [
        ("executor", "in_app", "skipped"),
        ("executor@desk.example.com", "email", "pending"),
    ]
