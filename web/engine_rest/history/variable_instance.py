"""Camunda's history/variable-instance resource: an instance's variables as history rows."""

from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from engine.store import (
    Instance,
)
from web.engine_rest.auth import permit, requires
from web.engine_rest.blueprint import bp
from web.engine_rest.errors import bad_request
from web.engine_rest.params import (
    db_sessions,
)
from web.engine_rest.variables import (
    encode_value,
)


@bp.get("/history/variable-instance")
@requires("read", "process_instance", per_item=True)
def history_variables() -> ResponseReturnValue:
    instance_id = request.args.get("processInstanceId")
    if not instance_id:
        raise bad_request("processInstanceId is required.")
    with db_sessions()() as session:
        row = session.get(Instance, instance_id)
        if row is None:
            return jsonify([])
        permit("read", "process_instance", task=row)  # its starter may read it, as the runtime resource
        result = []
        for name, value in (row.variables or {}).items():
            typed = encode_value(value, (row.variable_types or {}).get(name))
            result.append(
                {
                    "id": f"{row.id}:{name}",
                    "name": name,
                    **typed,
                    "processDefinitionKey": row.definition_key,
                    "processDefinitionId": row.definition_id,
                    "processInstanceId": row.id,
                    "executionId": row.id,
                    "activityInstanceId": row.id,
                    "tenantId": None,
                    "state": "CREATED",
                }
            )
    return jsonify(result)
