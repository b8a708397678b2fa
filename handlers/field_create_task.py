"""Topic "field_create_task": the specialist's task for a field-service request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import crm, notify
from engine.handlers import HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import REQUEST_ID, SPECIALIST, job_key, transaction

TOPIC = "field_create_task"
META = TopicMeta(
    name=Text("Поставить задачу специалисту", "Set the specialist's task"),
    description=Text(
        "Создаёт задачу специалисту по обращению и уведомляет его в приложении.",
        "Creates the specialist's task for the request and notifies them in the app.",
    ),
    inputs=(
        REQUEST_ID,
        SPECIALIST,
    ),
    outputs=(
        HandlerOutput("work_task_id", Text("Задача специалиста (id)", "Specialist's task (id)"), "integer"),
    ),
)


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        request = crm.get_request(session, variables["request_id"])
        specialist = variables["specialist"]
        task = crm.create_task(
            session,
            now=context.now,
            title=f"{request.number}: {request.subject}",
            assignee=specialist,
            request=request,
            description=request.body,
            idempotency_key=job_key(context),
        )
        user = crm.find_user(session, specialist)
        notify.enqueue(
            session,
            now=context.now,
            recipient=specialist,
            channel="in_app",
            template="field_task_assigned",
            payload={**crm.request_payload(request), "task_id": task.id, "task_title": task.title},
            idempotency_key=job_key(context, "assigned"),
            language=user.language if user else "ru",
            request_id=request.id,
        )
        notify.deliver_in_app(session, now=context.now)
        return {"work_task_id": task.id}
