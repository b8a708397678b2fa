"""Topic "set_status": move the request to a status; "assigned" records the pickup KPI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import crm
from engine.handlers import JobContext
from handlers._common import transaction

TOPIC = "set_status"
META = {
    "name": {"ru": "Сменить статус", "en": "Set status"},
    "inputs": ["request_id", "status", "executor"],
    "outputs": ["pickup_minutes", "pickup_late"],
}


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        request = crm.get_request(session, variables["request_id"])
        if variables["status"] == "assigned":
            measured = crm.take_into_work(
                session, request, now=context.now, assignee=variables.get("executor")
            )
            return {"pickup_minutes": measured.minutes, "pickup_late": measured.late}
        crm.change_status(session, request, variables["status"], now=context.now)
    return {}
