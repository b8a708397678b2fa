"""Reports that show the work: opened vs closed, backlog, SLA and pickup shares per period, processing
time per group, each as a chart with its table and CSV; the processing CSV speaks words and one clock.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from desk import reports
from desk.models import Request
from tests.web_helpers import staff_client
from web.demo import create_user


def test_flow_counts_every_period_and_carries_the_backlog():
    opened = {date(2026, 11, 2): 3, date(2026, 11, 4): 2, date(2026, 11, 10): 1}
    closed = {date(2026, 11, 3): 1, date(2026, 11, 10): 4}
    days = reports.flow(opened, closed, date(2026, 11, 2), date(2026, 11, 4), "day", backlog_before=5)
    assert [(p.opened, p.closed, p.backlog) for p in days] == [(3, 0, 8), (0, 1, 7), (2, 0, 9)]
    weeks = reports.flow(opened, closed, date(2026, 11, 4), date(2026, 11, 11), "week", backlog_before=0)
    assert [(p.start, p.opened, p.closed, p.backlog) for p in weeks] == [
        (date(2026, 11, 2), 2, 0, 2),
        (date(2026, 11, 9), 1, 4, -1),
    ]
    with pytest.raises(ValueError, match="step"):
        reports.flow({}, {}, date(2026, 11, 2), date(2026, 11, 2), "month", 0)


def test_a_share_of_nothing_is_unknown_not_zero():
    assert reports.percent(0, 0) is None and reports.percent(1, 4) == 25.0


def test_charts_are_inline_svg_with_escaped_labels():
    svg = reports.line_chart_svg(["01.11", "<b>"], [("Открыто", [1, 2])])
    assert svg.startswith("<svg") and "&lt;b&gt;" in svg and "<polyline" in svg
    bars = reports.hbar_chart_svg(["Принтеры и МФУ"], [2.5], "рабочих ч")
    assert "Принтеры и МФУ" in bars and "2.5 рабочих ч" in bars


@pytest.fixture
def desk_with_history(any_app):
    app = any_app
    with app.app_context():
        create_user("boss", "pw-boss", roles=["manager"], groups=["managers"])
        create_user("executor", "pw", full_name="Евгений Исполнителев", roles=["executor"])
    t0 = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)  # Monday 10:00 Moscow
    rows = [  # (created day offset, done after hours or None, sla_met, pickup_late, category)
        (0, 2, True, False, "printer"),
        (0, 30, False, True, "network"),
        (1, 3, True, False, "printer"),
        (2, None, None, None, "1c"),
        (8, 1, True, False, "printer"),
    ]
    with app.extensions["sessions"]() as session, session.begin():
        session.add(
            Request(
                number="REQ-800000",
                channel="web",
                subject="old",
                status="new",
                created_at=t0 - timedelta(days=20),
                status_changed_at=t0,
            )
        )
        for i, (day, hours, met, late, category) in enumerate(rows):
            created = t0 + timedelta(days=day)
            done = created + timedelta(hours=hours) if hours is not None else None
            session.add(
                Request(
                    number=f"REQ-80{i + 1:04d}",
                    channel="phone",
                    subject=f"S{i}",
                    status="done" if done else "new",
                    category=category,
                    priority="high",
                    assignee="executor",
                    created_at=created,
                    status_changed_at=created,
                    taken_at=created + timedelta(minutes=5),
                    done_at=done,
                    processing_minutes=hours * 60 if hours else None,
                    processing_bucket="< 30 min" if hours else None,
                    pickup_minutes=5.0 if hours else None,
                    pickup_late=late,
                    sla_met=met,
                )
            )
    return app


def test_the_page_shows_trend_shares_and_time_per_group_for_the_range(desk_with_history):
    manager = staff_client(desk_with_history, "boss", "pw-boss")
    page = manager.get("/reports/?from=2026-11-02&to=2026-11-15&step=week&by=category").get_data(as_text=True)
    assert page.count("<svg") >= 5
    assert 'id="kpi-sla"' in page and "75%" in page  # 3 of 4 done within SLA
    table = page.split('id="trend-table"')[1].split("</table>")[0]
    assert "02.11.2026" in table and "09.11.2026" in table
    trend = manager.get("/reports/trend.csv?from=2026-11-02&to=2026-11-15&step=week").get_data(as_text=True)
    assert trend.startswith("\ufeff"), "Russian Excel reads UTF-8 only with a BOM"
    lines = list(csv.reader(io.StringIO(trend.removeprefix("\ufeff"))))
    assert lines[0][:4] == ["period_start", "opened", "closed", "backlog"]
    # Week 1: 4 opened, 3 closed (one after 30 h is on Tuesday), one old request still open before.
    assert lines[1][:4] == ["2026-11-02", "4", "3", "2"]
    assert lines[2][:4] == ["2026-11-09", "1", "1", "2"]
    assert "Принтеры и МФУ" in page.split('id="group-table"')[1]
    groups = manager.get("/reports/groups.csv?from=2026-11-02&to=2026-11-15&by=executor").get_data(
        as_text=True
    )
    assert "Евгений Исполнителев,4,9.00" in groups


def test_processing_csv_has_words_iso_times_with_offset_and_yes_no(desk_with_history):
    manager = staff_client(desk_with_history, "boss", "pw-boss")
    text = manager.get("/reports/processing.csv").get_data(as_text=True).removeprefix("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text)))
    first = rows[0]  # the header is in the manager's language, Russian
    assert first["Категория"] == "Принтеры и МФУ" and first["Канал"] == "Телефон"
    assert first["Приоритет"] == "Высокий" and first["Исполнитель"] == "Евгений Исполнителев"
    assert first["Создана"] == "2026-11-02T10:00:00+03:00"
    assert {r["SLA соблюдён"] for r in rows} == {"да", "нет"}
    assert "True" not in manager.get("/reports/processing.csv").get_data(as_text=True)


def test_element_times_count_open_tasks_until_now_and_heat_is_relative():
    t0 = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    rows = [
        ("Task_Dispatch", t0, t0 + timedelta(minutes=30)),
        ("Task_Dispatch", t0, t0 + timedelta(minutes=90)),
        ("Task_Resolve", t0, None),
    ]
    times = reports.element_times(rows, now=t0 + timedelta(hours=4))
    assert times["Task_Dispatch"].count == 2 and times["Task_Dispatch"].average_minutes == 60
    assert times["Task_Resolve"].average_minutes == 240
    assert reports.heat(times) == {"Task_Dispatch": 0.25, "Task_Resolve": 1.0}


def test_definition_page_paints_where_instances_wait(any_app):
    from sqlalchemy import select

    from engine.store import ProcessDefinition
    from tests.conftest import seed_desk

    app = seed_desk(any_app)
    with app.extensions["sessions"]() as session:
        definition_id = session.scalars(
            select(ProcessDefinition.id).where(ProcessDefinition.key == "service_request")
        ).first()
    page = staff_client(app, "manager").get(f"/processes/definitions/{definition_id}").get_data(as_text=True)
    assert 'class="bpmn-overlay bpmn-heat" data-overlay-for="Task_Dispatch"' in page
    assert "Время на каждом шаге" in page and "Назначить исполнителя" in page
    app.extensions["db_engine"].dispose()


def test_element_times_from_database_sums():
    times = reports.element_times_from_sums([("Task_Dispatch", 2, 120.0), ("Task_Resolve", 1, 240.0)])
    assert times["Task_Dispatch"].average_minutes == 60 and times["Task_Resolve"].count == 1
