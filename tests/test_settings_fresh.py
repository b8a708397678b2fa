"""What admins edit (keywords, calendars, SLA policies, template wordings) counts from the very next
call, in any session: the desk caches only what it derives from the stored rows, keyed by them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import update

from desk import classify, crm
from desk.calendar import DEFAULT_CALENDARS
from desk.dictionary import current_dictionary, save_dictionary
from desk.models import CalendarRow, DictionaryEntry, Request, SlaPolicyRow

NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def _classified(app, subject: str) -> str | None:
    with app.extensions["sessions"]() as session:
        return classify.classify(subject, "", current_dictionary(session)).category


def test_a_saved_dictionary_classifies_the_next_request(app):
    sessions = app.extensions["sessions"]
    with sessions() as session, session.begin():
        save_dictionary(session, {"coffee": {"кофемашина": 3}})
    assert _classified(app, "Сломалась кофемашина") == "coffee"
    with sessions() as session, session.begin():
        save_dictionary(session, {"kitchen": {"кофемашина": 3}})
    assert _classified(app, "Сломалась кофемашина") == "kitchen"
    with sessions() as session, session.begin():
        session.execute(update(DictionaryEntry).values(weight=-1.0))
    assert _classified(app, "Сломалась кофемашина") is None


def test_unflushed_keywords_count_in_their_own_session(app):
    with app.extensions["sessions"]() as session, session.begin():
        save_dictionary(session, {"coffee": {"кофемашина": 3}})
        verdict = classify.classify("Сломалась кофемашина", "", current_dictionary(session))
    assert verdict.category == "coffee"


def _stored_support(app, **changes) -> None:
    data = {**DEFAULT_CALENDARS["support"].to_dict(), **changes}
    with app.extensions["sessions"]() as session, session.begin():
        row = session.get(CalendarRow, "support")
        if row is None:
            session.add(CalendarRow(name="support", data=data))
        else:
            row.data = data


def test_an_added_holiday_is_seen_by_the_next_read(app):
    sessions = app.extensions["sessions"]
    _stored_support(app, extra_holidays=["2026-11-25"])
    with sessions() as session:
        assert crm.calendars(session)["support"].extra_holidays == {date(2026, 11, 25)}
    _stored_support(app, extra_holidays=["2026-11-25", "2026-11-26"])
    with sessions() as session:
        assert crm.calendars(session)["support"].extra_holidays == {date(2026, 11, 25), date(2026, 11, 26)}
    _stored_support(app, extra_holidays=[])
    with sessions() as session:
        assert crm.calendars(session)["support"].extra_holidays == frozenset()


def test_an_unflushed_calendar_counts_in_its_own_session(app):
    with app.extensions["sessions"]() as session, session.begin():
        night = {**DEFAULT_CALENDARS["support"].to_dict(), "name": "night"}
        session.add(CalendarRow(name="night", data=night))
        assert "night" in crm.calendars(session)


def test_an_edited_sla_policy_is_seen_by_the_next_read(app):
    sessions = app.extensions["sessions"]
    with sessions() as session, session.begin():
        session.add(SlaPolicyRow(category="printer", priority="*", resolve_within="8h", calendar="support"))
        assert crm.sla_policies(session)[-1].resolve_within == "8h"
    with sessions() as session, session.begin():
        session.execute(update(SlaPolicyRow).values(resolve_within="4h"))
    with sessions() as session:
        assert crm.sla_policies(session)[-1].resolve_within == "4h"


def test_a_request_read_again_after_commit_shows_another_sessions_change(app):
    sessions = app.extensions["sessions"]
    with sessions() as session, session.begin():
        request_id = crm.create_request(session, now=NOW, channel="web", subject="Принтер").id
    with sessions() as reader:
        with reader.begin():
            assert crm.get_request(reader, request_id).subject == "Принтер"
        with sessions() as writer, writer.begin():
            writer.execute(update(Request).where(Request.id == request_id).values(subject="Сканер"))
        with reader.begin():
            assert crm.get_request(reader, request_id).subject == "Сканер"
