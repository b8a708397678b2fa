"""The demo seed leaves the same open work on every run, with something in each role's hands.

The sample requests start at one instant and task ids are random UUIDs; the seed must not let
either decide which requests it dispatches, approves and resolves (a browser test once found
the executor with nothing to do on one run in three).
"""

from __future__ import annotations

from sqlalchemy import select

from engine.store import UserTask
from tests.conftest import _seed, make_app


def open_work(app) -> list[tuple[str, str | None, str | None]]:
    with app.extensions["sessions"]() as session:
        rows = session.execute(
            select(UserTask.element_id, UserTask.assignee, UserTask.business_key).where(
                UserTask.status == "open"
            )
        ).all()
    return sorted((element, assignee, key) for element, assignee, key in rows)


def test_two_seeds_leave_the_same_open_work_and_each_executor_holds_a_request(tmp_path):
    first, second = (open_work(_seed(make_app(f"sqlite:///{tmp_path}/{name}.db"))) for name in ("one", "two"))
    assert first == second
    resolving = {assignee for element, assignee, _ in first if element == "Task_Resolve"}
    assert resolving == {"executor", "executor2"}
    assert {element for element, _, _ in first} >= {"Task_Triage", "Task_Dispatch", "Task_Approve"}
