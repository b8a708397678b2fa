"""Topic "create_task": a task for the executor with the SLA deadline; the request goes in progress."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from desk import crm
from engine.handlers import HandlerInput, HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import REQUEST_ID, job_key, transaction

TOPIC = "create_task"
META = TopicMeta(
    name=Text("Создать задачу", "Create task"),
    description=Text(
        "Создаёт задачу исполнителю со сроком по SLA и переводит обращение в работу.",
        "Creates the executor's task with the SLA deadline and puts the request in progress.",
    ),
    inputs=(
        REQUEST_ID,
        HandlerInput(
            "executor",
            Text("Исполнитель (логин)", "Executor (login)"),
            description=Text(
                "Без сопоставления — переменная процесса executor или ответственный обращения.",
                "Unmapped: the process variable executor, else the request's assignee.",
            ),
        ),
        HandlerInput(
            "resolve_by",
            Text("Срок (ISO 8601)", "Deadline (ISO 8601)"),
            type="datetime",
            description=Text(
                "Без сопоставления — переменная resolve_by или срок обращения.",
                "Unmapped: the process variable resolve_by, else the request's deadline.",
            ),
        ),
    ),
    outputs=(HandlerOutput("task_id", Text("Задача (id)", "Task (id)"), type="integer"),),
)


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
