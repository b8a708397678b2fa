"""Topic "notify": outbox rows for the roles a diagram names, in the same transaction as the job."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import crm, notify
from engine.handlers import JobContext
from handlers._common import job_key, transaction

TOPIC = "notify"
META = {
    "name": {"ru": "Уведомить", "en": "Notify"},
    "inputs": ["template", "to", "request_id"],
    "outputs": ["notified"],
}
GROUP_ROLES = {"managers": "managers", "dispatchers": "dispatchers", "operators": "operators"}


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    roles = str(variables.get("to", "")).split(",")
    with transaction(context) as session:
        request = crm.get_request(session, variables["request_id"]) if variables.get("request_id") else None
        groups = {
            role: [u.username for u in crm.users_in_group(session, group)]
            for role, group in GROUP_ROLES.items()
            if role in roles
        }
        recipients = notify.resolve_recipients(
            roles,
            requester_email=request.requester_email if request else None,
            assignee=request.assignee if request else None,
            group_members=groups,
            named=variables,
        )
        payload = {
            **{k: v for k, v in variables.items() if isinstance(v, str | int | float | bool)},
            **(crm.request_payload(request) if request else {}),
        }
        for recipient, channel in recipients:
            user = crm.find_user(session, recipient)
            notify.enqueue(
                session,
                now=context.now,
                recipient=recipient,
                channel=channel,
                template=variables["template"],
                payload=payload,
                idempotency_key=job_key(context, recipient, channel),
                language=user.language if user else "ru",
                request_id=request.id if request else None,
            )
        notify.deliver_in_app(session, now=context.now)
    return {"notified": len(recipients)}
