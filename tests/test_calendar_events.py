"""Calendar events a process creates (topic calendar_event): the calendar pages and the iCalendar feed.

The feed is parsed back with the same library that writes it (icalendar), so what a calendar
application reads is what the process put there. SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
from sqlalchemy import select

from desk.calendar_events import CalendarEvent
from engine.store import Job
from tests.test_absence import run_process
from tests.web_helpers import post, seeded_fixture, staff_client  # noqa: F401
from web.intake import open_request

MSK = ZoneInfo("Europe/Moscow")


def test_a_process_puts_events_in_a_users_and_a_groups_calendar_and_the_feed_carries_them(seeded):
    app = seeded
    with app.app_context():
        request = open_request(
            channel="email", subject="Не печатает принтер", requester_email="ivan.petrov@romashka.example.ru"
        )
        visit = run_process(
            app,
            "calendar_event",
            {
                "user": "executor",
                "title": "Выезд к клиенту",
                "starts": "2026-11-24T11:00",
                "ends": "2026-11-24T12:30+03:00",
                "description": "Замена картриджа; клиент ждёт к 11",
                "request_id": request.id,
            },
        )
        run_process(
            app,
            "calendar_event",
            {"group": "executors", "title": "Планёрка исполнителей", "starts": "2026-11-25T09:00"},
        )
    assert app.extensions["runtime"].variables(visit.id)["calendar_event_id"]

    executor = staff_client(app, "executor")
    page = executor.get("/calendar/user/executor?from=2026-11-23").get_data(as_text=True)
    assert "Выезд к клиенту" in page and "11:00–12:30" in page and request.number in page
    assert "Планёрка исполнителей" in page
    feed_url = page.split('id="feed-url">', 1)[1].split("<", 1)[0]
    feed_path = urlsplit(feed_url).path

    anonymous = app.test_client()
    response = anonymous.get(feed_path)
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    calendar = icalendar.Calendar.from_ical(response.data)
    events = {str(e["summary"]): e for e in calendar.walk("VEVENT")}
    assert set(events) == {"Выезд к клиенту", "Планёрка исполнителей"}
    visit_event = events["Выезд к клиенту"]
    assert visit_event.decoded("dtstart") == datetime(2026, 11, 24, 11, 0, tzinfo=MSK)
    assert visit_event.decoded("dtend") == datetime(2026, 11, 24, 12, 30, tzinfo=MSK)
    assert request.number in str(visit_event["description"]) and "картриджа" in str(
        visit_event["description"]
    )
    assert str(visit_event["url"]).endswith(f"/requests/{request.number}")
    assert events["Планёрка исполнителей"].decoded("dtend") - events["Планёрка исполнителей"].decoded(
        "dtstart"
    ) == timedelta(hours=1)

    # Another user's feed has none of executor's events; a reset address stops the old one.
    approver_page = staff_client(app, "approver").get("/calendar/user/approver").get_data(as_text=True)
    approver_feed = urlsplit(approver_page.split('id="feed-url">', 1)[1].split("<", 1)[0]).path
    assert list(icalendar.Calendar.from_ical(anonymous.get(approver_feed).data).walk("VEVENT")) == []
    assert post(executor, "/calendar/feed/reset", token_from="/calendar/user/executor").status_code == 302
    assert anonymous.get(feed_path).status_code == 404
    assert anonymous.get("/calendar/feed/not-a-token.ics").status_code == 404


def test_calendars_of_others_need_read_all_and_groups_are_for_their_members(seeded):
    executor = staff_client(seeded, "executor")
    assert executor.get("/calendar/user/executor").status_code == 200
    assert executor.get("/calendar/user/executor2").status_code == 403
    assert executor.get("/calendar/group/executors").status_code == 200
    assert executor.get("/calendar/group/managers").status_code == 403
    dispatcher = staff_client(seeded, "dispatcher")
    assert dispatcher.get("/calendar/user/executor2").status_code == 200
    assert dispatcher.get("/calendar/group/managers").status_code == 200
    assert dispatcher.get("/calendar/user/nobody").status_code == 404
    assert executor.get("/calendar/").status_code == 302


def test_an_event_that_ends_before_it_starts_or_names_nobody_fails_its_step_naming_why(desk):
    backwards = run_process(
        desk,
        "calendar_event",
        {"user": "executor", "title": "Наоборот", "starts": "2026-11-24T12:00", "ends": "2026-11-24T11:00"},
    )
    ghost = run_process(
        desk, "calendar_event", {"user": "ghost", "title": "Никому", "starts": "2026-11-24T12:00"}
    )
    with desk.extensions["sessions"]() as session:
        errors = {
            job.instance_id: job.error
            for job in session.scalars(select(Job).where(Job.instance_id.in_([backwards.id, ghost.id])))
        }
        assert session.scalars(select(CalendarEvent)).all() == []
    assert "swap them" in errors[backwards.id]
    assert "No user 'ghost'" in errors[ghost.id]
