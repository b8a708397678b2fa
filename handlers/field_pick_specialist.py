"""Topic "field_pick_specialist": who does this request type's work, and which administrator sets it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import billing, crm
from engine.handlers import HandlerInput, HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import REQUEST_ID, transaction

TOPIC = "field_pick_specialist"
META = TopicMeta(
    name=Text("Определить специалиста", "Pick the specialist"),
    description=Text(
        "По типу обращения выбирает специалиста и администратора и берёт обращение в работу.",
        "Picks the specialist and administrator for the request type and takes the request into work.",
    ),
    inputs=(
        REQUEST_ID,
        HandlerInput(
            "request_type",
            Text("Тип обращения", "Request type"),
            description=Text(
                "Без сопоставления — переменная request_type.", "Unmapped: the variable request_type."
            ),
        ),
    ),
    outputs=(
        HandlerOutput("specialist", Text("Специалист (логин)", "Specialist (login)")),
        HandlerOutput("administrator", Text("Администратор (логин)", "Administrator (login)")),
    ),
)


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        rule = billing.rule_for(session, str(variables.get("request_type") or ""))
        request = crm.get_request(session, variables["request_id"])
        crm.take_into_work(session, request, now=context.now, assignee=rule.specialist)
        return {"specialist": rule.specialist, "administrator": rule.administrator}
