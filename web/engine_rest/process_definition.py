"""Camunda's process-definition resource: listing, XML, and the Modeler's Start button."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from engine.errors import (
    NotFoundError,
    ProcessError,
)
from engine.retention import effective_ttl
from engine.store import (
    Deployment,
    Instance,
    ProcessDefinition,
    Resource,
)
from service.instances import start_allowed
from web.engine_rest.auth import caller, requires
from web.engine_rest.blueprint import bp
from web.engine_rest.definition_query import definition_query
from web.engine_rest.errors import RestError, bad_request, not_found
from web.engine_rest.params import (
    count_response,
    db_sessions,
    engine_runtime,
    flag,
    json_body,
    paged,
    sorted_by,
)
from web.engine_rest.process_instance import instance_dto
from web.engine_rest.variables import (
    decode_variables,
    encode_variables,
)


def definition_dto(row: ProcessDefinition, tenant_id: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "key": row.key,
        "category": None,
        "description": None,
        "name": row.name,
        "version": row.version,
        "resource": row.resource_name,
        "deploymentId": row.deployment_id,
        "diagram": None,
        "suspended": bool(row.suspended),
        "tenantId": tenant_id,
        "versionTag": None,
        # The days that apply, the configured default for a diagram without one (as Camunda 7.20+).
        "historyTimeToLive": effective_ttl(row.history_ttl, current_app.config["HISTORY_TIME_TO_LIVE"])[0],
        "startableInTasklist": True,
    }


def _definition_query() -> Select:
    return definition_query(ProcessDefinition, "processDefinitionId")


@bp.get("/process-definition")
@requires("read", "process_definition")
def list_definitions() -> ResponseReturnValue:
    columns = {
        "id": ProcessDefinition.id,
        "key": ProcessDefinition.key,
        "name": ProcessDefinition.name,
        "version": ProcessDefinition.version,
        "deploymentId": ProcessDefinition.deployment_id,
        "deployTime": ProcessDefinition.deployed_at,
    }
    stmt = paged(sorted_by(_definition_query(), columns, ProcessDefinition.deployed_at))
    with db_sessions()() as session:
        return jsonify([definition_dto(row, tenant) for row, tenant in session.execute(stmt)])


@bp.get("/process-definition/count")
@requires("read", "process_definition")
def count_definitions() -> ResponseReturnValue:
    return count_response(_definition_query())


def definition_or_404(session: Session, definition_id: str) -> tuple[ProcessDefinition, str | None]:
    found = session.execute(
        select(ProcessDefinition, Deployment.tenant_id)
        .join(Deployment, Deployment.id == ProcessDefinition.deployment_id)
        .where(ProcessDefinition.id == definition_id)
    ).first()
    if found is None:
        raise not_found(f"No matching definition with id {definition_id}")
    return found[0], found[1]


def _latest_id_or_404(session: Session, key: str) -> str:
    try:
        return engine_runtime().latest_definition_id(session, key)
    except NotFoundError as err:
        raise not_found(f"No matching process definition with key: {key} and no tenant-id") from err


@bp.get("/process-definition/<definition_id>")
@requires("read", "process_definition")
def get_definition(definition_id: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        return jsonify(definition_dto(*definition_or_404(session, definition_id)))


@bp.get("/process-definition/key/<key>")
@requires("read", "process_definition")
def get_definition_by_key(key: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        return jsonify(definition_dto(*definition_or_404(session, _latest_id_or_404(session, key))))


@bp.get("/process-definition/<definition_id>/xml")
@requires("read", "process_definition")
def definition_xml(definition_id: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        return jsonify(_xml_dto(session, definition_or_404(session, definition_id)[0]))


@bp.get("/process-definition/key/<key>/xml")
@requires("read", "process_definition")
def definition_xml_by_key(key: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        row = definition_or_404(session, _latest_id_or_404(session, key))[0]
        return jsonify(_xml_dto(session, row))


def _xml_dto(session: Session, row: ProcessDefinition) -> dict[str, Any]:
    content = session.scalars(
        select(Resource.content).where(
            Resource.deployment_id == row.deployment_id, Resource.name == row.resource_name
        )
    ).first()
    return {"id": row.id, "bpmn20Xml": (content or b"").decode("utf-8", errors="replace")}


@bp.post("/process-definition/<definition_id>/start")
@requires("start", "process_definition", per_item=True)
def start_by_id(definition_id: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        definition_or_404(session, definition_id)
    return _start(definition_id)


@bp.post("/process-definition/key/<key>/start")
@requires("start", "process_definition", per_item=True)
def start_by_key(key: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        definition_id = _latest_id_or_404(session, key)
    return _start(definition_id)


def _start(definition_id: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        start_allowed(caller(), definition_or_404(session, definition_id)[0].key)
    body = json_body()
    variables = decode_variables(body.get("variables"))
    business_key = business_key_field(body.get("businessKey"))
    try:
        started = engine_runtime().start(
            definition_id=definition_id,
            business_key=business_key,
            variables=variables,
            user=caller().username,
            validate_form=False,
        )
    except ProcessError as err:
        raise RestError(
            500, f"Cannot instantiate process definition {definition_id}: {err}", "RestException"
        ) from err
    with db_sessions()() as session:
        row = session.get(Instance, started.id)
        dto = instance_dto(row)
        types = row.variable_types
    if flag(body.get("withVariablesInReturn")):
        dto["variables"] = encode_variables(engine_runtime().variables(started.id), types=types)
    return jsonify(dto)


def business_key_field(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise bad_request(f"businessKey must be a string, not {value!r}.")
    if len(value) > 128:
        raise bad_request("businessKey is longer than 128 characters.")
    return value
