"""Topic "field_close_deal": the work is done: deal won, the specialist's task done, the request resolved."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import billing, crm
from desk.models import Deal, Task
from engine.handlers import HandlerInput, HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import REQUEST_ID, transaction

TOPIC = "field_close_deal"
META = TopicMeta(
    name=Text("Закрыть сделку", "Close the deal"),
    description=Text(
        "Работа выполнена: сделка выиграна, задача специалиста закрыта, обращение решено.",
        "The work is done: the deal is won, the specialist's task done, the request resolved.",
    ),
    inputs=(
        REQUEST_ID,
        HandlerInput("deal_id", Text("Сделка (id)", "Deal (id)"), "integer", True, default="${deal_id}"),
        HandlerInput(
            "work_task_id",
            Text("Задача специалиста (id)", "Specialist's task (id)"),
            "integer",
            description=Text(
                "Без сопоставления — переменная work_task_id.", "Unmapped: the variable work_task_id."
            ),
        ),
    ),
    outputs=(HandlerOutput("deal_status", Text("Статус сделки", "Deal status")),),
)


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        deal = session.get(Deal, int(variables["deal_id"]))
        billing.close_deal(session, deal, now=context.now)
        task = session.get(Task, int(variables["work_task_id"])) if variables.get("work_task_id") else None
        if task is not None and task.status != "done":
            task.status = "done"
            task.done_at = context.now
        request = crm.get_request(session, variables["request_id"])
        if request.status not in crm.CLOSED_STATUSES:
            crm.close_request(session, request, "done", now=context.now)
        return {"deal_status": deal.status}
