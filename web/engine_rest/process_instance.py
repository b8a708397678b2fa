"""Camunda's process-instance resource: running instances, their variables, cancelling."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, false, select
from sqlalchemy.orm import Session

from engine.store import (
    Incident,
    Instance,
    InstanceStatus,
    ProcessDefinition,
)
from service.instances import cancel_instance
from service.permissions import may
from web.engine_rest.auth import caller, permit, requires
from web.engine_rest.blueprint import bp
from web.engine_rest.errors import bad_request, not_found
from web.engine_rest.params import (
    count_response,
    csv_arg,
    db_sessions,
    engine_runtime,
    flag,
    paged,
    self_link,
    sorted_by,
)
from web.engine_rest.variables import (
    encode_value,
    encode_variables,
)


def instance_dto(row: Instance) -> dict[str, Any]:
    return {
        "links": self_link("engine_rest.get_instance", instance_id=row.id),
        "id": row.id,
        "definitionId": row.definition_id,
        "definitionKey": row.definition_key,
        "businessKey": row.business_key,
        "caseInstanceId": None,
        "ended": row.status != InstanceStatus.RUNNING.value,
        "suspended": False,
        "tenantId": None,
    }


def _instance_query() -> Select:
    """Running instances the caller may read: all of them, or those the caller started."""
    stmt = select(Instance).where(Instance.status == InstanceStatus.RUNNING.value)
    principal = caller()
    if not may(principal, "read", "process_instance"):
        stmt = stmt.where(Instance.started_by == principal.username)
    args = request.args
    if args.get("variables"):
        raise bad_request("Filtering process instances by variables is not supported; filter by businessKey.")
    if args.get("processInstanceIds"):
        stmt = stmt.where(Instance.id.in_(csv_arg("processInstanceIds") or []))
    if args.get("businessKey"):
        stmt = stmt.where(Instance.business_key == args["businessKey"])
    if args.get("businessKeyLike"):
        stmt = stmt.where(Instance.business_key.like(args["businessKeyLike"]))
    if args.get("processDefinitionId"):
        stmt = stmt.where(Instance.definition_id == args["processDefinitionId"])
    if args.get("processDefinitionKey"):
        stmt = stmt.where(Instance.definition_key == args["processDefinitionKey"])
    if args.get("processDefinitionKeyIn"):
        stmt = stmt.where(Instance.definition_key.in_(csv_arg("processDefinitionKeyIn") or []))
    if args.get("deploymentId"):
        stmt = stmt.where(
            Instance.definition_id.in_(
                select(ProcessDefinition.id).where(ProcessDefinition.deployment_id == args["deploymentId"])
            )
        )
    if flag(args.get("withIncident")):
        stmt = stmt.where(Instance.id.in_(select(Incident.instance_id).where(Incident.status == "open")))
    if flag(args.get("suspended")):
        stmt = stmt.where(false())
    return stmt


@bp.get("/process-instance")
@requires("read", "process_instance", per_item=True)
def list_instances() -> ResponseReturnValue:
    columns = {
        "instanceId": Instance.id,
        "definitionId": Instance.definition_id,
        "definitionKey": Instance.definition_key,
        "businessKey": Instance.business_key,
    }
    stmt = paged(sorted_by(_instance_query(), columns, Instance.started_at))
    with db_sessions()() as session:
        return jsonify([instance_dto(row) for row in session.scalars(stmt)])


@bp.get("/process-instance/count")
@requires("read", "process_instance", per_item=True)
def count_instances() -> ResponseReturnValue:
    return count_response(_instance_query())


def _running_instance_or_404(session: Session, instance_id: str) -> Instance:
    """The running instance, if the caller may read it (readers of all, or its starter)."""
    row = session.get(Instance, instance_id)
    if row is None or row.status != InstanceStatus.RUNNING.value:
        raise not_found(f"Process instance with id {instance_id} does not exist")
    permit("read", "process_instance", task=row)
    return row


@bp.get("/process-instance/<instance_id>")
@requires("read", "process_instance", per_item=True)
def get_instance(instance_id: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        return jsonify(instance_dto(_running_instance_or_404(session, instance_id)))


@bp.get("/process-instance/<instance_id>/variables")
@requires("read", "process_instance", per_item=True)
def instance_variables(instance_id: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        row = _running_instance_or_404(session, instance_id)
        return jsonify(encode_variables(row.variables or {}, csv_arg("variableNames"), row.variable_types))


@bp.get("/process-instance/<instance_id>/variables/<name>")
@requires("read", "process_instance", per_item=True)
def instance_variable(instance_id: str, name: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        row = _running_instance_or_404(session, instance_id)
        variables, types = row.variables or {}, row.variable_types or {}
    if name not in variables:
        raise not_found(f"process instance variable with name {name} does not exist")
    return jsonify(encode_value(variables[name], types.get(name)))


@bp.delete("/process-instance/<instance_id>")
@requires("cancel", "process_instance")
def delete_instance(instance_id: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        _running_instance_or_404(session, instance_id)
    reason = request.args.get("deleteReason") or "deleted through engine-rest"
    cancel_instance(engine_runtime(), db_sessions(), caller(), instance_id, reason)
    return "", 204
