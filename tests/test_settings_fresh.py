"""What admins edit (keywords, calendars, SLA policies, template wordings) counts from the very next
call, in any session: the desk caches only what it derives from the stored rows, keyed by them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import event, insert, update

from desk import classify, crm, notify
from desk.calendar import DEFAULT_CALENDARS
from desk.dictionary import current_dictionary, save_dictionary
from desk.models import CalendarRow, DictionaryEntry, Request, RouteRule, SlaPolicyRow
from desk.preferences import reach
from desk.staff import TemplateOverride

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


# ---------------------------------------------------------------------- read once per transaction


def _statements(app) -> list[str]:
    seen: list[str] = []
    event.listen(app.extensions["db_engine"], "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_settings_are_read_once_per_transaction_and_again_by_the_next(any_app):
    sessions = any_app.extensions["sessions"]
    seen = _statements(any_app)

    def calendar_reads() -> int:
        return sum("CAST(business_calendar.data" in s for s in seen)

    with sessions() as session, session.begin():
        first = crm.calendars(session)
        assert crm.calendars(session) is first
        assert crm.route(session, "printer").dispatcher_group == "dispatchers"
        assert calendar_reads() == 1
    _stored_support(any_app, extra_holidays=["2026-11-25"])
    with sessions() as admin, admin.begin():
        admin.add(RouteRule(category="printer", dispatcher_group="print-desk"))
    with sessions() as session, session.begin():
        assert crm.calendars(session)["support"].extra_holidays == {date(2026, 11, 25)}
        assert crm.route(session, "printer").dispatcher_group == "print-desk"
        assert crm.route(session, "scanner").dispatcher_group == "dispatchers"
    assert calendar_reads() == 2


def test_an_edit_in_the_same_transaction_is_seen_by_its_next_read(app):
    with app.extensions["sessions"]() as session, session.begin():
        assert crm.route(session, "printer").dispatcher_group == "dispatchers"
        session.add(RouteRule(category="printer", dispatcher_group="print-desk"))
        assert crm.route(session, "printer").dispatcher_group == "print-desk"  # pending: read with it
        session.flush()
        assert crm.route(session, "printer").dispatcher_group == "print-desk"
        session.execute(update(RouteRule).where(RouteRule.category == "printer").values(dispatcher_group="x"))
        assert crm.route(session, "printer").dispatcher_group == "x"

        assert crm.sla_policies(session) == crm.sla_policies(session)
        session.execute(
            insert(SlaPolicyRow).values(
                category="printer", priority="*", resolve_within="8h", calendar="support"
            )
        )
        assert crm.sla_policies(session)[-1].resolve_within == "8h"


def test_an_edited_template_wording_renders_the_next_notification(app):
    sessions = app.extensions["sessions"]

    def rendered(key: str) -> str:
        with sessions() as session, session.begin():
            staff = reach(session, ["executor"], "request_resolved")
            (row,) = notify.enqueue_all(
                session,
                now=NOW,
                template="request_resolved",
                payload={"number": "REQ-1", "subject": "s", "resolution": ""},
                to=[("executor", "in_app", key)],
                staff=staff,
            )
            return row.subject

    assert rendered("k1") == "REQ-1: обращение решено"
    with sessions() as session, session.begin():
        session.add(
            TemplateOverride(
                template="request_resolved",
                language="ru",
                subject="Готово {{ number }}",
                body="b",
                updated_at=NOW,
            )
        )
    assert rendered("k2") == "Готово REQ-1"
    with sessions() as session, session.begin():
        session.execute(update(TemplateOverride).values(subject="Решено {{ number }}"))
    assert rendered("k3") == "Решено REQ-1"
