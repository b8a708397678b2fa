"""PUT /process-definition/{id}/suspended and /process-definition/key/{key}/suspended.

Camunda's "Activate/Suspend Process Definition By Id / By Key": the body is
{"suspended": true|false, "includeProcessInstances": false, "executionDate": null}; by id
acts on that version, by key on every version of the key. What it does is
engine.definition_state (no new instances, timer start jobs suspended with the definition).
"""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from engine.definition_state import set_suspended
from web.engine_rest.auth import requires
from web.engine_rest.blueprint import bp
from web.engine_rest.errors import bad_request
from web.engine_rest.params import db_sessions, json_body


@bp.put("/process-definition/<definition_id>/suspended")
@requires("suspend", "process_definition")
def suspend_definition_by_id(definition_id: str) -> ResponseReturnValue:
    set_suspended(db_sessions(), _suspension_body(), definition_id=definition_id)
    return "", 204


@bp.put("/process-definition/key/<key>/suspended")
@requires("suspend", "process_definition")
def suspend_definition_by_key(key: str) -> ResponseReturnValue:
    set_suspended(db_sessions(), _suspension_body(), key=key)
    return "", 204


def _suspension_body() -> bool:
    body = json_body()
    if not isinstance(body.get("suspended"), bool):
        raise bad_request('"suspended" must be true or false.')
    if body.get("includeProcessInstances"):
        raise bad_request(
            "includeProcessInstances=true is not supported: this engine does not suspend running "
            "instances; send false to suspend the definition (no new starts, timer starts paused)."
        )
    if body.get("executionDate"):
        raise bad_request(
            "executionDate is not supported: the state changes at once; call again at that moment."
        )
    return body["suspended"]
