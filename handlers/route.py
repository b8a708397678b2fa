"""Topic "route": category -> dispatcher group, suggested executor and approvers (rules table)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import crm
from engine.handlers import HandlerInput, HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import transaction

TOPIC = "route"
META = TopicMeta(
    name=Text("Маршрутизация", "Route"),
    description=Text(
        "По категории выбирает группу диспетчеров, предлагаемого исполнителя и согласующих (таблица правил).",
        "Picks the dispatcher group, a suggested executor and the approvers for a category (rules table).",
    ),
    inputs=(
        HandlerInput(
            "category",
            Text("Категория", "Category"),
            description=Text(
                "Без сопоставления — переменная category; неизвестная категория идёт диспетчерам.",
                "Unmapped: the process variable category; unknown categories go to the dispatchers.",
            ),
        ),
    ),
    outputs=(
        HandlerOutput("dispatcher_group", Text("Группа диспетчеров", "Dispatcher group")),
        HandlerOutput("suggested_executor", Text("Предлагаемый исполнитель", "Suggested executor")),
        HandlerOutput("needs_approval", Text("Нужно согласование", "Needs approval"), type="boolean"),
        HandlerOutput("approvers", Text("Согласующие", "Approvers"), type="list"),
    ),
)


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        rule = crm.route(session, variables.get("category"))
        return {
            "dispatcher_group": rule.dispatcher_group,
            "suggested_executor": rule.executor,
            "needs_approval": bool(rule.needs_approval and rule.approvers),
            "approvers": list(rule.approvers or []),
        }
