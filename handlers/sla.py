"""Topic "sla": compute the request's resolve-by deadline from its category and priority.

The admin pages' SLA policies decide, unless service_request.bpmn evaluated sla_policy.dmn
first: its `sla_rule` (resolve_within, calendar) then sets the time limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import crm
from engine.handlers import HandlerInput, HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import REQUEST_ID, transaction

TOPIC = "sla"
META = TopicMeta(
    name=Text("Срок по SLA", "SLA deadline"),
    description=Text(
        "Считает срок решения по категории и приоритету в рабочем времени календаря политики SLA.",
        "Computes the resolve-by deadline from category and priority in the SLA policy's working time.",
    ),
    inputs=(
        REQUEST_ID,
        HandlerInput(
            "category",
            Text("Категория", "Category"),
            description=Text("Без сопоставления — переменная category.", "Unmapped: the variable category."),
        ),
        HandlerInput(
            "priority",
            Text("Приоритет", "Priority"),
            allowed=("high", "normal", "low"),
            default="${priority}",
            description=Text("По умолчанию — переменная priority.", "By default the variable priority."),
        ),
    ),
    outputs=(
        HandlerOutput("resolve_by", Text("Решить до", "Resolve by"), type="datetime"),
        HandlerOutput("category", Text("Категория", "Category")),
        HandlerOutput("priority", Text("Приоритет", "Priority")),
    ),
)


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        request = crm.get_request(session, variables["request_id"])
        if variables.get("category"):
            request.category = variables["category"]
        if variables.get("priority"):
            request.priority = variables["priority"]
        if request.status == "triage":
            crm.change_status(session, request, "new", now=context.now)
        rule = variables.get("sla_rule")
        override = None
        if isinstance(rule, Mapping) and rule.get("resolve_within"):
            override = (str(rule["resolve_within"]), str(rule.get("calendar") or "workdays"))
        due = crm.set_resolve_by(session, request, override=override)
    return {"resolve_by": due.isoformat(), "category": request.category, "priority": request.priority}
