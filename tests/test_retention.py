"""History cleanup (issue 23): time to live from the diagram or the default, removal in batches
of whole instances, running instances untouched, one cleaner at a time, and its doors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from engine import retention
from engine.deploy import DeployError, deploy
from engine.retention import (
    BatchWindowError,
    CleanupOptions,
    HistoryTimeToLiveError,
    current_or_next_window,
    owned_tables,
    parse_history_ttl,
    parse_window_time,
)
from engine.retention_state import CleanupBusyError
from engine.store import Base, HistoryEvent, Instance, UserTask
from service.permissions import Principal
from tests.conftest import PROJECT, Clock
from web import retention as web_retention

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ADMIN = Principal.of("admin", roles=("admin",))
BIN = PROJECT / ".venv" / "bin"

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://example.org">
  <bpmn:process id="{key}" isExecutable="true"{ttl}>
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:userTask id="work" name="Work" camunda:assignee="demo"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def diagram(key: str, ttl: str | None) -> bytes:
    attr = "" if ttl is None else f' camunda:historyTimeToLive="{ttl}"'
    return DIAGRAM.format(key=key, ttl=attr).encode()


def deploy_key(app, key: str, ttl: str | None):
    runtime = app.extensions["runtime"]
    return deploy(
        runtime.session_factory,
        {f"{key}.bpmn": diagram(key, ttl)},
        known_topics=runtime.handlers.topics(),
        now=runtime.now(),
        default_history_ttl=app.config["HISTORY_TIME_TO_LIVE"],
    )


def finished(app, key: str, count: int = 1) -> list[str]:
    """Start `count` instances of `key` and complete their task: finished at the clock's time."""
    runtime = app.extensions["runtime"]
    ids = []
    for _ in range(count):
        instance_id = runtime.start(key).id
        with runtime.session_factory() as session:
            task_id = session.scalar(select(UserTask.id).where(UserTask.instance_id == instance_id))
        runtime.complete(task_id, "demo")
        ids.append(instance_id)
    return ids


def running(app, key: str) -> str:
    return app.extensions["runtime"].start(key).id


def cleanup(app, **kwargs):
    with app.app_context():
        return web_retention.run_now(app, ADMIN, "test", **kwargs)


def present(app, ids: list[str]) -> set[str]:
    with app.extensions["sessions"]() as session:
        return set(session.scalars(select(Instance.id).where(Instance.id.in_(ids))))


def rows_of(app, instance_id: str) -> int:
    """Every row in an engine table that names the instance."""
    total = 0
    with app.extensions["sessions"]() as session:
        for table in Base.metadata.sorted_tables:
            column = "id" if table.name == "instance" else "instance_id"
            if column in table.c:
                total += session.scalar(
                    select(func.count()).select_from(table).where(table.c[column] == instance_id)
                )
    return total


@pytest.fixture
def app(any_app):
    any_app.extensions["runtime"].clock = Clock(T0)
    any_app.config["HISTORY_TIME_TO_LIVE"] = 30
    return any_app


def at(app, moment: datetime) -> None:
    app.extensions["runtime"].clock.now = moment


# ------------------------------------------------------------------------------ time to live


@pytest.mark.parametrize(
    ("raw", "days"), [("5", 5), ("P5D", 5), ("0", 0), ("P0D", 0), (" 180 ", 180), (None, None)]
)
def test_history_time_to_live_reads_days_or_p_n_d_as_camunda(raw, days):
    assert parse_history_ttl(raw) == days


@pytest.mark.parametrize("raw", ["-1", "P-1D", "P1Y", "PT5H", "5d", "abc", "P5DT1H"])
def test_a_time_to_live_that_is_not_days_is_refused(raw):
    with pytest.raises(HistoryTimeToLiveError, match="P<n>D"):
        parse_history_ttl(raw)


def test_a_diagram_with_a_bad_time_to_live_is_refused_at_deploy_naming_the_process(app):
    with pytest.raises(DeployError) as caught:
        deploy_key(app, "bad_ttl", "P1Y")
    problem = caught.value.problems[0]
    assert problem.element_id == "bad_ttl" and "P1Y" in problem.message and problem.line


def test_time_to_live_from_the_diagram_removes_the_instance_after_that_many_days(app):
    report = deploy_key(app, "ttl_five", "P5D")
    assert (report.definitions[0].history_ttl, report.definitions[0].history_ttl_source) == (5, "diagram")
    assert "5 days (from the diagram)" in "\n".join(report.lines())
    ids = finished(app, "ttl_five", 2)
    assert rows_of(app, ids[0]) > 3  # instance, task, history events
    at(app, T0 + timedelta(days=5) - timedelta(seconds=1))
    assert cleanup(app).removed_instances == 0 and present(app, ids) == set(ids)
    at(app, T0 + timedelta(days=5))
    result = cleanup(app)
    assert result.removed_instances == 2 and result.remaining_due == 0
    assert present(app, ids) == set() and rows_of(app, ids[0]) == 0 and rows_of(app, ids[1]) == 0


def test_a_diagram_without_time_to_live_gets_the_configured_default(app):
    report = deploy_key(app, "no_ttl", None)
    assert (report.definitions[0].history_ttl, report.definitions[0].history_ttl_source) == (30, "default")
    assert "30 days (the default, HISTORY_TIME_TO_LIVE)" in "\n".join(report.lines())
    [done] = finished(app, "no_ttl")
    at(app, T0 + timedelta(days=29))
    assert cleanup(app).removed_instances == 0
    at(app, T0 + timedelta(days=30, minutes=1))
    assert cleanup(app).removed_instances == 1 and present(app, [done]) == set()


def test_with_no_default_a_diagram_without_time_to_live_keeps_its_history(app):
    app.config["HISTORY_TIME_TO_LIVE"] = None
    report = deploy_key(app, "kept", None)
    assert report.definitions[0].history_ttl_source == "none"
    [done] = finished(app, "kept")
    at(app, T0 + timedelta(days=3650))
    assert cleanup(app).removed_instances == 0 and present(app, [done]) == {done}


def test_p0d_removes_a_finished_instance_at_the_next_run_and_leaves_running_ones(app):
    deploy_key(app, "zero", "P0D")
    [done] = finished(app, "zero")
    still = running(app, "zero")
    at(app, T0 + timedelta(seconds=1))
    result = cleanup(app)
    assert result.removed_instances == 1 and present(app, [done, still]) == {still}


def test_running_instances_are_never_touched_however_old(app):
    deploy_key(app, "old", "P1D")
    at(app, T0 - timedelta(days=400))
    old_running = running(app, "old")
    before = rows_of(app, old_running)
    cancelled = running(app, "old")
    app.extensions["runtime"].cancel(cancelled, user="admin")
    at(app, T0)
    result = cleanup(app)
    assert result.removed_instances == 1, "the cancelled one is finished, so it goes"
    assert present(app, [old_running, cancelled]) == {old_running}
    assert rows_of(app, old_running) == before
    with app.extensions["sessions"]() as session:
        assert session.get(Instance, old_running).removal_time is None


def test_what_belongs_to_an_instance_is_found_in_the_metadata():
    names = {o.table.name for o in owned_tables()}
    assert {"user_task", "task_candidate", "job", "timer", "message_subscription", "incident"} <= names
    assert {"history_event", "variable_audit", "migration_batch_item"} <= names
    assert "instance" not in names and "process_definition" not in names


# ------------------------------------------------------------------------------ batches, lease


def test_removal_runs_in_batches_and_records_its_progress(app):
    deploy_key(app, "many", "P1D")
    ids = finished(app, "many", 9)
    at(app, T0 + timedelta(days=2))
    dry = cleanup(app, dry_run=True)
    assert dry.removed_instances == 9 and dry.removed_rows > 9
    assert present(app, ids) == set(ids), "a dry run changes nothing"
    result = cleanup(app, batch=4)
    assert (result.batches, result.removed_instances, result.removed_rows) == (3, 9, dry.removed_rows)
    status = web_retention.status(app)
    assert status["status"] == "idle" and status["holder"] is None
    assert (status["removed_instances"], status["batches"], status["remaining_due"]) == (9, 3, 0)
    assert status["trigger"] == "test" and status["due_now"] == 0


def test_a_cleanup_stops_at_the_end_of_its_window_with_the_rest_left_due(app):
    deploy_key(app, "windowed", "P1D")
    finished(app, "windowed", 3)
    at(app, T0 + timedelta(days=2))
    result = cleanup(app, batch=1, until=T0 + timedelta(days=2))
    assert result.removed_instances == 0 and result.stopped == "window" and result.remaining_due == 3


def test_a_second_cleaner_is_refused_while_the_first_holds_the_lease(app):
    deploy_key(app, "leased", "P1D")
    finished(app, "leased", 2)
    at(app, T0 + timedelta(days=2))
    sessions = app.extensions["sessions"]
    with sessions() as session, session.begin():
        retention.retention_state.claim(
            session, "other-process", "cli", T0 + timedelta(days=2), timedelta(minutes=1)
        )
    with pytest.raises(CleanupBusyError, match="other-process"):
        cleanup(app)
    at(app, T0 + timedelta(days=2, minutes=2))  # its lease ran out: it died
    assert cleanup(app).removed_instances == 2


def test_two_cleaners_at_once_remove_each_instance_once_and_never_collide(app):
    """Two threads remove due batches without the lease: SKIP LOCKED (PostgreSQL) or the write lock
    (SQLite) gives each batch to one of them."""
    deploy_key(app, "race", "P1D")
    ids = finished(app, "race", 12)
    at(app, T0 + timedelta(days=2))
    sessions = app.extensions["sessions"]
    with sessions() as session, session.begin():
        assert retention.stamp_removal_times(session, T0 + timedelta(days=2), 30) == 12
    removed: list[list[str]] = [[], []]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def clean(slot: int) -> None:
        try:
            start.wait()
            while True:
                with sessions() as session, session.begin():
                    lock = session.bind.dialect.name == "postgresql"
                    batch = retention.due_ids(session, T0 + timedelta(days=2), 2, lock=lock)
                    if not batch:
                        return
                    retention.remove_instances(session, batch)
                removed[slot].extend(batch)
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=clean, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(removed[0] + removed[1]) == sorted(ids), "each instance removed exactly once"
    assert present(app, ids) == set()


def test_two_cleanup_runs_at_once_one_runs_the_other_is_told(app):
    deploy_key(app, "pair", "P1D")
    ids = finished(app, "pair", 6)
    at(app, T0 + timedelta(days=2))
    outcomes: list[object] = []
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        try:
            outcomes.append(cleanup(app, batch=1))
        except CleanupBusyError as err:
            outcomes.append(err)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    results = [o for o in outcomes if isinstance(o, retention.CleanupResult)]
    assert len(outcomes) == 2 and sum(r.removed_instances for r in results) == 6
    assert present(app, ids) == set()


# ------------------------------------------------------------------------------ batch window


def test_the_batch_window_is_camundas_daily_window_past_midnight_too():
    start, end = parse_window_time("22:00", "start"), parse_window_time("06:00", "end")
    inside = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)
    window = current_or_next_window(inside, start, end, UTC)
    assert window.start == datetime(2026, 1, 5, 22, 0, tzinfo=UTC) and window.contains(inside)
    noon = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)
    window = current_or_next_window(noon, start, end, UTC)
    assert window.start == datetime(2026, 1, 6, 22, 0, tzinfo=UTC) and not window.contains(noon)
    offset = parse_window_time("23:00+0300", "start")
    assert current_or_next_window(noon, offset, end, UTC).start == datetime(2026, 1, 6, 20, 0, tzinfo=UTC)
    assert current_or_next_window(noon, None, None, UTC) is None
    with pytest.raises(BatchWindowError, match="HH:mm"):
        parse_window_time("25:00", "HISTORY_CLEANUP_BATCH_WINDOW_START_TIME")


def test_the_embedded_worker_cleans_inside_the_window_only(app):
    deploy_key(app, "nightly", "P1D")
    ids = finished(app, "nightly", 2)
    app.config.update(
        HISTORY_CLEANUP_BATCH_WINDOW_START_TIME="22:00Z", HISTORY_CLEANUP_BATCH_WINDOW_END_TIME="06:00Z"
    )
    at(app, datetime(2026, 1, 7, 12, 0, tzinfo=UTC))
    with app.app_context():
        assert web_retention.run_scheduled_slice(app, "worker") is None
        at(app, datetime(2026, 1, 7, 23, 0, tzinfo=UTC))
        result = web_retention.run_scheduled_slice(app, "worker")
    assert result is not None and result.removed_instances == 2 and present(app, ids) == set()


# ------------------------------------------------------------------------------ killed mid-run


def test_a_cleanup_killed_mid_batch_leaves_whole_instances_only(app, tmp_path):
    """SIGKILL a real `history-cleanup` process while it deletes; every instance is then either
    gone with all its rows or still there with all of them, and the next run finishes."""
    deploy_key(app, "killed", "P1D")
    at(app, T0 - timedelta(days=30))
    ids = finished(app, "killed", 40)
    sizes = {i: rows_of(app, i) for i in ids}
    url = app.config["DATABASE_URL"]
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PYTHONPATH": str(PROJECT),
        "HISTORY_CLEANUP_LEASE_SECONDS": "1",
        "HISTORY_CLEANUP_PAUSE_SECONDS": "0.2",  # 40 batches take 8 s: the kill lands part-way
    }
    env.pop("REDIS_URL", None)
    argv = [str(BIN / "flask"), "--app", "web", "history-cleanup", "--batch", "1", "--json"]
    killed_at = None
    for _attempt in range(5):
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if len(present(app, ids)) < len(ids):
                break
            time.sleep(0.02)
        time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed_at = len(present(app, ids))
            break
        proc.communicate()
    assert killed_at is not None and 0 < killed_at < len(ids), "the process was killed part-way"
    for instance_id in ids:
        assert rows_of(app, instance_id) in (0, sizes[instance_id]), f"{instance_id} half removed"
    time.sleep(1.2)  # the dead run's lease (1 s) runs out
    # Without the pause: it only made the first run slow enough to be killed part-way.
    rerun = {**env, "HISTORY_CLEANUP_PAUSE_SECONDS": "0"}
    out = subprocess.run(argv, env=rerun, capture_output=True, text=True, timeout=120, check=True).stdout
    summary = json.loads(out)
    assert set(summary) == {"removed_instances", "removed_rows", "remaining_due", "seconds"}
    assert summary["removed_instances"] == killed_at and summary["remaining_due"] == 0
    assert present(app, ids) == set()


def test_cleanup_options_refuse_a_batch_below_one(app):
    import click

    with pytest.raises(click.BadParameter, match="batch"):
        web_retention.options(app, batch=0)
    assert isinstance(web_retention.options(app), CleanupOptions)
    assert HistoryEvent.__tablename__ in {o.table.name for o in owned_tables()}


NEW_TABLES = {"history_cleanup_state", "erasure_log"}
NEW_NAMES = {"history_ttl", "removal_time", "erased_at", "ix_instance_removal_time", "ix_instance_unstamped"}


def _only_retention(obj, name, type_, reflected, compare_to) -> bool:
    """Migration 0018's tables, columns and indexes, so other tables' drift is not this test's."""
    table = name if type_ == "table" else obj.table.name
    return table in NEW_TABLES or name in NEW_NAMES


@pytest.mark.postgres
def test_migration_0018_matches_the_models(postgres_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    import desk.erasure  # noqa: F401
    import engine.retention_state  # noqa: F401
    from desk.models import Base as DeskBase
    from web.db import upgrade

    upgrade(postgres_url)
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": _only_retention})
            diff = compare_metadata(context, [Base.metadata, DeskBase.metadata])
    finally:
        engine.dispose()
    assert diff == []


def test_configuration_reads_the_default_time_to_live_and_checks_the_window(monkeypatch, tmp_path):
    from web.config import load_config

    monkeypatch.setenv("HISTORY_TIME_TO_LIVE", "P90D")
    monkeypatch.setenv("HISTORY_CLEANUP_BATCH_WINDOW_START_TIME", "")
    config = load_config(str(tmp_path))
    assert config["HISTORY_TIME_TO_LIVE"] == 90 and config["HISTORY_CLEANUP_BATCH_WINDOW_START_TIME"] is None
    monkeypatch.setenv("HISTORY_TIME_TO_LIVE", "none")
    assert load_config(str(tmp_path))["HISTORY_TIME_TO_LIVE"] is None
    monkeypatch.setenv("HISTORY_CLEANUP_BATCH_WINDOW_END_TIME", "6 am")
    with pytest.raises(BatchWindowError, match="HISTORY_CLEANUP_BATCH_WINDOW_END_TIME"):
        load_config(str(tmp_path))
    monkeypatch.setenv("HISTORY_TIME_TO_LIVE", "half a year")
    with pytest.raises(HistoryTimeToLiveError, match="HISTORY_TIME_TO_LIVE"):
        load_config(str(tmp_path))
