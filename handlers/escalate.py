"""Topic "escalate": an overdue request is flagged; the managers (absent ones: their substitutes) are told."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import crm, notify
from desk.absence import group_reach
from engine.handlers import HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import REQUEST_ID, job_key, transaction

TOPIC = "escalate"
META = TopicMeta(
    name=Text("Эскалация", "Escalate"),
    description=Text(
        "Помечает обращение просроченным и уведомляет руководителей.",
        "Flags the request as overdue and notifies the managers.",
    ),
    inputs=(REQUEST_ID,),
    outputs=(HandlerOutput("escalated", Text("Эскалировано", "Escalated"), type="boolean"),),
)


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        request = crm.get_request(session, variables["request_id"])
        request.escalated = True
        for manager in group_reach(session, "managers", now=context.now):
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
