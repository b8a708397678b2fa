"""Camunda's decision-definition resource: listing, XML, and evaluate (the Modeler's "run decision")."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from engine.decisions import DecisionNotFoundError
from engine.dmn.model import DecisionEvaluationError
from engine.store import DecisionDefinition, Deployment, Resource
from service.decisions import evaluate_decision
from web.engine_rest.auth import caller, requires
from web.engine_rest.blueprint import bp
from web.engine_rest.definition_query import definition_query
from web.engine_rest.errors import RestError, not_found
from web.engine_rest.params import (
    count_response,
    db_sessions,
    engine_runtime,
    json_body,
    paged,
    sorted_by,
)
from web.engine_rest.variables import decode_variables, encode_value


def decision_dto(row: DecisionDefinition, tenant_id: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "key": row.key,
        "category": None,
        "name": row.name,
        "version": row.version,
        "resource": row.resource_name,
        "deploymentId": row.deployment_id,
        "decisionRequirementsDefinitionId": None,
        "decisionRequirementsDefinitionKey": None,
        "tenantId": tenant_id,
        "versionTag": row.version_tag,
        "historyTimeToLive": _ttl(row.history_ttl),
    }


def _ttl(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _query() -> Select:
    return definition_query(DecisionDefinition, "decisionDefinitionId")


@bp.get("/decision-definition")
@requires("read", "decision_definition")
def list_decisions() -> ResponseReturnValue:
    columns = {
        "id": DecisionDefinition.id,
        "key": DecisionDefinition.key,
        "name": DecisionDefinition.name,
        "version": DecisionDefinition.version,
        "deploymentId": DecisionDefinition.deployment_id,
        "versionTag": DecisionDefinition.version_tag,
    }
    stmt = paged(sorted_by(_query(), columns, DecisionDefinition.deployed_at))
    with db_sessions()() as session:
        return jsonify([decision_dto(row, tenant) for row, tenant in session.execute(stmt)])


@bp.get("/decision-definition/count")
@requires("read", "decision_definition")
def count_decisions() -> ResponseReturnValue:
    return count_response(_query())


def _by_id(session: Session, definition_id: str) -> tuple[DecisionDefinition, str | None]:
    found = session.execute(
        select(DecisionDefinition, Deployment.tenant_id)
        .join(Deployment, Deployment.id == DecisionDefinition.deployment_id)
        .where(DecisionDefinition.id == definition_id)
    ).first()
    if found is None:
        raise not_found(f"No matching decision definition with id {definition_id}")
    return found[0], found[1]


def _latest(session: Session, key: str) -> tuple[DecisionDefinition, str | None]:
    latest = session.scalars(
        select(DecisionDefinition.id)
        .where(DecisionDefinition.key == key)
        .order_by(DecisionDefinition.version.desc())
    ).first()
    if latest is None:
        raise not_found(f"No matching decision definition with key: {key} and no tenant-id")
    return _by_id(session, latest)


@bp.get("/decision-definition/<definition_id>")
@requires("read", "decision_definition")
def get_decision(definition_id: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        return jsonify(decision_dto(*_by_id(session, definition_id)))


@bp.get("/decision-definition/key/<key>")
@requires("read", "decision_definition")
def get_decision_by_key(key: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        return jsonify(decision_dto(*_latest(session, key)))


def _xml(session: Session, row: DecisionDefinition) -> dict[str, Any]:
    content = session.scalar(
        select(Resource.content).where(
            Resource.deployment_id == row.deployment_id, Resource.name == row.resource_name
        )
    )
    return {"id": row.id, "dmnXml": (content or b"").decode("utf-8", errors="replace")}


@bp.get("/decision-definition/<definition_id>/xml")
@requires("read", "decision_definition")
def decision_xml(definition_id: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        return jsonify(_xml(session, _by_id(session, definition_id)[0]))


@bp.get("/decision-definition/key/<key>/xml")
@requires("read", "decision_definition")
def decision_xml_by_key(key: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        return jsonify(_xml(session, _latest(session, key)[0]))


@bp.post("/decision-definition/<definition_id>/evaluate")
@requires("evaluate", "decision_definition", per_item=True)
def evaluate_by_id(definition_id: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        _by_id(session, definition_id)
    return _evaluate(definition_id=definition_id)


@bp.post("/decision-definition/key/<key>/evaluate")
@requires("evaluate", "decision_definition", per_item=True)
def evaluate_by_key(key: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        _latest(session, key)
    return _evaluate(key=key)


def _evaluate(**which: str) -> ResponseReturnValue:
    """Camunda's answer: the result list, each entry a map of output name to typed value."""
    variables = decode_variables(json_body().get("variables"))
    try:
        definition, evaluation = evaluate_decision(
            db_sessions(), caller(), variables, now=engine_runtime().now(), **which
        )
    except DecisionNotFoundError as err:
        raise not_found(str(err)) from err
    except DecisionEvaluationError as err:
        raise RestError(
            500,
            f"Cannot evaluate decision {which.get('key') or which.get('definition_id')}: {err}",
            "RestException",
        ) from err
    return jsonify(
        [{_name(name): encode_value(value) for name, value in entry.items()} for entry in evaluation.result]
    )


def _name(name: str | None) -> str:
    """A COUNT over no matching rule has no output name (Camunda's null key)."""
    return "null" if name is None else name
