"""Staff absences: what "away" means at midnight, over weekends and holidays, and everything that
picks a person respecting it (pickers, completion, hand-over, escalation, the telephony queue).

The rules are desk.absence's pure functions on the calendars desk.calendar ships; the doors are
the real ones (service layer, web pages, the telephony API, service_request.bpmn's handlers) on
SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from desk.absence import (
    Absence,
    AbsenceError,
    Period,
    absent_now,
    add_absence,
    check_absence,
    covers,
    days_period,
    on_duty,
    parse_bound,
    returns_at,
    stand_in,
    working_days_away,
)
from desk.calendar import DEFAULT_CALENDARS
from desk.models import Notification, Request
from engine.deploy import deploy
from engine.store import UserTask
from service.absences import NoSubstituteError, away_with_work, hand_over, record_absence
from service.assignees import field_candidates
from service.errors import PermissionDenied, UnknownAssigneeError
from service.permissions import Principal
from service.tasks import check_assignee, complete_task
from tests.conftest import MONDAY_10
from tests.web_helpers import post, seeded_fixture, staff_client  # noqa: F401
from web.intake import open_request

MSK = ZoneInfo("Europe/Moscow")
SUPPORT = DEFAULT_CALENDARS["support"]
MANAGER = Principal.of("manager", ["manager"], ["managers"])
DISPATCHER = Principal.of("dispatcher", ["dispatcher"], ["dispatchers"])


DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d_{topic}" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="p_{topic}" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="step" />
    <bpmn:serviceTask id="step" camunda:type="external" camunda:topic="{topic}" />
    <bpmn:sequenceFlow id="f2" sourceRef="step" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def run_process(app, topic: str, variables: dict):
    """Deploy a one-step process calling `topic` and start it with `variables`; returns the instance."""
    runtime = app.extensions["runtime"]
    deploy(
        runtime.session_factory,
        {f"{topic}.bpmn": DIAGRAM.format(topic=topic).encode()},
        known_topics=runtime.handlers.topics(),
        duplicate_filtering=True,
    )
    return runtime.start(f"p_{topic}", variables=variables)


def at(y, mo, d, h=0, mi=0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=MSK)


# ------------------------------------------------------------------------------ the rules


def test_an_absence_crossing_midnight_covers_the_night_and_ends_at_its_end():
    night = Period("executor", at(2026, 11, 23, 22), at(2026, 11, 24, 6))
    assert covers(night, at(2026, 11, 23, 23, 30)) and covers(night, at(2026, 11, 24, 0, 30))
    assert not covers(night, at(2026, 11, 24, 6)) and not covers(night, at(2026, 11, 23, 21, 59))
    assert covers(
        night, at(2026, 11, 24, 0, 30).astimezone(ZoneInfo("UTC"))
    )  # the zone of `now` is no matter


def test_leave_of_whole_days_runs_from_midnight_to_midnight_where_the_office_is():
    start, end = days_period(date(2026, 12, 12), date(2026, 12, 23), SUPPORT)
    assert (start, end) == (at(2026, 12, 12), at(2026, 12, 24))
    leave = Period("executor", start, end)
    assert covers(leave, at(2026, 12, 23, 23, 59)) and not covers(leave, at(2026, 12, 24))
    assert not covers(leave, at(2026, 12, 11, 23, 59))


def test_a_weekend_inside_an_absence_is_not_a_working_day_away_and_friday_evening_means_monday():
    friday_to_monday = Period("executor", *days_period(date(2026, 12, 11), date(2026, 12, 14), SUPPORT))
    assert working_days_away(friday_to_monday, SUPPORT) == 2
    sick_until_friday_evening = Period("executor", at(2026, 12, 9, 9), at(2026, 12, 11, 18))
    assert returns_at(sick_until_friday_evening, SUPPORT) == at(2026, 12, 14, 9)


def test_an_absence_ending_before_the_new_year_holidays_is_back_after_them():
    trip = Period("executor", *days_period(date(2026, 12, 28), date(2026, 12, 30), SUPPORT))
    assert returns_at(trip, SUPPORT) == at(2027, 1, 11, 9)  # 31 Dec and 1–10 Jan are days off in RU
    assert working_days_away(trip, SUPPORT) == 3
    holidays_only = Period("executor", *days_period(date(2027, 1, 1), date(2027, 1, 10), SUPPORT))
    assert working_days_away(holidays_only, SUPPORT) == 0


def test_on_duty_is_the_flag_and_no_absence_now():
    away = absent_now([Period("executor", at(2026, 12, 1), at(2026, 12, 5))], at(2026, 12, 2, 10))
    assert not on_duty(True, "executor", away) and on_duty(True, "executor2", away)
    assert not on_duty(False, "executor2", away)
    assert absent_now([Period("executor", at(2026, 12, 1), at(2026, 12, 5))], at(2026, 12, 5)) == {}


def test_a_substitute_away_too_hands_on_and_a_loop_reaches_nobody():
    now = at(2026, 12, 2, 10)
    away = absent_now(
        [
            Period("a", at(2026, 12, 1), at(2026, 12, 5), substitute="b"),
            Period("b", at(2026, 12, 1), at(2026, 12, 5), substitute="c"),
            Period("x", at(2026, 12, 1), at(2026, 12, 5), substitute="y"),
            Period("y", at(2026, 12, 1), at(2026, 12, 5), substitute="x"),
        ],
        now,
    )
    assert stand_in("a", away) == "c" and stand_in("c", away) == "c"
    assert stand_in("x", away) is None


@pytest.mark.parametrize(
    "kind,start,end,substitute,problem",
    [
        ("holiday", at(2026, 12, 1), at(2026, 12, 2), None, "Unknown absence kind 'holiday'"),
        ("leave", at(2026, 12, 2), at(2026, 12, 1), None, "swap the dates"),
        ("leave", at(2026, 12, 1), at(2026, 12, 2), "executor", "cannot substitute for themselves"),
        ("leave", datetime(2026, 12, 1), datetime(2026, 12, 2), None, "time zone"),
    ],
)
def test_an_absence_that_means_nothing_is_refused_naming_why(kind, start, end, substitute, problem):
    with pytest.raises(AbsenceError, match=problem):
        check_absence("executor", kind, start, end, substitute)


def test_absence_bounds_are_dates_or_zoned_times_and_anything_else_is_refused():
    assert parse_bound("2026-12-12", SUPPORT, end=False) == at(2026, 12, 12)
    assert parse_bound("2026-12-12", SUPPORT, end=True) == at(2026, 12, 13)
    assert parse_bound("2026-12-12T09:30+03:00", SUPPORT, end=False) == at(2026, 12, 12, 9, 30)
    assert parse_bound("2026-12-12T09:30", SUPPORT, end=True) == at(2026, 12, 12, 9, 30)
    with pytest.raises(AbsenceError, match="neither a date"):
        parse_bound("next monday", SUPPORT, end=False)


# ------------------------------------------------------------------------------ the doors


def away(app, username: str, *, substitute: str | None = None, days: int = 5) -> int:
    """`username` away from an hour ago for `days` days, entered by the manager through the service."""
    now = app.extensions["runtime"].now()
    return record_absence(
        app.extensions["sessions"],
        MANAGER,
        username=username,
        kind="leave",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=days),
        substitute=substitute,
        note="",
        now=now,
    )


def dispatch_task(app, number: str) -> UserTask:
    with app.extensions["sessions"]() as session:
        return session.scalars(
            select(UserTask).where(
                UserTask.business_key == number,
                UserTask.element_id == "Task_Dispatch",
                UserTask.status == "open",
            )
        ).one()


def test_an_absent_executor_is_listed_as_absent_not_offered_and_refused_at_every_door(desk):
    away(desk, "executor2", substitute="executor")
    runtime, sessions = desk.extensions["runtime"], desk.extensions["sessions"]
    with sessions() as session:
        people = {c.username: c for c in field_candidates(session, "executor", now=runtime.now())}
        assert not people["executor2"].offered and people["executor2"].absence.substitute == "executor"
        assert people["executor"].offered
        with pytest.raises(UnknownAssigneeError, match="absent .leave. until .*substitute is 'executor'"):
            check_assignee(session, "executor2", "executors", now=runtime.now())
    request = open_request(
        channel="email", subject="Не печатает принтер", requester_email="ivan.petrov@romashka.example.ru"
    )
    task = dispatch_task(desk, request.number)
    with pytest.raises(UnknownAssigneeError, match="executor2"):
        complete_task(runtime, sessions, DISPATCHER, task.id, {"executor": "executor2"})
    complete_task(runtime, sessions, DISPATCHER, task.id, {"executor": "executor"})


def test_dispatch_suggests_the_absent_executors_substitute_or_nobody(desk):
    away(desk, "executor", substitute="executor2")
    runtime = desk.extensions["runtime"]
    first = open_request(
        channel="email", subject="Не печатает принтер", requester_email="ivan.petrov@romashka.example.ru"
    )
    with desk.extensions["sessions"]() as session:
        instance_id = session.get(Request, first.id).instance_id
    assert runtime.variables(instance_id)["suggested_executor"] == "executor2"
    away(desk, "executor2")
    second = open_request(
        channel="email", subject="Не печатает принтер", requester_email="ivan.petrov@romashka.example.ru"
    )
    with desk.extensions["sessions"]() as session:
        instance_id = session.get(Request, second.id).instance_id
    assert runtime.variables(instance_id)["suggested_executor"] is None


def test_the_dispatch_page_shows_the_absent_executor_as_absent_and_refuses_them(seeded):
    app = seeded
    away(app, "executor2")
    with app.app_context():
        request = open_request(
            channel="email", subject="Не печатает принтер", requester_email="ivan.petrov@romashka.example.ru"
        )
    task = dispatch_task(app, request.number)
    client = staff_client(app, "dispatcher")
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'data-absent="executor2"' in page and 'value="executor2"' not in page
    assert 'value="executor"' in page and "отсутствует до" in page
    refused = post(
        client, f"/tasks/{task.id}/complete", {"executor": "executor2"}, token_from=f"/tasks/{task.id}"
    )
    assert refused.status_code == 400 and dispatch_task(app, request.number).status == "open"


def test_admins_are_assignees_of_a_group_only_as_its_members_one_rule_for_picker_and_check(desk):
    runtime = desk.extensions["runtime"]
    with desk.extensions["sessions"]() as session:
        assert "admin" not in {c.username for c in field_candidates(session, "executor", now=runtime.now())}
        with pytest.raises(UnknownAssigneeError, match="not in the group 'executors'"):
            check_assignee(session, "admin", "executors", now=runtime.now())


def test_only_managers_and_admins_enter_absences_and_bad_ones_store_nothing(desk):
    sessions, now = desk.extensions["sessions"], desk.extensions["runtime"].now()
    fields = dict(
        kind="leave", starts_at=now, ends_at=now + timedelta(days=1), substitute=None, note="", now=now
    )
    with pytest.raises(PermissionDenied):
        record_absence(sessions, DISPATCHER, username="executor", **fields)
    with pytest.raises(AbsenceError, match="'nobody' is not an active user"):
        record_absence(sessions, MANAGER, username="executor", **{**fields, "substitute": "nobody"})
    with sessions() as session:
        assert session.scalars(select(Absence)).all() == []
    assert record_absence(sessions, Principal.of("admin", ["admin"]), username="executor", **fields)


def test_an_absence_starting_while_tasks_are_open_lists_them_and_one_action_hands_them_over(seeded):
    app = seeded
    runtime, sessions = app.extensions["runtime"], app.extensions["sessions"]
    with app.app_context():
        request = open_request(
            channel="email", subject="Не печатает принтер", requester_email="ivan.petrov@romashka.example.ru"
        )
    runtime.complete(dispatch_task(app, request.number).id, "dispatcher", {"executor": "executor"})
    with sessions() as session:
        work = session.scalars(
            select(UserTask).where(UserTask.business_key == request.number, UserTask.status == "open")
        ).one()
    assert (work.element_id, work.assignee) == ("Task_Resolve", "executor")

    absence_id = away(app, "executor", substitute="executor2")
    with sessions() as session:
        [pending] = [p for p in away_with_work(session, runtime.now()) if p.absence.username == "executor"]
        assert work.id in {t.id for t in pending.tasks}
    client = staff_client(app, "dispatcher")
    page = client.get("/absences/").get_data(as_text=True)
    assert 'data-user="executor"' in page and f"/absences/{absence_id}/hand-over" in page
    moved = post(client, f"/absences/{absence_id}/hand-over", token_from="/absences/")
    assert moved.status_code == 302
    with sessions() as session:
        assert session.get(UserTask, work.id).assignee == "executor2"
        assert not [p for p in away_with_work(session, runtime.now()) if p.absence.username == "executor"]
    executor = staff_client(app, "executor")
    assert post(executor, f"/absences/{absence_id}/hand-over", token_from="/absences/").status_code == 403


def test_hand_over_without_a_substitute_is_refused_saying_what_to_do(desk):
    absence_id = away(desk, "executor")
    with pytest.raises(NoSubstituteError, match="names no substitute"):
        hand_over(desk.extensions["runtime"], desk.extensions["sessions"], DISPATCHER, absence_id)


def test_an_absent_manager_is_not_escalated_to_their_substitute_is(desk):
    away(desk, "manager", substitute="dispatcher")
    runtime = desk.extensions["runtime"]
    request = open_request(
        channel="email",
        subject="Не работает интернет",
        body="С утра нет интернета, сеть не работает.",
        requester_email="ivan.petrov@romashka.example.ru",
        priority="high",
    )
    runtime.complete(dispatch_task(desk, request.number).id, "dispatcher", {"executor": "executor"})
    with desk.extensions["sessions"]() as session:
        resolve_by = session.get(Request, request.id).resolve_by
    runtime.clock.now = resolve_by + timedelta(minutes=1)
    runtime.fire_due_timers()
    with desk.extensions["sessions"]() as session:
        told = set(
            session.scalars(
                select(Notification.recipient).where(
                    Notification.template == "request_overdue", Notification.request_id == request.id
                )
            )
        )
    assert told == {"dispatcher"}


def test_the_add_absence_topic_records_an_absence_from_a_process(desk):
    run_process(
        desk,
        "add_absence",
        {
            "user": "executor",
            "kind": "sick",
            "date_from": "2026-11-23",
            "date_to": "2026-11-25",
            "substitute": "executor2",
        },
    )
    with desk.extensions["sessions"]() as session:
        [row] = session.scalars(select(Absence)).all()
    assert (row.username, row.kind, row.substitute) == ("executor", "sick", "executor2")
    assert (row.starts_at, row.ends_at) == (at(2026, 11, 23), at(2026, 11, 26))
    with desk.extensions["sessions"]() as session:
        people = {c.username: c for c in field_candidates(session, "executor", now=MONDAY_10)}
    assert not people["executor"].offered


def test_an_absence_entered_on_the_page_is_listed_with_its_return_and_a_bad_one_is_refused(seeded):
    manager = staff_client(seeded, "manager")
    saved = post(
        manager,
        "/absences/",
        {
            "user": "executor",
            "kind": "business_trip",
            "date_from": "2026-12-28",
            "date_to": "2026-12-30",
            "substitute": "executor2",
        },
        token_from="/absences/",
    )
    assert saved.status_code == 302
    page = manager.get("/absences/").get_data(as_text=True)
    assert "командировка" in page and "11.01.2027 09:00" in page
    bad = post(
        manager,
        "/absences/",
        {"user": "executor", "kind": "leave", "date_from": "2026-12-30", "date_to": "2026-12-28"},
        token_from="/absences/",
    )
    assert bad.status_code == 400 and "swap the dates" in bad.get_data(as_text=True)
    with seeded.extensions["sessions"]() as session:
        assert len(session.scalars(select(Absence)).all()) == 1
    dispatcher = staff_client(seeded, "dispatcher")
    assert dispatcher.get("/absences/").status_code == 200
    assert post(dispatcher, "/absences/", {"user": "executor"}, token_from="/absences/").status_code == 403


def test_add_absence_for_someone_who_does_not_exist_is_refused(desk):
    with desk.extensions["sessions"]() as session, session.begin():
        with pytest.raises(AbsenceError, match="'ghost' is not an active user"):
            add_absence(
                session,
                username="executor",
                kind="leave",
                starts_at=MONDAY_10,
                ends_at=MONDAY_10 + timedelta(days=1),
                substitute="ghost",
                created_by=None,
                now=MONDAY_10,
            )
