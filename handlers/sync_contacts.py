"""Topic "sync_contacts": a deal's responsible changed; its contacts follow (most recent deal wins)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import crm
from desk.models import Deal
from engine.handlers import JobContext
from handlers._common import transaction

TOPIC = "sync_contacts"
META = {
    "name": {"ru": "Синхронизировать контакты", "en": "Sync contacts"},
    "inputs": ["deal_id"],
    "outputs": ["contacts_changed", "changed_contact_ids", "deal_title"],
}


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
