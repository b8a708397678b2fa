"""Topic "create_task": a task for the executor with the SLA deadline; the request goes in progress."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from desk import crm
from engine.handlers import JobContext
from handlers._common import job_key, transaction

TOPIC = "create_task"
META = {
    "name": {"ru": "Создать задачу", "en": "Create task"},
    "inputs": ["request_id", "executor", "resolve_by"],
    "outputs": ["task_id"],
}


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        request = crm.get_request(session, variables["request_id"])
        deadline = variables.get("resolve_by")
        task = crm.create_task(
            session,
            now=context.now,
            title=f"{request.number}: {request.subject}",
            assignee=variables.get("executor"),
            request=request,
            description=request.body,
            deadline=datetime.fromisoformat(deadline) if deadline else request.resolve_by,
            idempotency_key=job_key(context),
        )
        request.assignee = variables.get("executor") or request.assignee
        crm.change_status(session, request, "in_progress", now=context.now)
        return {"task_id": task.id}
