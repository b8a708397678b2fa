"""The instance page follows the matrix's process_instance read: its starter, managers and analysts,
plus the people of its tasks (the request page links them to their own request's instance);
any other signed-in user gets 403. On SQLite and PostgreSQL, with the demo seed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.store import UserTask
from tests.web_helpers import seeded_fixture, staff_client  # noqa: F401  (fixture "seeded")


def open_triage(app) -> UserTask:
    with app.extensions["sessions"]() as session:
        stmt = select(UserTask).where(UserTask.status == "open", UserTask.element_id == "Task_Triage")
        return session.scalars(stmt.order_by(UserTask.business_key)).first()


@pytest.mark.parametrize(
    ("username", "status"),
    [
        ("manager", 200),
        ("analyst", 200),
        ("admin", 200),
        ("operator", 200),
        ("executor", 403),
        ("approver", 403),
    ],
)
def test_only_readers_and_the_people_of_its_tasks_open_an_instance(seeded, username, status):
    task = open_triage(seeded)
    page = staff_client(seeded, username).get(f"/processes/instances/{task.instance_id}")
    assert page.status_code == status, f"{username} got {page.status_code}"
    if status == 200:
        assert task.business_key in page.get_data(as_text=True)


def test_an_unknown_instance_is_404_for_a_reader(seeded):
    assert staff_client(seeded, "analyst").get("/processes/instances/no-such-instance").status_code == 404
