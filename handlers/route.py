"""Topic "route": category -> dispatcher group, suggested executor and approvers.

The admin pages' rules decide, unless service_request.bpmn evaluated the deployed decision
tables first: `routing_rule` (routing.dmn, singleResult) and `approval_rule` (approval.dmn,
collectEntries) then win. A table that matched no rule leaves routing_rule null (the admin
rule applies) and approval_rule empty (no approval needed, since the table says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import crm
from desk.absence import away_now, stand_in
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
        decided = {
            "dispatcher_group": rule.dispatcher_group,
            "suggested_executor": rule.executor,
            "needs_approval": bool(rule.needs_approval and rule.approvers),
            "approvers": list(rule.approvers or []),
        }
        table = variables.get("routing_rule")
        if isinstance(table, Mapping):
            decided["dispatcher_group"] = table.get("dispatcher_group") or decided["dispatcher_group"]
            decided["suggested_executor"] = table.get("suggested_executor") or decided["suggested_executor"]
        approvers = variables.get("approval_rule")
        if isinstance(approvers, list):
            decided["approvers"] = [str(a) for a in approvers if a]
            decided["needs_approval"] = bool(decided["approvers"])
        # An absent executor is not suggested, whichever rule named them: their substitute is,
        # or nobody (desk.absence).
        if decided["suggested_executor"]:
            decided["suggested_executor"] = stand_in(
                decided["suggested_executor"], away_now(session, context.now)
            )
    return decided
