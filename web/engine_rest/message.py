"""Camunda's message resource: correlate a message to waiting or startable instances."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from engine.errors import (
    MessageNotCorrelatedError,
)
from engine.store import (
    Instance,
    InstanceStatus,
    MessageSubscription,
)
from service.instances import correlate_message as correlate
from web.engine_rest.auth import caller, requires
from web.engine_rest.blueprint import bp
from web.engine_rest.errors import RestError, bad_request
from web.engine_rest.params import (
    db_sessions,
    engine_runtime,
    flag,
    json_body,
)
from web.engine_rest.process_definition import business_key_field
from web.engine_rest.process_instance import instance_dto
from web.engine_rest.variables import (
    decode_variables,
    encode_variables,
)


@bp.post("/message")
@requires("correlate", "message", per_item=True)
def correlate_message() -> ResponseReturnValue:
    body = json_body()
    name = body.get("messageName")
    if not name or not isinstance(name, str):
        raise bad_request("messageName is required.")
    if body.get("localCorrelationKeys"):
        raise bad_request("localCorrelationKeys are not supported; use correlationKeys (process variables).")
    instance_id = body.get("processInstanceId")
    if instance_id is not None and not isinstance(instance_id, str):
        raise bad_request("processInstanceId must be a string.")
    keys = decode_variables(body.get("correlationKeys"), "correlationKeys")
    business_key = business_key_field(body.get("businessKey"))
    variables = {
        **decode_variables(body.get("processVariablesLocal"), "processVariablesLocal"),
        **decode_variables(body.get("processVariables"), "processVariables"),
    }
    waiting_before = _waiting_for(name, business_key)
    try:
        instance_ids = correlate(
            engine_runtime(),
            caller(),
            name,
            business_key,
            variables,
            all_instances=flag(body.get("all")),
            instance_id=instance_id,
            correlation_keys=keys,
        )
    except MessageNotCorrelatedError as err:
        raise RestError(400, f"Cannot correlate message '{name}': {err}", "RestException") from err
    if not flag(body.get("resultEnabled")):
        return "", 204
    with_variables = flag(body.get("variablesInResultEnabled"))
    results = []
    with db_sessions()() as session:
        for instance_id in instance_ids:
            row = session.get(Instance, instance_id)
            result: dict[str, Any] = {"resultType": "Execution", "execution": None, "processInstance": None}
            if instance_id in waiting_before:
                result["execution"] = {
                    "id": row.id,
                    "processInstanceId": row.id,
                    "ended": row.status != InstanceStatus.RUNNING.value,
                    "tenantId": None,
                }
            else:
                result["resultType"] = "ProcessDefinition"
                result["processInstance"] = instance_dto(row)
            if with_variables:
                result["variables"] = encode_variables(row.variables or {}, types=row.variable_types)
            results.append(result)
    return jsonify(results)


def _waiting_for(message_name: str, business_key: str | None) -> set[str]:
    stmt = (
        select(MessageSubscription.instance_id)
        .join(Instance, Instance.id == MessageSubscription.instance_id)
        .where(MessageSubscription.message_name == message_name, MessageSubscription.status == "waiting")
    )
    if business_key is not None:
        stmt = stmt.where(Instance.business_key == business_key)
    with db_sessions()() as session:
        return set(session.scalars(stmt))
