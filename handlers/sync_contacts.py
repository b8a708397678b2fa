"""Topic "sync_contacts": a deal's responsible changed; its contacts follow (most recent deal wins)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import crm
from desk.models import Deal
from engine.handlers import HandlerInput, HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import transaction

TOPIC = "sync_contacts"
META = TopicMeta(
    name=Text("Синхронизировать контакты", "Sync contacts"),
    description=Text(
        "Ответственный сделки сменился: её контакты переходят к нему (побеждает самая свежая сделка).",
        "A deal's responsible changed: its contacts follow (the most recently changed deal wins).",
    ),
    inputs=(
        HandlerInput(
            "deal_id",
            Text("Сделка (id)", "Deal (id)"),
            type="integer",
            required=True,
            default="${deal_id}",
            description=Text(
                "Из сообщения deal.responsible_changed.", "From the deal.responsible_changed message."
            ),
        ),
    ),
    outputs=(
        HandlerOutput("contacts_changed", Text("Контактов передано", "Contacts changed"), type="integer"),
        HandlerOutput("changed_contact_ids", Text("Переданные контакты", "Changed contact ids"), type="list"),
        HandlerOutput("deal_title", Text("Сделка", "Deal title")),
    ),
)


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        deal = session.get(Deal, int(variables["deal_id"]))
        if deal is None:
            raise crm.DeskError(f"Deal {variables['deal_id']} does not exist; check the message payload.")
        changed = crm.sync_deal_contacts(session, deal, now=context.now)
        return {
            "contacts_changed": len(changed),
            "changed_contact_ids": sorted(changed),
            "deal_title": deal.title,
        }
