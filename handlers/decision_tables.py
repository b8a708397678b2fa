"""Topic "decision_tables": which of the desk's decision tables are deployed.

service_request.bpmn evaluates routing.dmn, sla_policy.dmn and approval.dmn through business
rule tasks, and a business rule task whose table is not deployed fails as in Camunda. So the
diagram asks first, and a gateway skips the table that is not there: without it the admin
pages' rules (the route and sla handlers' own defaults) decide, as before tables existed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.decisions import deployed_keys
from engine.handlers import HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import transaction

TOPIC = "decision_tables"
DESK_TABLES = ("routing", "sla_policy", "approval")
META = TopicMeta(
    name=Text("Таблицы решений", "Decision tables"),
    description=Text(
        "Какие из таблиц решений (routing, sla_policy, approval) развёрнуты; без таблицы действуют "
        "правила из администрирования.",
        "Which decision tables (routing, sla_policy, approval) are deployed; without a table the admin "
        "pages' rules apply.",
    ),
    inputs=(),
    outputs=(HandlerOutput("decision_tables", Text("Развёрнутые таблицы", "Deployed tables"), type="list"),),
)


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        return {"decision_tables": sorted(deployed_keys(session, list(DESK_TABLES)))}
