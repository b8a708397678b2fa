"""Admin pages: accounts, groups, dictionary, calendars, SLA, notification texts and API tokens.

Each edit is checked by the code that later uses it; a refused edit leaves the stored data as it was.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from desk import crm, notify
from desk.dictionary import load_dictionary
from desk.models import ApiToken, CalendarRow, SlaPolicyRow, User
from desk.staff import StaffGroup, TemplateOverride
from tests.conftest import MONDAY_10
from tests.web_helpers import csrf_token, login, post, seeded_fixture, staff_client  # noqa: F401
from web.security import LoginThrottle


def admin_post(client, path: str, data: dict | None = None):
    return post(client, path, data, token_from="/admin/")


def user_row(app, username: str) -> User:
    with app.extensions["sessions"]() as session:
        return session.scalars(select(User).where(User.username == username)).one()


def test_admin_creates_a_user_who_can_log_in_and_deactivation_logs_them_out(seeded):
    admin = staff_client(seeded, "admin")
    weak = admin_post(admin, "/admin/users", {"username": "olga", "password": "short", "roles": "operator"})
    assert weak.status_code == 400 and "не короче 8 символов" in weak.get_data(as_text=True)
    created = admin_post(
        admin,
        "/admin/users",
        {
            "username": "olga",
            "full_name": "Ольга",
            "password": "long-enough-1",
            "roles": "operator",
            "groups": "operators",
            "language": "en",
        },
    )
    assert created.status_code == 302
    olga = staff_client(seeded, "olga", "long-enough-1")
    assert olga.get("/tasks/").status_code == 200
    again = admin_post(admin, "/admin/users", {"username": "olga", "password": "long-enough-2"})
    assert again.status_code == 400 and "уже есть; измените его карточку" in again.get_data(as_text=True)

    saved = admin_post(
        admin, "/admin/users/olga", {"full_name": "Ольга", "roles": "operator", "language": "ru"}
    )
    assert saved.status_code == 302 and user_row(seeded, "olga").active is False
    assert olga.get("/tasks/").status_code == 302  # the session ends with the account


def test_admin_resets_a_password_and_cannot_lock_themselves_out(seeded):
    admin = staff_client(seeded, "admin")
    differ = admin_post(
        admin, "/admin/users/executor/password", {"password": "new-password", "password2": "other"}
    )
    assert differ.status_code == 302 and user_row(seeded, "executor").password_hash
    admin_post(
        admin, "/admin/users/executor/password", {"password": "new-password", "password2": "new-password"}
    )
    client = seeded.test_client()
    assert (
        client.post(
            "/login", data={"username": "executor", "password": "demo", "csrf_token": csrf_token(client)}
        ).status_code
        == 401
    )
    login(seeded.test_client(), "executor", "new-password")

    admin_post(admin, "/admin/users/admin", {"roles": "operator", "active": "on", "language": "ru"})
    assert user_row(seeded, "admin").roles == ["admin"]


def test_a_deactivated_group_no_longer_offers_its_tasks(seeded):
    dispatcher = staff_client(seeded, "dispatcher")
    assert "Назначить исполнителя" in dispatcher.get("/tasks/?scope=groups").get_data(as_text=True)
    admin = staff_client(seeded, "admin")
    assert (
        admin_post(
            admin, "/admin/groups", {"name": "dispatchers", "title": "Диспетчеры", "active": "0"}
        ).status_code
        == 302
    )
    assert "Назначить исполнителя" not in dispatcher.get("/tasks/?scope=groups").get_data(as_text=True)
    admin_post(admin, "/admin/groups", {"name": "dispatchers", "active": "1"})
    assert "Назначить исполнителя" in dispatcher.get("/tasks/?scope=groups").get_data(as_text=True)
    with seeded.extensions["sessions"]() as session:
        assert (
            session.scalars(select(StaffGroup.title).where(StaffGroup.name == "dispatchers")).one()
            == "Диспетчеры"
        )
    assert admin_post(admin, "/admin/groups", {"name": "Bad Name"}).status_code == 302


def test_dictionary_edits_are_validated_and_the_try_box_shows_every_score(seeded):
    admin = staff_client(seeded, "admin")
    with seeded.extensions["sessions"]() as session:
        before = {k: dict(v) for k, v in load_dictionary(session).items()}
    bad = admin_post(admin, "/admin/dictionary", {"category": "printer", "keywords": "принтер = много"})
    assert bad.status_code == 400 and "line 1: weight &#39;много&#39; is not a number" in bad.get_data(
        as_text=True
    )
    with seeded.extensions["sessions"]() as session:
        assert {k: dict(v) for k, v in load_dictionary(session).items()} == before

    added = admin_post(
        admin, "/admin/dictionary", {"category": "coffee", "keywords": "кофемашина = 5\nкофе = 2"}
    )
    assert added.status_code == 302
    tried = admin_post(
        admin, "/admin/dictionary/try", {"subject": "Сломалась кофемашина", "body": "Не варит кофе"}
    )
    html = tried.get_data(as_text=True)
    assert 'class="winner"><td>coffee</td><td>12.00</td>' in html  # subject counts twice: 2*5 + 2
    assert all(f"<td>{category}</td>" in html for category in before)


def test_calendar_edit_with_extra_holiday_shows_in_the_30_day_preview(seeded):
    admin = staff_client(seeded, "admin")
    form = {f"day_{d}": "09:00-13:00, 14:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")}
    form |= {
        "day_sat": "",
        "day_sun": "",
        "tz": "Europe/Moscow",
        "country": "RU",
        "substitute_weekday": "mon",
    }
    bad = admin_post(admin, "/admin/calendars/support", {**form, "day_mon": "09:00", "action": "save"})
    assert bad.status_code == 400 and "must be a [start, end] pair" in bad.get_data(as_text=True)
    saved = admin_post(
        admin, "/admin/calendars/support", {**form, "extra_holidays": "2026-11-25", "action": "save"}
    )
    assert saved.status_code == 302
    with seeded.extensions["sessions"]() as session:
        calendar = crm.calendars(session)["support"]
    assert date(2026, 11, 25) in calendar.extra_holidays
    page = admin.get("/admin/calendars/support").get_data(as_text=True)
    assert "Mon 23.11.2026</td><td>09:00–13:00, 14:00–18:00</td><td>8 " in page
    assert "Wed 25.11.2026</td><td>—</td><td>0 " in page
    preview = admin_post(
        admin, "/admin/calendars/night", {**form, "day_sat": "10:00-12:00", "action": "preview"}
    )
    assert "Sat 28.11.2026</td><td>10:00–12:00</td><td>2 " in preview.get_data(as_text=True)
    with seeded.extensions["sessions"]() as session:
        assert session.get(CalendarRow, "night") is None  # previewing saves nothing


def test_sla_policy_is_validated_and_used_for_new_deadlines(seeded):
    admin = staff_client(seeded, "admin")
    assert (
        admin_post(
            admin, "/admin/sla", {"category": "printer", "priority": "high", "resolve_within": "2 hours"}
        ).status_code
        == 303
    )
    assert (
        admin_post(
            admin,
            "/admin/sla",
            {"category": "printer", "priority": "high", "resolve_within": "4h", "calendar": "moon"},
        ).status_code
        == 303
    )
    with seeded.extensions["sessions"]() as session:
        assert not session.scalars(select(SlaPolicyRow)).all()
    assert (
        admin_post(
            admin,
            "/admin/sla",
            {"category": "printer", "priority": "high", "resolve_within": "4h", "calendar": "support"},
        ).status_code
        == 302
    )
    with seeded.extensions["sessions"]() as session:
        from desk import sla

        policy = sla.find_policy("printer", "high", crm.sla_policies(session))
    assert (policy.resolve_within, policy.calendar) == ("4h", "support")


def test_notification_text_override_is_checked_sandboxed_and_used(seeded):
    admin = staff_client(seeded, "admin")
    path = "/admin/templates/request_rejected/ru"
    unknown = admin_post(
        admin, path, {"subject": "{{ number }}: отказ", "body": "{{ salary }}", "action": "save"}
    )
    assert unknown.status_code == 400 and "salary" in unknown.get_data(as_text=True)
    broken = admin_post(admin, path, {"subject": "{{ number", "body": "x", "action": "save"})
    assert broken.status_code == 400 and "not a valid template" in broken.get_data(as_text=True)
    escape = admin_post(
        admin, path, {"subject": "{{ number.__class__.__mro__ }}", "body": "x", "action": "save"}
    )
    assert escape.status_code == 400
    with seeded.extensions["sessions"]() as session:
        assert not session.scalars(select(TemplateOverride)).all()

    saved = admin_post(
        admin, path, {"subject": "{{ number }}: отказ", "body": "Причина: {{ comment }}", "action": "save"}
    )
    assert saved.status_code == 200 and "REQ-000123: отказ" in saved.get_data(as_text=True)
    with seeded.extensions["sessions"]() as session, session.begin():
        row = notify.enqueue(
            session,
            now=MONDAY_10,
            recipient="client@example.ru",
            channel="email",
            template="request_rejected",
            payload={"number": "REQ-000042", "subject": "Монитор", "comment": "Нет бюджета"},
            idempotency_key="test-override",
        )
        assert (row.subject, row.body) == ("REQ-000042: отказ", "Причина: Нет бюджета")
        english = notify.enqueue(
            session,
            now=MONDAY_10,
            recipient="en@example.com",
            channel="email",
            template="request_rejected",
            payload={"number": "REQ-000042", "subject": "Monitor", "comment": "No budget"},
            idempotency_key="test-override-en",
            language="en",
        )
        assert english.subject == "REQ-000042: request rejected"  # only the Russian text was edited
    admin_post(admin, path, {"action": "reset"})
    with seeded.extensions["sessions"]() as session:
        assert not session.scalars(select(TemplateOverride)).all()


def test_an_override_that_cannot_render_falls_back_to_the_shipped_text():
    overrides = {("request_received", "ru"): ("{{ missing }}", "x")}
    subject, _ = notify.render("request_received", "ru", {"number": "REQ-1", "subject": "S"}, overrides)
    assert subject == "Обращение REQ-1 зарегистрировано"


def test_api_token_is_shown_once_works_and_stops_working_when_revoked(seeded):
    admin = staff_client(seeded, "admin")
    created = admin_post(
        admin, "/admin/tokens", {"name": "pbx-webhook", "username": "analyst", "scope": "engine:admin"}
    )
    html = created.get_data(as_text=True)
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    token = html.split('<pre class="body"><code>')[1].split("</code>")[0]
    assert token not in admin.get("/admin/tokens").get_data(as_text=True)
    api = seeded.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert api.get("/engine-rest/process-definition", headers=auth).status_code == 200
    with seeded.extensions["sessions"]() as session:
        token_id = session.scalars(select(ApiToken.id).where(ApiToken.name == "pbx-webhook")).one()
    assert admin_post(admin, f"/admin/tokens/{token_id}/revoke").status_code == 302
    assert api.get("/engine-rest/process-definition", headers=auth).status_code == 401
    assert admin_post(admin, "/admin/tokens", {"name": "x", "username": "nobody"}).status_code == 400


def test_failed_logins_are_counted_in_the_database_for_every_web_process(seeded):
    other_process = LoginThrottle(seeded.extensions["sessions"], limit=3)
    mine = seeded.extensions["login_throttle"]
    for _ in range(3):
        mine.failed("ip:10.0.0.9")
    assert other_process.blocked("ip:10.0.0.9")
    other_process.succeeded("ip:10.0.0.9")
    assert not mine.blocked("ip:10.0.0.9")
