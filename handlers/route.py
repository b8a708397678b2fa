"""Topic "route": category -> dispatcher group, suggested executor and approvers (rules table)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import crm
from engine.handlers import JobContext
from handlers._common import transaction

TOPIC = "route"
META = {
    "name": {"ru": "Маршрутизация", "en": "Route"},
    "inputs": ["request_id", "category"],
    "outputs": ["dispatcher_group", "suggested_executor", "needs_approval", "approvers"],
}


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        rule = crm.route(session, variables.get("category"))
        return {
            "dispatcher_group": rule.dispatcher_group,
            "suggested_executor": rule.executor,
            "needs_approval": bool(rule.needs_approval and rule.approvers),
            "approvers": list(rule.approvers or []),
        }
