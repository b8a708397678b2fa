"""The reports' per-day counters give the numbers counting the requests gives, and stay right as
requests are opened, moved, closed, re-categorised, reopened, imported and rebuilt."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from desk import crm, report_days, report_store
from desk.models import Request
from desk.report_store import ReportDay, ReportStageDay
from tests import report_reference as reference
from tests.conftest import seed_desk
from web.demo_history import seed_history
from web.views import report_queries as queries

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_a_request_counts_opened_on_its_day_and_closed_figures_on_its_done_day():
    values = dict.fromkeys(report_days.FACT_FIELDS) | {
        "created_at": datetime(2026, 11, 2, 22, 30, tzinfo=UTC),  # 3 Nov 01:30 in Moscow
        "done_at": datetime(2026, 11, 4, 8, 0, tzinfo=UTC),
        "category": "printer",
        "channel": "email",
        "priority": "high",
        "processing_bucket": "1 – 3 h",
        "processing_minutes": 90.0,
        "pickup_minutes": 20.0,
        "pickup_late": True,
        "sla_met": False,
        "stage_totals": {"new": [5.0, 6.0], "in_progress": [90.0, 120.0]},
    }
    facts, stages = report_days.contribution(values, report_store.DESK_ZONE)
    opened = facts[report_days.DayKey(date(2026, 11, 3), "all", "", "")]
    assert opened[report_days.MEASURES.index("opened")] == 1
    day = facts[report_days.DayKey(date(2026, 11, 4), "all", "", "")]
    closed = dict(zip(report_days.MEASURES, day, strict=True))
    assert [closed[m] for m in ("closed", "pickup_late", "pickup_on_time", "sla_met")] == [1, 1, 0, 0]
    executor = facts[report_days.DayKey(date(2026, 11, 4), "executor", "", "1 – 3 h")]
    assert executor[report_days.MEASURES.index("minutes_sum")] == 90.0
    assert stages[report_days.StageKey(date(2026, 11, 4), "in_progress")] == [90.0, 120.0, 1]
    moved = report_days.difference(
        (facts, stages), report_days.contribution(values | {"category": "network"}, report_store.DESK_ZONE)
    )
    assert {(k.dimension, k.value) for k in moved[0]} == {("category", "printer"), ("category", "network")}
    assert moved[1] == {}
    assert report_days.difference((facts, stages), (facts, stages)) == ({}, {})


def _live_requests(app) -> None:
    """Requests written the way the desk writes them: created, picked up, closed, moved after closing,
    reopened by a reply (done_at cleared), and one still open."""
    with app.extensions["sessions"]() as session, session.begin():
        made = []
        for i in range(6):
            request = crm.create_request(
                session,
                now=NOW - timedelta(days=10 - i),
                channel="phone",
                subject=f"live {i}",
                priority="high",
            )
            crm.set_category(session, request, "printer" if i % 2 else "network", 0.9)
            crm.set_resolve_by(session, request)
            made.append(request)
        for i, request in enumerate(made[:5]):
            crm.take_into_work(
                session, request, now=NOW - timedelta(days=10 - i, hours=-1), assignee="executor"
            )
            crm.close_request(session, request, "resolved", now=NOW - timedelta(days=9 - i))
        crm.change_status(session, made[0], "closed", now=NOW - timedelta(days=8))
        made[1].category = "email"  # re-classified after it was done
        made[2].assignee = "executor2"
        crm.change_status(session, made[3], "in_progress", now=NOW - timedelta(days=2))  # reopened
        made[3].done_at = None
    with app.extensions["sessions"]() as session, session.begin():  # a later transaction, objects reloaded
        request = session.scalars(select(Request).where(Request.subject == "live 4")).one()
        crm.change_status(session, request, "closed", now=NOW - timedelta(days=1))


@pytest.fixture
def history(any_app):
    seed_desk(any_app)
    with any_app.extensions["sessions"]() as session, session.begin():
        assert seed_history(session, NOW) > 500
    _live_requests(any_app)
    return any_app


def _compare(session, start: date, end: date) -> None:
    conditions = reference.conditions(start, end)
    for by in report_days.DIMENSIONS:
        old_report, old_groups = reference.processing_and_groups(session, conditions, by)
        new_report, new_groups = queries.processing_and_groups(session, start, end, by)
        assert new_report.totals == old_report.totals and new_report.by_group == old_report.by_group
        assert new_report.minutes == pytest.approx(old_report.minutes)
        assert [(g.group, g.count) for g in new_groups] == [(g.group, g.count) for g in old_groups]
        assert [g.hours for g in new_groups] == pytest.approx([g.hours for g in old_groups])
        assert queries.time_by_group(session, start, end, by) == new_groups
    old_pickups, old_breached, old_worst, old_sla = reference.kpis(session, conditions)
    new_pickups, new_breached, new_worst, new_sla = queries.kpis(session, start, end)
    assert (new_pickups.total, new_pickups.on_time, new_breached, new_sla) == (
        old_pickups.total,
        old_pickups.on_time,
        old_breached,
        old_sla,
    )
    assert new_pickups.late == old_pickups.late and new_worst == old_worst
    old_stages = reference.time_in_status(session, conditions)
    new_stages = queries.time_in_status(session, start, end)
    assert new_stages.keys() == old_stages.keys()
    for status, times in old_stages.items():
        assert new_stages[status] == pytest.approx(times)
    assert queries.daily_counts(session, start, end) == reference.daily_counts(session, start, end)


def test_reports_from_the_counters_equal_reports_from_the_requests(history):
    with history.extensions["sessions"]() as session:
        assert session.query(ReportDay).count() > 100
        for start, end in (
            (date(2026, 9, 8), date(2026, 12, 7)),  # the default quarter
            (date(2026, 11, 1), date(2026, 11, 30)),  # a month per day
            (date(2026, 11, 27), date(2026, 11, 28)),  # the live requests' days
            (date(2026, 10, 5), date(2026, 10, 5)),
        ):
            _compare(session, start, end)


def _table(conn) -> tuple[dict, dict]:
    """Both tables as {key: measures}, without all-zero rows (left behind by moves)."""
    days = {
        (r.day, r.dimension, r.value, r.bucket): tuple(getattr(r, m) for m in report_days.MEASURES)
        for r in conn.execute(select(ReportDay.__table__))
    }
    stages = {
        (r.day, r.status): tuple(getattr(r, m) for m in report_days.STAGE_MEASURES)
        for r in conn.execute(select(ReportStageDay.__table__))
    }
    nonzero = ({k: v for k, v in days.items() if any(v)}, {k: v for k, v in stages.items() if any(v)})
    return _Same(nonzero)


class _Same:
    """Tables equal key for key; sums of minutes equal to float precision (a rebuild adds them up in
    another order than the writers did), counts exactly."""

    def __init__(self, tables: tuple[dict, dict]) -> None:
        self.tables = tables

    def __getitem__(self, index: int) -> dict:
        return self.tables[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Same):
            return NotImplemented
        for mine, theirs in zip(self.tables, other.tables, strict=True):
            if mine.keys() != theirs.keys():
                return False
            if any(mine[k] != pytest.approx(theirs[k], rel=1e-9, abs=1e-6) for k in mine):
                return False
        return True

    def __repr__(self) -> str:
        return f"_Same({len(self.tables[0])} day rows, {len(self.tables[1])} stage rows)"


def test_rebuild_recomputes_what_the_writers_kept_and_is_idempotent(history):
    engine = history.extensions["db_engine"]
    with engine.connect() as conn:
        kept = _table(conn)
    runner = history.test_cli_runner()
    result = runner.invoke(args=["reports", "rebuild", "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)
    with engine.connect() as conn:
        rebuilt = _table(conn)
        assert counts["requests"] == conn.scalar(select(func.count()).select_from(Request))
    assert rebuilt == kept
    assert runner.invoke(args=["reports", "rebuild"]).exit_code == 0
    with engine.connect() as conn:
        assert _table(conn) == kept


def test_the_legacy_import_keeps_the_counters_in_its_batches(any_app, tmp_path):
    from tests.test_import import DATA, cli

    cli(any_app, "load", str(DATA / "requests_mixed_cp1251.csv"), "--kind", "requests")
    cli(any_app, "load", str(DATA / "requests.jsonl"), "--kind", "requests")
    cli(any_app, "run")
    later = tmp_path / "delta.jsonl"  # J-2 again, now done: the batch updates the request
    later.write_text(
        '{"id": "J-2", "created": "15.10.2024 16:00", "subject": "Настроить телефон", "status": "done",'
        ' "category": "telephony", "priority": "high", "phone": "+7 (903) 123-45-67",'
        ' "taken": "15.10.2024 16:05", "done": "16.10.2024 10:00"}\n',
        encoding="utf-8",
    )
    cli(any_app, "load", str(later), "--kind", "requests")
    cli(any_app, "run")
    engine = any_app.extensions["db_engine"]
    with engine.connect() as conn:
        kept = _table(conn)
    assert any(key[1] == "category" and key[2] == "telephony" for key in kept[0])
    with engine.begin() as conn:
        report_store.rebuild(conn, report_store.DESK_ZONE)
    with engine.connect() as conn:
        assert _table(conn) == kept


def test_migration_0015_fills_the_counters_from_existing_requests_and_goes_both_ways(database_url):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine, insert, inspect

    from desk.models import Base as DeskBase
    from web.db import alembic_config

    config = alembic_config(database_url)
    command.upgrade(config, "0014")
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:  # requests written before the counters existed
            conn.execute(
                insert(Request.__table__),
                [
                    {
                        "number": f"REQ-90000{i}",
                        "channel": "email",
                        "subject": "before 0015",
                        "status": "done",
                        "category": "printer",
                        "priority": "normal",
                        "created_at": NOW - timedelta(days=3, hours=i),
                        "done_at": NOW - timedelta(days=1, hours=i),
                        "status_changed_at": NOW - timedelta(days=1, hours=i),
                        "processing_minutes": 30.0 + i,
                        "processing_bucket": "30 min – 1 h",
                        "sla_met": i % 2 == 0,
                        "stage_totals": {"new": [1.0, 2.0]},
                        "escalated": False,
                        "version": 1,
                    }
                    for i in range(3)
                ],
            )
        command.upgrade(config, "0015")
        with engine.connect() as conn:
            filled = _table(conn)
        assert (
            sum(v[report_days.MEASURES.index("closed")] for k, v in filled[0].items() if k[1] == "all") == 3
        )
        with engine.begin() as conn:
            report_store.rebuild(conn, report_store.DESK_ZONE)
        with engine.connect() as conn:
            assert _table(conn) == filled
            context = MigrationContext.configure(conn)
            wanted = {"report_day", "report_stage_day", "desk_user"}
            diffs = compare_metadata(context, DeskBase.metadata)
            drift = [d for d in diffs if any(f"'{name}'" in repr(d) for name in wanted)]
        assert drift == []
        assert "ix_request_late_pickups" in {ix["name"] for ix in inspect(engine).get_indexes("request")}
        command.downgrade(config, "0014")
        assert "ix_request_late_pickups" not in {ix["name"] for ix in inspect(engine).get_indexes("request")}
        tables = set(inspect(engine).get_table_names())
        assert not {"report_day", "report_stage_day"} & tables
        assert "time_zone" not in {c["name"] for c in inspect(engine).get_columns("desk_user")}
    finally:
        engine.dispose()
