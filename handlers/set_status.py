"""Topic "set_status": move the request to a status; "assigned" records the pickup KPI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import crm
from desk.models import STATUSES
from engine.handlers import HandlerInput, HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import REQUEST_ID, transaction

TOPIC = "set_status"
META = TopicMeta(
    name=Text("Сменить статус", "Set status"),
    description=Text(
        "Переводит обращение в статус; статус assigned фиксирует взятие в работу (KPI реакции).",
        "Moves the request to a status; assigned records the pickup for the pickup KPI.",
    ),
    inputs=(
        REQUEST_ID,
        HandlerInput("status", Text("Статус", "Status"), required=True, allowed=STATUSES),
        HandlerInput(
            "executor",
            Text("Исполнитель (логин)", "Executor (login)"),
            description=Text(
                "Для статуса assigned; без сопоставления — переменная executor.",
                "For assigned; unmapped: the variable executor.",
            ),
        ),
    ),
    outputs=(
        HandlerOutput("pickup_minutes", Text("Реакция, мин", "Pickup minutes"), type="integer"),
        HandlerOutput("pickup_late", Text("Реакция просрочена", "Pickup late"), type="boolean"),
    ),
)


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
