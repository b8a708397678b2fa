"""Camunda's deployment resource: the Modeler's Deploy button, listing and deleting deployments."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from engine.deploy import DeployError, deploy
from engine.dmn.parse import is_dmn_name
from engine.errors import (
    InvalidStateError,
    NotFoundError,
)
from engine.parser import Problem
from engine.store import (
    DecisionDefinition,
    Deployment,
    ProcessDefinition,
    Resource,
)
from web.engine_rest.auth import caller, requires
from web.engine_rest.blueprint import bp
from web.engine_rest.decision_definition import decision_dto
from web.engine_rest.errors import RestError, bad_request, error_body, not_found
from web.engine_rest.params import (
    count_response,
    csv_arg,
    date_arg,
    db_sessions,
    engine_runtime,
    flag,
    paged,
    self_link,
    sorted_by,
)
from web.engine_rest.process_definition import definition_dto
from web.engine_rest.variables import (
    camunda_date,
)
from web.input_limits import parse_id

log = logging.getLogger(__name__)

DEPLOYMENT_FIELDS = frozenset(
    {
        "deployment-name",
        "deployment-source",
        "enable-duplicate-filtering",
        "deploy-changed-only",
        "tenant-id",
        "deployment-activation-time",
    }
)


def _deployment_dto(row: Deployment) -> dict[str, Any]:
    return {
        "links": self_link("engine_rest.get_deployment", deployment_id=row.id),
        "id": row.id,
        "name": row.name,
        "source": row.source,
        "deploymentTime": camunda_date(row.deployed_at),
        "tenantId": row.tenant_id,
    }


def _deployment_query() -> Select:
    stmt = select(Deployment)
    args = request.args
    if args.get("id"):
        stmt = stmt.where(Deployment.id == args["id"])
    if args.get("name"):
        stmt = stmt.where(Deployment.name == args["name"])
    if args.get("nameLike"):
        stmt = stmt.where(Deployment.name.like(args["nameLike"]))
    if args.get("source"):
        stmt = stmt.where(Deployment.source == args["source"])
    if args.get("tenantIdIn"):
        stmt = stmt.where(Deployment.tenant_id.in_(csv_arg("tenantIdIn") or []))
    if args.get("after"):
        stmt = stmt.where(Deployment.deployed_at > date_arg("after"))
    if args.get("before"):
        stmt = stmt.where(Deployment.deployed_at < date_arg("before"))
    return stmt


@bp.get("/deployment")
@requires("read", "deployment")
def list_deployments() -> ResponseReturnValue:
    columns = {
        "id": Deployment.id,
        "name": Deployment.name,
        "deploymentTime": Deployment.deployed_at,
        "tenantId": Deployment.tenant_id,
    }
    stmt = paged(sorted_by(_deployment_query(), columns, Deployment.deployed_at))
    with db_sessions()() as session:
        return jsonify([_deployment_dto(row) for row in session.scalars(stmt)])


@bp.get("/deployment/count")
@requires("read", "deployment")
def count_deployments() -> ResponseReturnValue:
    return count_response(_deployment_query())


@bp.get("/deployment/<deployment_id>")
@requires("read", "deployment")
def get_deployment(deployment_id: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        return jsonify(_deployment_dto(_deployment_or_404(session, deployment_id)))


@bp.get("/deployment/<deployment_id>/resources")
@requires("read", "deployment")
def deployment_resources(deployment_id: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        _deployment_or_404(session, deployment_id)
        rows = session.scalars(
            select(Resource).where(Resource.deployment_id == deployment_id).order_by(Resource.id)
        )
        return jsonify([{"id": str(r.id), "name": r.name, "deploymentId": r.deployment_id} for r in rows])


@bp.get("/deployment/<deployment_id>/resources/<resource_id>/data")
@requires("read", "deployment")
def deployment_resource_data(deployment_id: str, resource_id: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        number = parse_id(resource_id)
        row = session.get(Resource, number) if number is not None else None
        if row is None or row.deployment_id != deployment_id:
            raise not_found(
                f"Deployment resource with resource id '{resource_id}' for deployment "
                f"id '{deployment_id}' does not exist."
            )
        return Response(row.content, mimetype="application/octet-stream")


@bp.delete("/deployment/<deployment_id>")
@requires("delete", "deployment")
def delete_deployment(deployment_id: str) -> ResponseReturnValue:
    user = caller()
    try:
        engine_runtime().delete_deployment(
            deployment_id, cascade=flag(request.args.get("cascade")), user=user.username
        )
    except NotFoundError as err:
        raise not_found(f"Deployment with id '{deployment_id}' does not exist") from err
    except InvalidStateError as err:
        raise RestError(409, str(err), "ProcessEngineException") from err
    return "", 204


def _deployment_or_404(session: Session, deployment_id: str) -> Deployment:
    row = session.get(Deployment, deployment_id)
    if row is None:
        raise not_found(f"Deployment with id '{deployment_id}' does not exist")
    return row


@bp.post("/deployment/create")
@requires("create", "deployment")
def create_deployment() -> ResponseReturnValue:
    """Camunda's multipart deploy: known fields configure it, every other part is a resource."""
    user = caller()
    resources: dict[str, bytes] = {}
    for field_name, storage in request.files.items(multi=True):
        # A part without a name (or file name) is kept under "" so the deploy refuses it by name.
        resources[storage.filename or field_name or ""] = storage.read()
    for field_name, value in request.form.items(multi=True):
        if field_name not in DEPLOYMENT_FIELDS:
            resources[field_name or ""] = value.encode()
    if not resources:
        raise bad_request("No deployment resources contained in the form upload.")
    form = request.form
    runtime = engine_runtime()
    try:
        report = deploy(
            db_sessions(),
            resources,
            name=form.get("deployment-name") or None,
            source=form.get("deployment-source") or None,
            tenant_id=form.get("tenant-id") or None,
            duplicate_filtering=flag(form.get("enable-duplicate-filtering")),
            changed_only=flag(form.get("deploy-changed-only")),
            allow_scripts=current_app.config["ALLOW_SCRIPT_TASKS"],
            known_topics=current_app.extensions["handlers"],
            user=user.username,
            now=runtime.now(),
            default_history_ttl=current_app.config["HISTORY_TIME_TO_LIVE"],
        )
    except DeployError as err:
        return _deploy_refused(err)
    # A filtered duplicate names the definitions already deployed, so Start works right after.
    definitions = [d for d in report.definitions if d.new] or report.definitions
    decisions = [d for d in report.decisions if d.new] or report.decisions
    with db_sessions()() as session:
        deployment = session.get(Deployment, report.deployment_id)
        rows = [session.get(ProcessDefinition, d.id) for d in definitions]
        decision_rows = [session.get(DecisionDefinition, d.id) for d in decisions]
        body = {
            **_deployment_dto(deployment),
            "deployedProcessDefinitions": {row.id: definition_dto(row, deployment.tenant_id) for row in rows}
            or None,
            "deployedCaseDefinitions": None,
            "deployedDecisionDefinitions": {
                row.id: decision_dto(row, deployment.tenant_id) for row in decision_rows
            }
            or None,
            "deployedDecisionRequirementsDefinitions": None,
            # Not in Camunda's DTO (clients ignore it): the deploy lint's warnings, located.
            "warnings": [{"resource": w.resource, **_problem_dto(w)} for w in report.warnings],
        }
    log.info(
        "engine-rest: %s deployed %s (%s)", user.username, report.deployment_id, form.get("deployment-source")
    )
    return jsonify(body)


def _deploy_refused(err: DeployError) -> Response:
    """Camunda's ParseException: ENGINE-09005 with each problem, and `details` for the Modeler."""
    located = [p for p in err.problems if p.resource != "(deployment)"]
    if not located:
        raise bad_request("; ".join(p.message for p in err.problems))
    details: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for problem in err.problems:
        details.setdefault(problem.resource, {"errors": [], "warnings": []})["errors"].append(
            _problem_dto(problem)
        )
    for problem in err.warnings:
        details.setdefault(problem.resource, {"errors": [], "warnings": []})["warnings"].append(
            _problem_dto(problem)
        )
    parts = []
    for resource, report in details.items():
        if report["errors"]:
            lines = "\n".join(f"* {_problem_line(p)}" for p in err.problems if p.resource == resource)
            kind = "decision" if is_dmn_name(resource) else "process"
            parts.append(f"Errors in {kind} resource '{resource}':\n{lines}")
    message = "ENGINE-09005 Could not parse BPMN process. " + "\n".join(parts)
    return error_body(400, "ParseException", message, details=details)


def _problem_dto(problem: Problem) -> dict[str, Any]:
    return {
        "message": problem.message,
        "line": problem.line or 0,
        "column": problem.column or 0,
        "mainElementId": problem.element_id,
        "elementIds": [problem.element_id] if problem.element_id else [],
    }


def _problem_line(problem: Problem) -> str:
    where = [problem.resource]
    if problem.element_id:
        where.append(f"element '{problem.element_id}'")
    if problem.line:
        where.append(f"line {problem.line}")
    if problem.column:
        where.append(f"column {problem.column}")
    return " | ".join([problem.message, *where])
