"""The definition page's element counts and heat map, read from the counters the triggers on
`user_task` keep, equal what counting the version's tasks gives (tests/element_stats_reference.py),
after every kind of write the engine and its tools make, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, insert, select, update

from engine import element_stats, retention
from engine.deploy import deploy
from engine.migration import migrate_instance, plan
from engine.runtime import Engine
from engine.store import ElementStat, Instance, ProcessDefinition, UserTask
from tests import element_stats_reference as reference
from tests.conftest import PROJECT, Clock
from tests.test_migration import END, START, V1, V2_ADDED, diagram, user_task
from web.views import processes

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
APPROVALS = PROJECT / "tests" / "data" / "bpmn" / "approvals.bpmn"
BIG_PURCHASE = {"amount": 5000, "category": "network", "approvers": ["anna", "boris", "vera"]}


@pytest.fixture
def app(any_app):
    any_app.extensions["runtime"].clock = Clock(T0)
    with any_app.app_context():
        yield any_app


@pytest.fixture
def engine(app) -> Engine:
    return app.extensions["runtime"]


def put(engine: Engine, name: str, content: bytes) -> str:
    return (
        deploy(engine.session_factory, {name: content}, known_topics=engine.handlers.topics())
        .definitions[0]
        .id
    )


def versions(engine: Engine) -> list[str]:
    with engine.session_factory() as session:
        return list(session.scalars(select(ProcessDefinition.id).order_by(ProcessDefinition.id)))


def open_tasks(engine: Engine, instance_id: str) -> list[UserTask]:
    with engine.session_factory() as session:
        return list(
            session.scalars(
                select(UserTask)
                .where(UserTask.instance_id == instance_id, UserTask.status == "open")
                .order_by(UserTask.id)
            )
        )


def assert_page_numbers_match(engine: Engine) -> None:
    """For every version: waiting instances and incidents per element, tasks and average minutes."""
    with engine.session_factory() as session:
        for definition_id in versions(engine):
            assert processes._element_counts(session, definition_id) == reference.element_counts(
                session, definition_id
            ), definition_id
            kept = processes._element_times(session, definition_id)
            counted = reference.element_times(session, definition_id, engine.now())
            assert {e: t.count for e, t in kept.items()} == {e: t.count for e, t in counted.items()}
            for element_id, time in counted.items():
                assert kept[element_id].average_minutes == pytest.approx(
                    time.average_minutes, rel=1e-9, abs=1e-6
                )


def counters(engine: Engine) -> dict[tuple[str, str], tuple[int, int, float]]:
    """(version, element) -> (waiting instances of any status, tasks, minutes until now)."""
    found = {}
    with engine.session_factory() as session:
        for definition_id in versions(engine):
            sums = element_stats.read(session, definition_id, engine.now())
            for element_id, tasks, minutes in sums.times:
                found[definition_id, element_id] = (sums.waiting.get(element_id, 0), tasks, minutes)
    return found


def delta_rows(engine: Engine) -> int:
    with engine.session_factory() as session:
        return session.scalar(select(func.count()).select_from(ElementStat))


def test_counters_follow_starts_completions_cancels_migrations_and_deletes(engine):
    v1 = put(engine, "approval.bpmn", V1)
    approvals = put(engine, "approvals.bpmn", APPROVALS.read_bytes())
    first, second, third = (engine.start(definition_id=v1, business_key=f"A-{i}") for i in range(3))
    assert_page_numbers_match(engine)

    engine.clock.now = T0 + timedelta(hours=2, minutes=17)
    engine.complete(open_tasks(engine, first.id)[0].id, "reviewer", {})
    assert_page_numbers_match(engine)

    # A parallel multi-instance user task: one instance waits three times at one element.
    big = engine.start(definition_id=approvals, variables=BIG_PURCHASE)
    engine.start(definition_id=approvals, variables=BIG_PURCHASE | {"approvers": ["gleb"]})
    with engine.session_factory() as session:
        assert processes._element_counts(session, approvals)[0]["approve"] == 2
    assert_page_numbers_match(engine)
    engine.clock.now = T0 + timedelta(hours=5)
    anna = next(t for t in open_tasks(engine, big.id) if t.assignee == "anna")
    engine.complete(anna.id, "anna", {"approved": True})
    assert_page_numbers_match(engine)

    engine.cancel(second.id, user="admin", reason="duplicate")
    assert_page_numbers_match(engine)

    # A new version, and one instance moved to it: its open task changes version under one UPDATE.
    engine.clock.now = T0 + timedelta(days=1)
    v2 = put(engine, "approval.bpmn", V2_ADDED)
    with engine.session_factory() as session:
        moving = plan(engine.definition(session, v1), engine.definition(session, v2))
    migrate_instance(engine, moving, third.id, user="admin")
    assert_page_numbers_match(engine)
    engine.complete(open_tasks(engine, third.id)[0].id, "reviewer", {})
    assert_page_numbers_match(engine)

    # One UPDATE moves the two open tasks the big purchase still has at one element.
    with engine.session_factory() as session, session.begin():
        moved = session.execute(
            update(UserTask)
            .where(UserTask.instance_id == big.id, UserTask.status == "open")
            .values(element_id="approve_again")
        )
        assert moved.rowcount == 2
    assert_page_numbers_match(engine)

    # An instance marked finished with its task left open (a hand-made fix): the page leaves it out.
    with engine.session_factory() as session, session.begin():
        session.execute(update(Instance).where(Instance.id == third.id).values(status="completed"))
        session.execute(update(Instance).where(Instance.id == big.id).values(status="cancelled"))
    assert_page_numbers_match(engine)

    # Deleting an instance deletes its tasks by the foreign key's cascade.
    with engine.session_factory() as session, session.begin():
        session.execute(delete(Instance).where(Instance.id == big.id))
    assert_page_numbers_match(engine)


def test_history_cleanup_takes_removed_instances_tasks_off_the_heat_map(engine):
    v1 = put(engine, "approval.bpmn", V1)
    started = [engine.start(definition_id=v1) for _ in range(4)]
    engine.clock.now = T0 + timedelta(minutes=95)
    for instance in started[:3]:
        engine.complete(open_tasks(engine, instance.id)[0].id, "reviewer", {})
    engine.cancel(started[3].id)
    with engine.session_factory() as session, session.begin():
        assert retention.stamp_removal_times(session, T0 + timedelta(days=2), 1) == 4
    with engine.session_factory() as session, session.begin():
        assert retention.remove_instances(session, [i.id for i in started[:2]]) > 0
    assert_page_numbers_match(engine)
    assert counters(engine)[v1, "review"][1] == 2


def test_bulk_inserted_tasks_count_like_the_engine_s_own(engine):
    """Core inserts of many rows at once (the bench seeds tasks so; PostgreSQL runs its trigger once
    per statement), several open at one element of one instance, some already ended."""
    v1 = put(engine, "approval.bpmn", V1)
    holders = [engine.start(definition_id=v1) for _ in range(3)]
    rows = []
    for i in range(30):
        ended = i % 4 == 0
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "instance_id": holders[i % 3].id,
                "definition_id": v1,
                "definition_key": "approval",
                "element_id": ("review", "check", "sign")[i % 3 if i < 15 else 0],
                "candidate_groups": [],
                "candidate_users": [],
                "status": "completed" if ended else "open",
                "created_at": T0 - timedelta(hours=i, seconds=i * 7.25),
                "completed_at": T0 - timedelta(minutes=i) if ended else None,
            }
        )
    with engine.session_factory() as session, session.begin():
        session.execute(insert(UserTask), rows)
    engine.clock.now = T0 + timedelta(hours=3)
    assert_page_numbers_match(engine)
    assert counters(engine)[v1, "review"][0] == 3


def test_rebuild_command_and_compaction_keep_the_sums(app, engine, monkeypatch):
    v1 = put(engine, "approval.bpmn", V1)
    v2 = put(engine, "approval.bpmn", diagram("approval", [START, user_task("review"), END]))
    for i in range(6):
        instance = engine.start(definition_id=v1 if i % 2 else v2)
        engine.clock.now += timedelta(minutes=13)
        if i % 3:
            engine.complete(open_tasks(engine, instance.id)[0].id, "reviewer", {})
    kept = counters(engine)

    result = CliRunner().invoke(app.cli, ["reports", "rebuild-element-stats"], catch_exceptions=False)
    assert result.exit_code == 0 and "2 elements" in result.output
    assert delta_rows(engine) == 2
    rebuilt = counters(engine)
    assert rebuilt.keys() == kept.keys()
    for key, (waiting, tasks, minutes) in kept.items():
        assert rebuilt[key][:2] == (waiting, tasks) and rebuilt[key][2] == pytest.approx(minutes)
    assert_page_numbers_match(engine)

    for _ in range(4):
        engine.complete(open_tasks(engine, engine.start(definition_id=v1).id)[0].id, "reviewer", {})
    before = counters(engine)
    monkeypatch.setattr(element_stats, "COMPACT_AFTER", 3)
    assert not element_stats.compact_if_crowded(app.extensions["db_engine"], v2)
    assert element_stats.compact_if_crowded(app.extensions["db_engine"], v1)
    with engine.session_factory() as session:
        assert session.scalar(select(func.count()).where(ElementStat.definition_id == v1)) == 1
    after = counters(engine)
    for key, (waiting, tasks, minutes) in before.items():
        assert after[key][:2] == (waiting, tasks) and after[key][2] == pytest.approx(minutes)
    assert_page_numbers_match(engine)
