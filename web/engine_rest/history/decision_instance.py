"""Camunda's history/decision-instance resource: each evaluation with its inputs and matched rules."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, select

from engine.store import DecisionDefinition, DecisionInstance, ProcessDefinition
from web.engine_rest.auth import requires
from web.engine_rest.blueprint import bp
from web.engine_rest.params import count_response, csv_arg, db_sessions, flag, paged, sorted_by
from web.engine_rest.variables import camunda_date, encode_value


def _query() -> Select:
    stmt = (
        select(DecisionInstance, DecisionDefinition.name, ProcessDefinition.key)
        .join(DecisionDefinition, DecisionDefinition.id == DecisionInstance.decision_definition_id)
        .outerjoin(ProcessDefinition, ProcessDefinition.id == DecisionInstance.process_definition_id)
    )
    args = request.args
    if args.get("decisionInstanceId"):
        stmt = stmt.where(DecisionInstance.id == args["decisionInstanceId"])
    if args.get("decisionInstanceIdIn"):
        stmt = stmt.where(DecisionInstance.id.in_(csv_arg("decisionInstanceIdIn") or []))
    if args.get("decisionDefinitionId"):
        stmt = stmt.where(DecisionInstance.decision_definition_id == args["decisionDefinitionId"])
    if args.get("decisionDefinitionKey"):
        stmt = stmt.where(DecisionInstance.decision_key == args["decisionDefinitionKey"])
    if args.get("processInstanceId"):
        stmt = stmt.where(DecisionInstance.instance_id == args["processInstanceId"])
    if args.get("processDefinitionId"):
        stmt = stmt.where(DecisionInstance.process_definition_id == args["processDefinitionId"])
    if args.get("activityIdIn"):
        stmt = stmt.where(DecisionInstance.element_id.in_(csv_arg("activityIdIn") or []))
    if args.get("userId"):
        stmt = stmt.where(DecisionInstance.user == args["userId"])
    return stmt


def decision_instance_dto(
    row: DecisionInstance, name: str | None, process_key: str | None, *, inputs: bool, outputs: bool
) -> dict[str, Any]:
    dto: dict[str, Any] = {
        "id": row.id,
        "decisionDefinitionId": row.decision_definition_id,
        "decisionDefinitionKey": row.decision_key,
        "decisionDefinitionName": name,
        "evaluationTime": camunda_date(row.evaluated_at),
        "removalTime": None,
        "processDefinitionId": row.process_definition_id,
        "processDefinitionKey": process_key,
        "processInstanceId": row.instance_id,
        "rootProcessInstanceId": row.instance_id,
        "caseDefinitionId": None,
        "caseDefinitionKey": None,
        "caseInstanceId": None,
        "activityId": row.element_id,
        "activityInstanceId": row.activity_instance_id,
        "tenantId": None,
        "userId": row.user,
        "collectResultValue": (row.collect_result_value or {}).get("value"),
        "rootDecisionInstanceId": None,
        "decisionRequirementsDefinitionId": None,
        "decisionRequirementsDefinitionKey": None,
        "inputs": None,
        "outputs": None,
    }
    if inputs:
        dto["inputs"] = [
            {
                "id": f"{row.id}:{item['id']}",
                "decisionInstanceId": row.id,
                "clauseId": item["id"],
                "clauseName": item["name"],
                "errorMessage": None,
                **encode_value(item["value"]),
                "createTime": camunda_date(row.evaluated_at),
            }
            for item in row.inputs
        ]
    if outputs:
        dto["outputs"] = [
            {
                "id": f"{row.id}:{rule['id']}:{name}",
                "decisionInstanceId": row.id,
                "clauseId": None,
                "clauseName": name,
                "ruleId": rule["id"],
                "ruleOrder": rule["number"],
                "variableName": name,
                "errorMessage": None,
                **encode_value(value),
                "createTime": camunda_date(row.evaluated_at),
            }
            for rule in row.matched_rules
            for name, value in (rule.get("outputs") or {}).items()
        ]
    return dto


@bp.get("/history/decision-instance")
@requires("read_history", "decision_definition")
def history_decision_instances() -> ResponseReturnValue:
    columns = {"evaluationTime": DecisionInstance.evaluated_at, "tenantId": DecisionInstance.id}
    stmt = paged(sorted_by(_query(), columns, DecisionInstance.evaluated_at))
    inputs, outputs = flag(request.args.get("includeInputs")), flag(request.args.get("includeOutputs"))
    with db_sessions()() as session:
        return jsonify(
            [
                decision_instance_dto(row, name, key, inputs=inputs, outputs=outputs)
                for row, name, key in session.execute(stmt)
            ]
        )


@bp.get("/history/decision-instance/count")
@requires("read_history", "decision_definition")
def count_history_decision_instances() -> ResponseReturnValue:
    return count_response(_query())
