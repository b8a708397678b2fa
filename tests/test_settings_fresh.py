"""What admins edit (keywords, calendars, SLA policies, routing rules, template wordings) counts from
the very next call, in any session and any process: the desk keeps what it read only while the
tables' read tokens (read_tokens, changed by triggers on every write) stay the same."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import create_engine, event, insert, update
from sqlalchemy.pool import NullPool

from desk import classify, crm, notify
from desk.calendar import DEFAULT_CALENDARS
from desk.dictionary import current_dictionary, save_dictionary
from desk.models import CalendarRow, DictionaryEntry, Request, RouteRule, SlaPolicyRow, User
from desk.preferences import NotificationPreference, reach
from desk.staff import TemplateOverride, template_overrides

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


def test_settings_are_read_at_most_once_per_transaction_and_again_only_after_an_edit(any_app):
    sessions = any_app.extensions["sessions"]
    seen = _statements(any_app)

    def calendar_reads() -> int:
        return sum("CAST(business_calendar.data" in s for s in seen)

    with sessions() as session, session.begin():
        first = crm.calendars(session)
        assert crm.calendars(session) is first
        assert crm.route(session, "printer").dispatcher_group == "dispatchers"
    read = calendar_reads()
    assert read <= 1  # none when another test's copy of this database was read in this process
    with sessions() as session, session.begin():
        assert crm.calendars(session) is first  # unchanged: kept from the last transaction
    assert calendar_reads() == read
    _stored_support(any_app, extra_holidays=["2026-11-25"])
    with sessions() as admin, admin.begin():
        admin.add(RouteRule(category="printer", dispatcher_group="print-desk"))
    with sessions() as session, session.begin():
        assert crm.calendars(session)["support"].extra_holidays == {date(2026, 11, 25)}
        assert crm.route(session, "printer").dispatcher_group == "print-desk"
        assert crm.route(session, "scanner").dispatcher_group == "dispatchers"
    assert calendar_reads() == read + 1


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


# ---------------------------------------------------------------------- kept across transactions


def _other_process(app, sql: str) -> None:
    """Plain SQL on a connection of its own, as another process (the CLI, a psql session) writes."""
    engine = create_engine(app.config["DATABASE_URL"], poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


def _add(model, **values):
    return lambda session: session.add(model(**values))


def _night_owl_wants_email(session) -> None:
    owl = User(username="night-owl", full_name="Ночная сова")
    session.add(owl)
    session.flush()
    session.add(NotificationPreference(user_id=owl.id, event="request_resolved", channels=["email"]))


# name: (store a row, read it, plain SQL that edits it, value before, value after)
KEPT = {
    "calendars": (
        _add(CalendarRow, name="night", data={**DEFAULT_CALENDARS["support"].to_dict(), "name": "night"}),
        lambda session: "night" in crm.calendars(session),
        "DELETE FROM business_calendar WHERE name = 'night'",
        True,
        False,
    ),
    "sla_policies": (
        _add(SlaPolicyRow, category="printer", priority="*", resolve_within="8h", calendar="support"),
        lambda session: crm.sla_policies(session)[-1].resolve_within,
        "UPDATE sla_policy SET resolve_within = '4h' WHERE category = 'printer'",
        "8h",
        "4h",
    ),
    "route_rule": (
        _add(RouteRule, category="printer", dispatcher_group="print-desk"),
        lambda session: crm.route(session, "printer").dispatcher_group,
        "UPDATE route_rule SET dispatcher_group = 'printers' WHERE category = 'printer'",
        "print-desk",
        "printers",
    ),
    "classifier_entry": (
        lambda session: save_dictionary(session, {"coffee": {"кофемашина": 3}}),
        lambda session: classify.classify("Сломалась кофемашина", "", current_dictionary(session)).category,
        "UPDATE classifier_entry SET category = 'kitchen'",
        "coffee",
        "kitchen",
    ),
    "notification_template": (
        _add(
            TemplateOverride,
            template="request_resolved",
            language="ru",
            subject="Готово",
            body="b",
            updated_at=NOW,
        ),
        lambda session: template_overrides(session, "request_resolved")[("request_resolved", "ru")][0],
        "UPDATE notification_template SET subject = 'Решено'",
        "Готово",
        "Решено",
    ),
    "desk_user": (
        _add(User, username="night-owl", full_name="Ночная сова"),
        lambda session: reach(session, ["night-owl"], "request_resolved")["night-owl"].full_name,
        "UPDATE desk_user SET full_name = 'Сова' WHERE username = 'night-owl'",
        "Ночная сова",
        "Сова",
    ),
    "notification_preference": (
        _night_owl_wants_email,
        lambda session: reach(session, ["night-owl"], "request_resolved")["night-owl"].channels,
        """UPDATE notification_preference SET channels = '["sms"]'""",
        ["email"],
        ["sms"],
    ),
}


@pytest.mark.parametrize("kept", KEPT)
def test_a_kept_setting_is_read_again_after_another_process_edits_it(any_app, kept):
    store, read, edit, before, after = KEPT[kept]
    sessions = any_app.extensions["sessions"]
    table = edit.split()[2] if edit.startswith("DELETE") else edit.split()[1]
    with sessions() as session, session.begin():
        store(session)
    with sessions() as session, session.begin():
        assert read(session) == before
    seen = _statements(any_app)
    with sessions() as session, session.begin():
        assert read(session) == before
    assert not [s for s in seen if f" {table}" in s]  # kept: only the tokens were read
    _other_process(any_app, edit)
    with sessions() as session, session.begin():
        assert read(session) == after
    assert [s for s in seen if f" {table}" in s]


def test_an_edit_rolled_back_is_never_served(any_app):
    sessions = any_app.extensions["sessions"]
    with sessions() as session:
        with session.begin():
            session.add(RouteRule(category="printer", dispatcher_group="print-desk"))
            assert crm.route(session, "printer").dispatcher_group == "print-desk"
            session.rollback()
        with session.begin():
            assert crm.route(session, "printer").dispatcher_group == "dispatchers"
    with sessions() as session, session.begin():
        assert crm.route(session, "printer").dispatcher_group == "dispatchers"


def test_an_edit_in_a_savepoint_rolled_back_is_not_served_to_the_rest_of_the_transaction(any_app):
    """A failing handler's writes are undone by its SAVEPOINT; what it read with them goes too."""
    with any_app.extensions["sessions"]() as session, session.begin():
        assert crm.route(session, "printer").dispatcher_group == "dispatchers"
        nested = session.begin_nested()
        session.add(RouteRule(category="printer", dispatcher_group="print-desk"))
        assert crm.route(session, "printer").dispatcher_group == "print-desk"
        nested.rollback()
        assert crm.route(session, "printer").dispatcher_group == "dispatchers"
