"""`flask --app web demo` fills three months of closed history once, with the shape of a real desk."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from desk.models import Request
from tests.conftest import MONDAY_10, PROJECT, make_app
from web.demo_history import PREFIX, history_rows


def test_history_spans_three_months_with_breaches_late_pickups_and_every_category():
    rows = history_rows(MONDAY_10)
    assert 800 < len(rows) < 2000
    first = min(r["created_at"] for r in rows)
    assert MONDAY_10 - timedelta(days=92) < first < MONDAY_10 - timedelta(days=85)
    assert all(r["done_at"] < MONDAY_10 and r["status"] == "closed" for r in rows)
    met = sum(r["sla_met"] for r in rows) / len(rows)
    late = sum(r["pickup_late"] for r in rows) / len(rows)
    assert 0.8 < met < 0.99 and 0.03 < late < 0.2
    assert len({r["category"] for r in rows}) == 10 and len({r["processing_bucket"] for r in rows}) >= 5
    assert history_rows(MONDAY_10) == rows, "seeded: every demo looks the same"


def test_demo_command_adds_the_history_once(database_url):
    from tests.conftest import Clock

    app = make_app(database_url)
    app.extensions["runtime"].clock = Clock(MONDAY_10)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["deploy", str(PROJECT / "bpmn")]).exit_code == 0
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "closed requests of the last three months" in first.output
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0 and "0 closed requests" in second.output
    with app.extensions["sessions"]() as session:
        stored = session.scalar(
            select(func.count()).select_from(Request).where(Request.external_id.like(f"{PREFIX}%"))
        )
        numbers = session.scalars(select(Request.number).where(Request.number.is_(None))).all()
    assert stored == len(history_rows(MONDAY_10)) and numbers == []
    app.extensions["db_engine"].dispose()
