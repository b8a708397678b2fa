"""Task-list counts stop at a bound ("1000+", as Camunda's Tasklist shows) and are never wrong,
and the day's order (nearest deadline first, then priority) is the same on both databases."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from engine.store import Instance, ProcessDefinition, TaskCandidate, UserTask
from engine.tasklist import URGENCY, CountBoundError, TaskQuery, query_tasks
from tests.conftest import MONDAY_10, make_app, seed_desk
from tests.web_helpers import staff_client
from web.demo import create_user

GROUP = "night_shift"
TASK_LINK = re.compile(r'href="/tasks/([0-9a-f-]{36})"')


def offer_tasks(app, count: int, *, group: str = GROUP, dues=None, priorities=None) -> list[str]:
    """`count` open, unassigned tasks offered to `group`, each on an instance of its own."""
    with app.extensions["sessions"]() as session:
        definition = session.scalars(
            select(ProcessDefinition).where(ProcessDefinition.key == "service_request")
        ).first()
    ids = [str(uuid.uuid4()) for _ in range(count)]
    instances, tasks, candidates = [], [], []
    for i, task_id in enumerate(ids):
        instance_id = str(uuid.uuid4())
        created = MONDAY_10 - timedelta(minutes=i)
        instances.append(
            dict(
                id=instance_id,
                definition_id=definition.id,
                definition_key=definition.key,
                business_key=f"NIGHT-{i}",
                status="running",
                state=b"{}",
                variables={},
                waiting={task_id: "user"},
                started_at=created,
                version=1,
            )
        )
        tasks.append(
            dict(
                id=task_id,
                instance_id=instance_id,
                definition_id=definition.id,
                definition_key=definition.key,
                business_key=f"NIGHT-{i}",
                element_id="Task_Dispatch",
                name=f"Night task {i}",
                candidate_groups=[group],
                candidate_users=[],
                due=dues[i] if dues else None,
                priority=priorities[i] if priorities else 50,
                status="open",
                created_at=created,
            )
        )
        candidates.append({"task_id": task_id, "kind": "group", "name": group})
    with app.extensions["db_engine"].begin() as conn:
        conn.execute(insert(Instance.__table__), instances)
        conn.execute(insert(UserTask.__table__), tasks)
        conn.execute(insert(TaskCandidate.__table__), candidates)
    return ids


def group_count(app, bound: int | None):
    with app.extensions["sessions"]() as session:
        return query_tasks(session, TaskQuery(groups=[GROUP], unassigned=True, limit=0), count_bound=bound)


def test_a_count_at_the_bound_is_exact_and_one_past_it_says_at_least_the_bound(desk):
    offer_tasks(desk, 3)
    offer_tasks(desk, 5, group="day_shift")  # another group's tasks are never counted

    at_bound = group_count(desk, 3)
    assert (at_bound.total, at_bound.bounded, at_bound.total_label) == (3, False, "3")

    offer_tasks(desk, 1)
    past_bound = group_count(desk, 3)
    assert (past_bound.total, past_bound.bounded, past_bound.total_label) == (3, True, "3+")
    assert group_count(desk, None).total == 4, "an exact count is still exact"
    assert group_count(desk, 4).total_label == "4", "at a bound of 4 the same 4 tasks are exact again"


def test_a_negative_bound_is_refused_naming_it(desk):
    with pytest.raises(CountBoundError, match="-1"):
        group_count(desk, -1)


def test_the_days_order_is_nearest_deadline_first_then_priority_then_tasks_without_a_deadline(desk):
    dues = [MONDAY_10 + timedelta(hours=h) if h is not None else None for h in (5, None, 1, 5, None, 3, 1)]
    priorities = [50, 90, 20, 90, 10, 50, 80]
    ids = offer_tasks(desk, len(dues), dues=dues, priorities=priorities)
    expected = [
        task_id
        for _, _, task_id in sorted(
            zip(dues, priorities, ids, strict=True),
            key=lambda t: (t[0] is None, t[0] or MONDAY_10, -t[1], t[2]),
        )
    ]

    with desk.extensions["sessions"]() as session:
        page = query_tasks(session, TaskQuery(groups=[GROUP], sort=URGENCY, limit=50), count=False)

    assert [t.id for t in page.tasks] == expected


@pytest.fixture
def bounded_app(database_url):
    app = make_app(database_url, TASK_LIST_COUNT_BOUND=3)
    seed_desk(app)
    with app.app_context():
        create_user("nightowl", "demo", roles=["executor"], groups=[GROUP])
    yield app
    app.extensions["db_engine"].dispose()


def test_the_task_list_shows_a_bounded_tab_count_and_pages_on_while_tasks_remain(bounded_app):
    offer_tasks(bounded_app, 30)
    client = staff_client(bounded_app, "nightowl")

    first = client.get("/tasks/?scope=groups").get_data(as_text=True)
    assert '<span class="count">3+</span>' in first
    assert len(set(TASK_LINK.findall(first))) == 25
    assert "Page 1 · 3+" in first.replace("Страница", "Page") and 'rel="next"' in first

    second = client.get("/tasks/?scope=groups&page=2").get_data(as_text=True)
    assert len(set(TASK_LINK.findall(second))) == 5
    assert 'rel="next"' not in second and 'rel="prev"' in second
    assert not set(TASK_LINK.findall(first)) & set(TASK_LINK.findall(second))


def test_the_task_list_count_at_the_bound_is_the_exact_number(bounded_app):
    offer_tasks(bounded_app, 3)
    page = staff_client(bounded_app, "nightowl").get("/tasks/?scope=groups").get_data(as_text=True)

    assert '<span class="count">3</span>' in page and "3+" not in page
    assert len(set(TASK_LINK.findall(page))) == 3


def test_a_page_a_bounded_count_and_an_exact_count_see_the_same_tasks_as_the_rule(desk):
    """Visibility is spelled two ways for the database (engine.tasklist.visible_to): walked for
    a page and a bounded count, collected for an exact count. Both give what may_work says, on
    tasks assigned to the user, to someone else, offered to the user by name, to the group, to
    another group, and both."""
    from engine.tasklist import may_work

    ids = offer_tasks(desk, 12, group=GROUP)
    other = offer_tasks(desk, 5, group="day_shift")
    with desk.extensions["sessions"]() as session, session.begin():
        rows = {t.id: t for t in session.scalars(select(UserTask).where(UserTask.id.in_(ids + other)))}
        rows[ids[0]].assignee = "olga"  # assigned to the user: visible
        rows[ids[1]].assignee = "petr"  # assigned to someone else: gone from the group
        rows[other[0]].candidate_users = ["olga"]  # offered to the user by name in another group
        session.add(TaskCandidate(task_id=other[0], kind="user", name="olga"))
        rows[other[1]].assignee = "olga"
        expected = sorted(
            t.id
            for t in session.scalars(select(UserTask).where(UserTask.status == "open"))
            if may_work(t, "olga", [GROUP])
        )
    for sort in (URGENCY, "created"):
        query = TaskQuery(user="olga", groups=[GROUP], sort=sort, limit=500)
        with desk.extensions["sessions"]() as session:
            exact = query_tasks(session, query)
            bounded = query_tasks(session, query, count_bound=1000)
        assert sorted(t.id for t in exact.tasks) == sorted(t.id for t in bounded.tasks) == expected
        assert exact.total == bounded.total == len(expected)
    assert (
        {ids[0], other[0], other[1]} <= set(expected) and ids[1] not in expected and other[2] not in expected
    )
