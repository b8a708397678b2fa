"""Per-user time zone: a user in Asia/Yekaterinburg reads every time two hours later than the desk's
Moscow time, on pages and in the CSV, with the zone named in the header; a bad zone is refused."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from desk.models import Request, User
from desk.time_zones import UnknownTimeZoneError, check_zone
from tests.web_helpers import post, seeded_fixture, staff_client  # noqa: F401

CREATED = datetime(2026, 11, 20, 7, 15, tzinfo=UTC)  # 10:15 in Moscow, 12:15 in Yekaterinburg
DONE = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_only_zones_zoneinfo_knows_are_accepted():
    assert check_zone(" Asia/Yekaterinburg ") == "Asia/Yekaterinburg"
    for bad in ("MSK", "UTC+5", "Europe/Atlantis", "../etc/passwd"):
        with pytest.raises(UnknownTimeZoneError, match="Europe/Moscow"):
            check_zone(bad)


def _closed_request(app) -> str:
    with app.extensions["sessions"]() as session, session.begin():
        request = Request(
            number="REQ-700001",
            channel="phone",
            subject="zone",
            status="done",
            category="printer",
            assignee="executor",
            created_at=CREATED,
            taken_at=CREATED,
            done_at=DONE,
            status_changed_at=DONE,
            processing_minutes=105.0,
            processing_bucket="1 – 3 h",
            stage_totals={},
        )
        session.add(request)
    return "REQ-700001"


def _csv_row(client, number: str) -> dict[str, str]:
    text = client.get("/reports/processing.csv?from=2026-11-20&to=2026-11-20").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    line = next(r for r in rows[1:] if r[0] == number)
    return dict(zip(("created", "taken", "done"), line[5:8], strict=True))


def test_a_user_in_yekaterinburg_reads_times_two_hours_later_on_pages_and_in_csv(seeded):
    number = _closed_request(seeded)
    manager = staff_client(seeded, "manager")
    card = manager.get(f"/requests/{number}").get_data(as_text=True)
    assert "20.11.2026 10:15" in card and "Москва, UTC+03:00" in card
    assert _csv_row(manager, number)["created"] == "2026-11-20T10:15:00+03:00"

    saved = post(
        manager, "/settings/profile", {"time_zone": "Asia/Yekaterinburg"}, token_from="/settings/profile"
    )
    assert saved.status_code == 302
    assert "Часовой пояс сохранён: Asia/Yekaterinburg." in manager.get(saved.headers["Location"]).get_data(
        as_text=True
    )
    card = manager.get(f"/requests/{number}").get_data(as_text=True)
    assert "20.11.2026 12:15" in card and "20.11.2026 10:15" not in card
    assert "Екатеринбург, UTC+05:00" in card
    assert _csv_row(manager, number) == {
        "created": "2026-11-20T12:15:00+05:00",
        "taken": "2026-11-20T12:15:00+05:00",
        "done": "2026-11-20T14:00:00+05:00",
    }
    other = staff_client(seeded, "operator")  # everyone else keeps the desk's zone
    assert "20.11.2026 10:15" in other.get(f"/requests/{number}").get_data(as_text=True)

    back = post(manager, "/settings/profile", {"time_zone": ""}, token_from="/settings/profile")
    assert back.status_code == 302
    assert "20.11.2026 10:15" in manager.get(f"/requests/{number}").get_data(as_text=True)


def test_an_unknown_zone_is_refused_and_nothing_is_saved(seeded):
    operator = staff_client(seeded, "operator")
    refused = post(operator, "/settings/profile", {"time_zone": "Moscow"}, token_from="/settings/profile")
    assert refused.status_code == 400
    assert "Неизвестный часовой пояс &#39;Moscow&#39;" in refused.get_data(as_text=True)
    with seeded.extensions["sessions"]() as session:
        assert session.scalar(select(User.time_zone).where(User.username == "operator")) is None
