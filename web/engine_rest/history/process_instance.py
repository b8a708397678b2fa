"""Camunda's history/process-instance resource: running and finished instances."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, select

from engine.store import (
    Instance,
    InstanceStatus,
    ProcessDefinition,
)
from web.engine_rest.auth import requires
from web.engine_rest.blueprint import bp
from web.engine_rest.errors import not_found
from web.engine_rest.params import (
    count_response,
    csv_arg,
    db_sessions,
    flag,
    paged,
    sorted_by,
)
from web.engine_rest.variables import (
    camunda_date,
)

HISTORY_STATES = {
    InstanceStatus.RUNNING.value: "ACTIVE",
    InstanceStatus.COMPLETED.value: "COMPLETED",
    InstanceStatus.CANCELLED.value: "EXTERNALLY_TERMINATED",
}


def _history_query() -> Select:
    stmt = select(Instance, ProcessDefinition.name, ProcessDefinition.version).join(
        ProcessDefinition, ProcessDefinition.id == Instance.definition_id
    )
    args = request.args
    if args.get("processInstanceId"):
        stmt = stmt.where(Instance.id == args["processInstanceId"])
    if args.get("processInstanceIds"):
        stmt = stmt.where(Instance.id.in_(csv_arg("processInstanceIds") or []))
    if args.get("processInstanceBusinessKey"):
        stmt = stmt.where(Instance.business_key == args["processInstanceBusinessKey"])
    if args.get("processDefinitionId"):
        stmt = stmt.where(Instance.definition_id == args["processDefinitionId"])
    if args.get("processDefinitionKey"):
        stmt = stmt.where(Instance.definition_key == args["processDefinitionKey"])
    if flag(args.get("finished")):
        stmt = stmt.where(Instance.status != InstanceStatus.RUNNING.value)
    if flag(args.get("unfinished")):
        stmt = stmt.where(Instance.status == InstanceStatus.RUNNING.value)
    if args.get("startedBy"):
        stmt = stmt.where(Instance.started_by == args["startedBy"])
    if args.get("state"):
        states = [k for k, v in HISTORY_STATES.items() if v == args["state"]]
        stmt = stmt.where(Instance.status.in_(states))
    return stmt


@bp.get("/history/process-instance")
@requires("read", "process_instance")
def history_instances() -> ResponseReturnValue:
    columns = {
        "instanceId": Instance.id,
        "definitionId": Instance.definition_id,
        "definitionKey": Instance.definition_key,
        "businessKey": Instance.business_key,
        "startTime": Instance.started_at,
        "endTime": Instance.ended_at,
    }
    stmt = paged(sorted_by(_history_query(), columns, Instance.started_at))
    with db_sessions()() as session:
        rows = session.execute(stmt).all()
    return jsonify([_history_dto(inst, name, version) for inst, name, version in rows])


@bp.get("/history/process-instance/count")
@requires("read", "process_instance")
def count_history_instances() -> ResponseReturnValue:
    return count_response(_history_query())


@bp.get("/history/process-instance/<instance_id>")
@requires("read", "process_instance")
def history_instance(instance_id: str) -> ResponseReturnValue:
    stmt = (
        select(Instance, ProcessDefinition.name, ProcessDefinition.version)
        .join(ProcessDefinition, ProcessDefinition.id == Instance.definition_id)
        .where(Instance.id == instance_id)
    )
    with db_sessions()() as session:
        found = session.execute(stmt).first()
    if found is None:
        raise not_found(f"Historic process instance with id {instance_id} does not exist")
    return jsonify(_history_dto(*found))


def _history_dto(row: Instance, name: str | None, version: int) -> dict[str, Any]:
    duration = None
    if row.ended_at is not None:
        duration = int((row.ended_at - row.started_at).total_seconds() * 1000)
    return {
        "id": row.id,
        "rootProcessInstanceId": row.id,
        "superProcessInstanceId": None,
        "superCaseInstanceId": None,
        "caseInstanceId": None,
        "processDefinitionName": name,
        "processDefinitionKey": row.definition_key,
        "processDefinitionVersion": version,
        "processDefinitionId": row.definition_id,
        "businessKey": row.business_key,
        "startTime": camunda_date(row.started_at),
        "endTime": camunda_date(row.ended_at),
        "removalTime": None,
        "durationInMillis": duration,
        "startUserId": row.started_by,
        "startActivityId": None,
        "deleteReason": None,
        "tenantId": None,
        "state": HISTORY_STATES.get(row.status, "ACTIVE"),
    }
