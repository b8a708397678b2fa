"""Topic "sla": compute the request's resolve-by deadline from its category and priority."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import crm
from engine.handlers import JobContext
from handlers._common import transaction

TOPIC = "sla"
META = {
    "name": {"ru": "Срок по SLA", "en": "SLA deadline"},
    "inputs": ["request_id", "category", "priority"],
    "outputs": ["resolve_by"],
}


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        request = crm.get_request(session, variables["request_id"])
        if variables.get("category"):
            request.category = variables["category"]
        if variables.get("priority"):
            request.priority = variables["priority"]
        if request.status == "triage":
            crm.change_status(session, request, "new", now=context.now)
        due = crm.set_resolve_by(session, request)
    return {"resolve_by": due.isoformat(), "category": request.category, "priority": request.priority}
