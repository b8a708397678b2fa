"""bpmn/owner_sync.bpmn: contacts follow their deal's responsible, by event and by a resumable mass run."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, select

from desk.models import Contact, Deal, Notification, OwnerSyncRun
from engine.store import Instance
from tests.conftest import MONDAY_10

EMPLOYEES = ["executor", "executor2", "manager", "dispatcher"]


def seed_deals(app, deals: int, contacts: int, seed: int = 7) -> None:
    """Deals with 1–3 contacts each; many contacts sit on several deals with different responsibles."""
    rnd = random.Random(seed)
    sessions = app.extensions["sessions"]
    with sessions() as session, session.begin():
        people = [
            Contact(
                name=f"Клиент {i}",
                email=f"client{i}@example.ru",
                phones=[],
                responsible=None,
                created_at=MONDAY_10,
                updated_at=MONDAY_10,
            )
            for i in range(contacts)
        ]
        session.add_all(people)
        session.flush()
        for i in range(deals):
            session.add(
                Deal(
                    title=f"Сделка {i}",
                    amount=1000 + i,
                    responsible=rnd.choice(EMPLOYEES),
                    updated_at=MONDAY_10 - timedelta(minutes=rnd.randrange(100_000)),
                    contacts=rnd.sample(people, rnd.randint(1, 3)),
                )
            )


def expected_owners(app) -> dict[int, str]:
    """The rule, computed independently: a contact gets the responsible of its most recently updated deal."""
    with app.extensions["sessions"]() as session:
        best: dict[int, tuple] = {}
        for deal in session.scalars(select(Deal)):
            for contact in deal.contacts:
                key = (deal.updated_at, deal.id)
                if contact.id not in best or key > best[contact.id][0]:
                    best[contact.id] = (key, deal.responsible)
        return {cid: owner for cid, (_, owner) in best.items()}


def owners(app) -> dict[int, str | None]:
    with app.extensions["sessions"]() as session:
        return {c.id: c.responsible for c in session.scalars(select(Contact))}


def test_changing_a_deals_responsible_moves_its_contacts_and_notifies_both(desk):
    seed_deals(desk, deals=1, contacts=2)
    runtime = desk.extensions["runtime"]
    with desk.extensions["sessions"]() as session, session.begin():
        deal = session.scalars(select(Deal).where(Deal.title == "Сделка 0")).one()
        old = deal.responsible
        new = "executor2" if old != "executor2" else "executor"
        deal.responsible, deal.updated_at = new, MONDAY_10
        deal_id = deal.id
    [instance_id] = runtime.correlate(
        "deal.responsible_changed",
        variables={"deal_id": deal_id, "old_responsible": old, "new_responsible": new},
    )
    with desk.extensions["sessions"]() as session:
        moved = session.scalars(select(Deal).where(Deal.id == deal_id)).one().contacts
        assert {c.responsible for c in moved} == {new}
    with desk.extensions["sessions"]() as session:
        assert session.get(Instance, instance_id).status == "completed"
        told = set(
            session.scalars(select(Notification.recipient).where(Notification.template == "owner_changed"))
        )
        assert told == {old, new}


def run_until(app, instance_id: str, *, batches: int | None = None) -> None:
    """Let the pause timers fire (moving the injected clock), optionally only `batches` times."""
    runtime = app.extensions["runtime"]
    fired = 0
    while batches is None or fired < batches:
        with app.extensions["sessions"]() as session:
            if session.get(Instance, instance_id).status != "running":
                return
        runtime.clock.now += timedelta(seconds=2)
        assert runtime.fire_due_timers() == 1
        fired += 1


def test_mass_run_interrupted_half_way_resumes_and_a_second_run_changes_nothing(desk):
    # 20 batches as in a real mass run; fewer deals per batch (the batching, not the volume, is the point)
    seed_deals(desk, deals=200, contacts=140)
    runtime = desk.extensions["runtime"]
    first = runtime.start("owner_sync_mass", variables={"batch_size": 10, "pause": "PT1S"})
    run_until(desk, first.id, batches=9)  # 10 of 20 batches done, then the run is stopped
    runtime.cancel(first.id, reason="stopped by admin")
    with desk.extensions["sessions"]() as session:
        run = session.scalars(select(OwnerSyncRun)).one()
        assert run.deals_processed == 100 and run.finished_at is None
        run_id = run.id
    resumed = runtime.start(
        "owner_sync_mass", variables={"batch_size": 10, "pause": "PT1S", "run_id": run_id}
    )
    run_until(desk, resumed.id)
    expected = expected_owners(desk)
    actual = owners(desk)
    assert {cid: actual[cid] for cid in expected} == expected
    with desk.extensions["sessions"]() as session:
        run = session.get(OwnerSyncRun, run_id)
        assert run.deals_processed == 201 and run.summary_sent  # the 200 seeded deals and the demo seed's one
        summaries = session.scalars(
            select(Notification.recipient).where(Notification.template == "owner_sync_summary")
        ).all()
        assert sorted(summaries) == sorted(set(summaries)), "one summary per employee"

    again = runtime.start("owner_sync_mass", variables={"batch_size": 10, "pause": "PT1S"})
    run_until(desk, again.id)
    assert owners(desk) == actual
    with desk.extensions["sessions"]() as session:
        second = session.scalars(select(OwnerSyncRun).order_by(OwnerSyncRun.id.desc())).first()
        assert second.id != run_id and second.contacts_changed == 0
        assert session.scalar(select(func.count()).select_from(OwnerSyncRun)) == 2
