"""Topic "escalate": an overdue request is flagged and the managers are notified."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import crm, notify
from engine.handlers import JobContext
from handlers._common import job_key, transaction

TOPIC = "escalate"
META = {"name": {"ru": "Эскалация", "en": "Escalate"}, "inputs": ["request_id"], "outputs": ["escalated"]}


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        request = crm.get_request(session, variables["request_id"])
        request.escalated = True
        for manager in crm.users_in_group(session, "managers"):
            notify.enqueue(
                session,
                now=context.now,
                recipient=manager.username,
                channel="in_app",
                template="request_overdue",
                payload=crm.request_payload(request),
                idempotency_key=job_key(context, manager.username),
                language=manager.language,
                request_id=request.id,
            )
        notify.deliver_in_app(session, now=context.now)
    return {"escalated": True}
