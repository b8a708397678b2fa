"""Topic "owner_sync_batch": the next batch of a resumable, idempotent mass owner sync.

The checkpoint (last deal id) commits with the batch's changes, so a run stopped at any
moment resumes after the last committed batch and never applies a batch twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import exists, select

from desk import crm
from desk.models import Deal, OwnerSyncRun, deal_contact
from engine.handlers import HandlerInput, HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import transaction

TOPIC = "owner_sync_batch"
META = TopicMeta(
    name=Text("Пакет синхронизации", "Owner sync batch"),
    description=Text(
        "Следующий пакет сделок после контрольной точки: контакты получают ответственного сделки.",
        "Processes the next batch of deals after the checkpoint: contacts get their deal's responsible.",
    ),
    inputs=(
        HandlerInput(
            "run_id",
            Text("Запуск (id)", "Run (id)"),
            type="integer",
            description=Text(
                "Пусто в первом пакете: создаётся новый запуск; дальше — переменная run_id.",
                "Empty for the first batch (a new run starts); then the variable run_id.",
            ),
        ),
        HandlerInput("batch_size", Text("Сделок в пакете", "Deals per batch"), type="integer", default="50"),
    ),
    outputs=(
        HandlerOutput("run_id", Text("Запуск (id)", "Run (id)"), type="integer"),
        HandlerOutput("done", Text("Все сделки обработаны", "All deals done"), type="boolean"),
        HandlerOutput("processed", Text("Обработано сделок", "Deals processed"), type="integer"),
    ),
)


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    batch_size = int(variables.get("batch_size") or 50)
    with transaction(context) as session:
        run = session.get(OwnerSyncRun, int(variables["run_id"])) if variables.get("run_id") else None
        if run is None:
            run = OwnerSyncRun(
                started_at=context.now, last_deal_id=0, deals_processed=0, contacts_changed=0, tallies={}
            )
            session.add(run)
            session.flush()
        deals = session.scalars(
            select(Deal)
            .where(Deal.id > run.last_deal_id, exists().where(deal_contact.c.deal_id == Deal.id))
            .order_by(Deal.id)
            .limit(batch_size)
        ).all()
        tallies = {k: dict(v) for k, v in (run.tallies or {}).items()}
        for deal in deals:
            for old, new in crm.sync_deal_contacts(session, deal, now=context.now).values():
                tallies.setdefault(new, {"gained": 0, "lost": 0})["gained"] += 1
                if old:
                    tallies.setdefault(old, {"gained": 0, "lost": 0})["lost"] += 1
                run.contacts_changed += 1
        run.tallies = tallies
        run.deals_processed += len(deals)
        if deals:
            run.last_deal_id = deals[-1].id
        done = len(deals) < batch_size
        return {"run_id": run.id, "done": done, "processed": run.deals_processed}
