"""Camunda 7 REST subset under /engine-rest: what Camunda Modeler and external-task workers call.

Field names, the date format, typed variables and error bodies follow Camunda 7's REST
reference, so the Modeler's Deploy and Start buttons and the official external-task
clients work unchanged. Views translate JSON into engine calls and engine errors into
Camunda's `{type, message}` bodies; the rules themselves live in the engine.

Callers authenticate with HTTP Basic (desk users) or a bearer API token; deploying and
deleting deployments needs the analyst or admin role. No CORS headers are sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, and_, false, func, or_, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import Authorization
from werkzeug.exceptions import HTTPException

from desk.models import User
from engine.deploy import DeployError, deploy
from engine.errors import (
    ConcurrentUpdateError,
    EngineError,
    InvalidStateError,
    MessageNotCorrelatedError,
    NotFoundError,
    ProcessError,
    TaskAlreadyClaimed,
    TaskAlreadyCompleted,
)
from engine.forms import FormSchema, FormValidationError
from engine.migration import MigrationError, MigrationPlan, dry_run, migrate_instance, plan
from engine.parser import Problem
from engine.runtime import Engine
from engine.store import (
    Deployment,
    Incident,
    Instance,
    InstanceStatus,
    Job,
    JobStatus,
    MessageSubscription,
    ProcessDefinition,
    Resource,
    TaskStatus,
    UserTask,
)
from engine.tasklist import TaskQuery, may_work, query_tasks
from web.auth import check_password, check_token
from web.security import csrf

log = logging.getLogger(__name__)

bp = Blueprint("engine_rest", __name__, url_prefix="/engine-rest")
csrf.exempt(bp)  # API clients authenticate every request; there is no session cookie to forge

CAMUNDA_VERSION = "7.24.0"  # the newest Camunda 7 the Modeler lists for its "Camunda 7" target
DEPLOYER_ROLES = frozenset({"analyst", "admin"})
REALM = "engine-rest"
DEFAULT_MAX_RESULTS = 2000
MAX_LONG_POLL_MS = 30_000
POLL_SECONDS = 0.15
CLAIM_ROUNDS = 10
BASIC_AUTH_CACHE_SECONDS = 60.0
BASIC_AUTH_CACHE_SIZE = 1024
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
INT_RANGE = (-(2**31), 2**31 - 1)
LONG_RANGE = (-(2**63), 2**63 - 1)
SHORT_RANGE = (-(2**15), 2**15 - 1)


class RestError(Exception):
    """A request the engine REST API refuses; rendered as Camunda's `{type, message}` body."""

    def __init__(
        self, status: int, message: str, type_: str = "InvalidRequestException", **extra: Any
    ) -> None:
        self.status, self.type, self.message, self.extra = status, type_, message, extra
        super().__init__(message)


def bad_request(message: str) -> RestError:
    return RestError(400, message)


def not_found(message: str) -> RestError:
    return RestError(404, message)


@dataclass(frozen=True)
class RestUser:
    """Who is calling, as far as this API cares."""

    username: str
    roles: frozenset[str]
    groups: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


# ---------------------------------------------------------------------------- errors and auth


@bp.errorhandler(RestError)
def _rest_error(err: RestError) -> ResponseReturnValue:
    return _error_body(err.status, err.type, err.message, **err.extra)


@bp.errorhandler(EngineError)
def _engine_error(err: EngineError) -> ResponseReturnValue:
    """Engine errors not translated by a view, mapped to the status a client can act on."""
    if isinstance(err, NotFoundError):
        return _error_body(404, "InvalidRequestException", str(err))
    if isinstance(err, TaskAlreadyClaimed):
        return _error_body(409, "TaskAlreadyClaimedException", str(err))
    if isinstance(err, TaskAlreadyCompleted):
        return _error_body(409, "RestException", str(err))
    if isinstance(err, ConcurrentUpdateError):
        return _error_body(409, "OptimisticLockingException", str(err))
    if isinstance(err, FormValidationError):
        return _error_body(400, "InvalidRequestException", str(err))
    if isinstance(err, InvalidStateError):
        return _error_body(400, "BadUserRequestException", str(err))
    return _error_body(500, "ProcessEngineException", str(err))


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> ResponseReturnValue:
    return _error_body(err.code or 500, "RestException", err.description or err.name)


@bp.errorhandler(Exception)
def _unexpected(err: Exception) -> ResponseReturnValue:
    log.exception("engine-rest %s %s failed", request.method, request.path)
    return _error_body(500, type(err).__name__, str(err))


def _error_body(status: int, type_: str, message: str, **extra: Any) -> Response:
    response = jsonify({"type": type_, "message": message, **extra})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
    return response


@bp.before_request
def _authenticate() -> ResponseReturnValue | None:
    """Basic or bearer on every request; failed passwords count toward the login throttle.

    Only password guesses are throttled (tokens are 256 random bits), so one worker with a
    wrong password does not lock out the token-authenticated workers on the same host.
    """
    auth = request.authorization
    throttle = current_app.extensions.get("login_throttle")
    client = request.remote_addr or "?"
    password = auth is not None and auth.type == "basic"
    if password and throttle is not None and throttle.blocked(client):
        return _error_body(
            429, "AuthenticationException", "Too many failed logins from this address; wait a few minutes."
        )
    user = _caller(auth)
    if user is None:
        if password and throttle is not None:
            throttle.failed(client)
        return _error_body(
            401,
            "AuthenticationException",
            "Authenticate with HTTP Basic (a desk user name and password) or a bearer API token "
            "from the admin page.",
        )
    g.rest_user = user
    return None


def _caller(auth: Authorization | None) -> RestUser | None:
    if auth is None:
        return None
    with _sessions()() as session:
        if auth.type == "basic":
            user = _basic_user(session, auth.username or "", auth.password or "")
        elif auth.type == "bearer":
            user = check_token(session, auth.token or "")
        else:
            user = None
        if user is None:
            return None
        return RestUser(user.username, frozenset(user.roles or ()), tuple(user.groups or ()))


def _basic_user(session: Session, username: str, password: str) -> User | None:
    """Check a password, remembering a success for a minute.

    Password hashes are deliberately slow (scrypt, ~70 ms) and workers send Basic
    credentials with every poll; the cache keeps that cost off each request. A user
    deactivated meanwhile is refused at once, because the user row is still read.
    """
    cache: dict[str, float] = current_app.extensions.setdefault("engine_rest.basic_auth", {})
    secret = str(current_app.secret_key or "").encode()
    key = hmac.new(secret, f"{username}\0{password}".encode(), hashlib.sha256).hexdigest()
    now = time.monotonic()
    if cache.get(key, 0.0) > now:
        return session.scalars(select(User).where(User.username == username, User.active.is_(True))).first()
    user = check_password(session, username, password)
    if user is not None:
        if len(cache) >= BASIC_AUTH_CACHE_SIZE:
            cache.clear()
        cache[key] = now + BASIC_AUTH_CACHE_SECONDS
    return user


def _require_deployer() -> RestUser:
    user: RestUser = g.rest_user
    if not user.roles & DEPLOYER_ROLES:
        raise RestError(
            403,
            f"User {user.username!r} may not deploy: that needs the analyst or admin role. "
            "Ask an admin to grant it, or use an analyst's credentials.",
            "AuthorizationException",
            userId=user.username,
            missingAuthorizations=[],
        )
    return user


# ---------------------------------------------------------------------------- small helpers


def _sessions():
    return current_app.extensions["sessions"]


def _runtime() -> Engine:
    return current_app.extensions["runtime"]


def _body() -> dict[str, Any]:
    if not request.get_data(cache=True):
        return {}
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object.")
    return data


def _flag(value: Any, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


def _int_arg(name: str, default: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f"Query parameter {name}={raw!r} is not a whole number.") from None


def _int_field(body: Mapping[str, Any], name: str, default: int | None = None, minimum: int = 0) -> int:
    value = body.get(name)
    if value is None:
        value = default
    if value is None:
        raise bad_request(f"{name} is required.")
    if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer():
        raise bad_request(f"{name} must be a whole number, not {value!r}.")
    if value < minimum:
        raise bad_request(f"{name} must be at least {minimum}, not {value}.")
    return int(value)


def _page(stmt: Select) -> Select:
    first = _int_arg("firstResult", 0) or 0
    limit = _int_arg("maxResults", DEFAULT_MAX_RESULTS)
    return stmt.offset(max(first, 0)).limit(max(limit if limit is not None else DEFAULT_MAX_RESULTS, 0))


def _sorted(stmt: Select, columns: Mapping[str, Any], default: Any) -> Select:
    sort_by = request.args.get("sortBy")
    descending = request.args.get("sortOrder", "asc").lower() == "desc"
    if sort_by is not None and sort_by not in columns:
        raise bad_request(f"sortBy={sort_by!r} is not supported; use one of {', '.join(sorted(columns))}.")
    column = columns[sort_by] if sort_by else default
    return stmt.order_by(column.desc() if descending else column.asc())


def _csv_arg(name: str) -> list[str] | None:
    raw = request.args.get(name)
    return [part for part in raw.split(",") if part] if raw else None


def _link(endpoint: str, **values: Any) -> list[dict[str, str]]:
    return [{"method": "GET", "href": url_for(endpoint, _external=True, **values), "rel": "self"}]


def camunda_date(value: datetime | None) -> str | None:
    """Camunda's "yyyy-MM-dd'T'HH:mm:ss.SSSZ", always in UTC: 2026-11-23T10:00:00.000+0000."""
    if value is None:
        return None
    value = value.astimezone(UTC) if value.tzinfo else value
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def parse_camunda_date(text: str) -> datetime:
    """Read Camunda's date format, or any ISO 8601 moment; a moment without zone is UTC."""
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------- typed variables


def _whole(value: Any, bounds: tuple[int, int]) -> int:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, str):
        value = int(value.strip())
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("it has a fractional part")
        value = int(value)
    if not isinstance(value, int):
        raise ValueError("it is not a number")
    if not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"it is outside {bounds[0]}..{bounds[1]}")
    return value


def _double(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("it is not a number")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError("it is not a finite number")
    return result


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError("it is not a string")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError("it is neither true nor false")


def _date(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a date is written as a string like 2026-11-23T10:00:00.000+0000")
    return parse_camunda_date(value).isoformat()


def _json(value: Any) -> Any:
    if isinstance(value, dict | list):
        return value
    if not isinstance(value, str):
        raise ValueError("a Json value is a string holding JSON")
    return json.loads(value)


def _object(value: Any, info: Mapping[str, Any]) -> Any:
    data_format = info.get("serializationDataFormat")
    if data_format != "application/json":
        raise ValueError(
            f"only Object values serialized as application/json are accepted, not {data_format!r}; "
            "send the value as type Json instead"
        )
    return _json(value)


_DECODERS: dict[str, Callable[[Any, Mapping[str, Any]], Any]] = {
    "string": lambda v, _: _string(v),
    "boolean": lambda v, _: _boolean(v),
    "integer": lambda v, _: _whole(v, INT_RANGE),
    "short": lambda v, _: _whole(v, SHORT_RANGE),
    "long": lambda v, _: _whole(v, LONG_RANGE),
    "double": lambda v, _: _double(v),
    "date": lambda v, _: _date(v),
    "json": lambda v, _: _json(v),
    "object": _object,
    "null": lambda v, _: None,
}
TYPE_NAMES = "String, Boolean, Integer, Short, Long, Double, Date, Json, Object (JSON), Null"


def decode_variables(raw: Any, what: str = "variables") -> dict[str, Any]:
    """Camunda's `{name: {value, type, valueInfo}}` to plain values; 400 naming the variable otherwise.

    A value without a type is taken as JSON gives it, as Camunda does for untyped values.
    Dates are kept as ISO 8601 strings and Json values as parsed dicts and lists, so the
    process sees the same values whichever client sent them.
    """
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise bad_request(f"{what} must be an object mapping names to {{value, type}}.")
    return {str(name): decode_value(str(name), dto) for name, dto in raw.items()}


def decode_value(name: str, dto: Any) -> Any:
    if not isinstance(dto, dict):
        raise bad_request(f'Variable {name!r} must be an object like {{"value": 1, "type": "Integer"}}.')
    value, type_name = dto.get("value"), dto.get("type")
    if type_name in (None, ""):
        return value
    decoder = _DECODERS.get(str(type_name).lower())
    if decoder is None:
        raise bad_request(f"Variable {name!r} has unsupported type {type_name!r}; use one of {TYPE_NAMES}.")
    if value is None:
        return None
    try:
        return decoder(value, dto.get("valueInfo") or {})
    except (ValueError, TypeError) as err:
        raise bad_request(
            f"Cannot convert value {value!r} of type {type_name!r} for variable {name!r}: {err}."
        ) from err


def encode_value(value: Any) -> dict[str, Any]:
    """A plain value as Camunda's typed value, the type inferred from the Python value."""
    if value is None:
        return {"type": "Null", "value": None, "valueInfo": {}}
    if isinstance(value, bool):
        return {"type": "Boolean", "value": value, "valueInfo": {}}
    if isinstance(value, int):
        kind = "Integer" if INT_RANGE[0] <= value <= INT_RANGE[1] else "Long"
        return {"type": kind, "value": value, "valueInfo": {}}
    if isinstance(value, float):
        return {"type": "Double", "value": value, "valueInfo": {}}
    if isinstance(value, str):
        return {"type": "String", "value": value, "valueInfo": {}}
    if isinstance(value, datetime):
        return {"type": "Date", "value": camunda_date(value), "valueInfo": {}}
    if isinstance(value, dict | list | tuple):
        text = json.dumps(value, ensure_ascii=False, default=str)
        return {"type": "Json", "value": text, "valueInfo": {}}
    return {"type": "String", "value": str(value), "valueInfo": {}}


def encode_variables(values: Mapping[str, Any], names: Iterable[str] | None = None) -> dict[str, Any]:
    wanted = set(names) if names is not None else None
    return {k: encode_value(v) for k, v in values.items() if wanted is None or k in wanted}


# ---------------------------------------------------------------------------- engine


@bp.get("/version")
def version() -> ResponseReturnValue:
    return jsonify({"version": CAMUNDA_VERSION})


@bp.get("/engine")
def engines() -> ResponseReturnValue:
    return jsonify([{"name": "default"}])


# ---------------------------------------------------------------------------- deployments


def _deployment_dto(row: Deployment) -> dict[str, Any]:
    return {
        "links": _link("engine_rest.get_deployment", deployment_id=row.id),
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
        stmt = stmt.where(Deployment.tenant_id.in_(_csv_arg("tenantIdIn") or []))
    if args.get("after"):
        stmt = stmt.where(Deployment.deployed_at > parse_camunda_date(args["after"]))
    if args.get("before"):
        stmt = stmt.where(Deployment.deployed_at < parse_camunda_date(args["before"]))
    return stmt


@bp.get("/deployment")
def list_deployments() -> ResponseReturnValue:
    columns = {
        "id": Deployment.id,
        "name": Deployment.name,
        "deploymentTime": Deployment.deployed_at,
        "tenantId": Deployment.tenant_id,
    }
    stmt = _page(_sorted(_deployment_query(), columns, Deployment.deployed_at))
    with _sessions()() as session:
        return jsonify([_deployment_dto(row) for row in session.scalars(stmt)])


@bp.get("/deployment/count")
def count_deployments() -> ResponseReturnValue:
    return _count(_deployment_query())


@bp.get("/deployment/<deployment_id>")
def get_deployment(deployment_id: str) -> ResponseReturnValue:
    with _sessions()() as session:
        return jsonify(_deployment_dto(_deployment_or_404(session, deployment_id)))


@bp.get("/deployment/<deployment_id>/resources")
def deployment_resources(deployment_id: str) -> ResponseReturnValue:
    with _sessions()() as session:
        _deployment_or_404(session, deployment_id)
        rows = session.scalars(
            select(Resource).where(Resource.deployment_id == deployment_id).order_by(Resource.id)
        )
        return jsonify([{"id": str(r.id), "name": r.name, "deploymentId": r.deployment_id} for r in rows])


@bp.get("/deployment/<deployment_id>/resources/<resource_id>/data")
def deployment_resource_data(deployment_id: str, resource_id: str) -> ResponseReturnValue:
    with _sessions()() as session:
        row = session.get(Resource, int(resource_id)) if resource_id.isdigit() else None
        if row is None or row.deployment_id != deployment_id:
            raise not_found(
                f"Deployment resource with resource id '{resource_id}' for deployment "
                f"id '{deployment_id}' does not exist."
            )
        return Response(row.content, mimetype="application/octet-stream")


@bp.delete("/deployment/<deployment_id>")
def delete_deployment(deployment_id: str) -> ResponseReturnValue:
    user = _require_deployer()
    try:
        _runtime().delete_deployment(
            deployment_id, cascade=_flag(request.args.get("cascade")), user=user.username
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
def create_deployment() -> ResponseReturnValue:
    """Camunda's multipart deploy: known fields configure it, every other part is a resource."""
    user = _require_deployer()
    resources: dict[str, bytes] = {}
    for field_name, storage in request.files.items(multi=True):
        resources[storage.filename or field_name] = storage.read()
    for field_name, value in request.form.items(multi=True):
        if field_name not in DEPLOYMENT_FIELDS:
            resources[field_name] = value.encode()
    if not resources:
        raise bad_request("No deployment resources contained in the form upload.")
    form = request.form
    runtime = _runtime()
    try:
        report = deploy(
            _sessions(),
            resources,
            name=form.get("deployment-name") or None,
            source=form.get("deployment-source") or None,
            tenant_id=form.get("tenant-id") or None,
            duplicate_filtering=_flag(form.get("enable-duplicate-filtering")),
            changed_only=_flag(form.get("deploy-changed-only")),
            allow_scripts=current_app.config["ALLOW_SCRIPT_TASKS"],
            known_topics=current_app.extensions["handlers"],
            user=user.username,
            now=runtime.now(),
        )
    except DeployError as err:
        return _deploy_refused(err)
    # A filtered duplicate names the definitions already deployed, so Start works right after.
    definitions = [d for d in report.definitions if d.new] or report.definitions
    with _sessions()() as session:
        deployment = session.get(Deployment, report.deployment_id)
        rows = [session.get(ProcessDefinition, d.id) for d in definitions]
        body = {
            **_deployment_dto(deployment),
            "deployedProcessDefinitions": {row.id: _definition_dto(row, deployment.tenant_id) for row in rows}
            or None,
            "deployedCaseDefinitions": None,
            "deployedDecisionDefinitions": None,
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
            parts.append(f"Errors in process resource '{resource}':\n{lines}")
    message = "ENGINE-09005 Could not parse BPMN process. " + "\n".join(parts)
    return _error_body(400, "ParseException", message, details=details)


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


# ---------------------------------------------------------------------------- process definitions


def _definition_dto(row: ProcessDefinition, tenant_id: str | None) -> dict[str, Any]:
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
        "historyTimeToLive": None,
        "startableInTasklist": True,
    }


def _definition_query() -> Select:
    stmt = select(ProcessDefinition, Deployment.tenant_id).join(
        Deployment, Deployment.id == ProcessDefinition.deployment_id
    )
    args = request.args
    if args.get("processDefinitionId"):
        stmt = stmt.where(ProcessDefinition.id == args["processDefinitionId"])
    if args.get("processDefinitionIdIn"):
        stmt = stmt.where(ProcessDefinition.id.in_(_csv_arg("processDefinitionIdIn") or []))
    if args.get("key"):
        stmt = stmt.where(ProcessDefinition.key == args["key"])
    if args.get("keysIn"):
        stmt = stmt.where(ProcessDefinition.key.in_(_csv_arg("keysIn") or []))
    if args.get("keyLike"):
        stmt = stmt.where(ProcessDefinition.key.like(args["keyLike"]))
    if args.get("name"):
        stmt = stmt.where(ProcessDefinition.name == args["name"])
    if args.get("nameLike"):
        stmt = stmt.where(ProcessDefinition.name.like(args["nameLike"]))
    if args.get("deploymentId"):
        stmt = stmt.where(ProcessDefinition.deployment_id == args["deploymentId"])
    if args.get("version"):
        stmt = stmt.where(ProcessDefinition.version == _int_arg("version"))
    if args.get("resourceName"):
        stmt = stmt.where(ProcessDefinition.resource_name == args["resourceName"])
    if _flag(args.get("latestVersion")):
        latest = (
            select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("v"))
            .group_by(ProcessDefinition.key)
            .subquery()
        )
        stmt = stmt.join(
            latest, and_(latest.c.key == ProcessDefinition.key, latest.c.v == ProcessDefinition.version)
        )
    return stmt


@bp.get("/process-definition")
def list_definitions() -> ResponseReturnValue:
    columns = {
        "id": ProcessDefinition.id,
        "key": ProcessDefinition.key,
        "name": ProcessDefinition.name,
        "version": ProcessDefinition.version,
        "deploymentId": ProcessDefinition.deployment_id,
        "deployTime": ProcessDefinition.deployed_at,
    }
    stmt = _page(_sorted(_definition_query(), columns, ProcessDefinition.deployed_at))
    with _sessions()() as session:
        return jsonify([_definition_dto(row, tenant) for row, tenant in session.execute(stmt)])


@bp.get("/process-definition/count")
def count_definitions() -> ResponseReturnValue:
    return _count(_definition_query())


def _definition_or_404(session: Session, definition_id: str) -> tuple[ProcessDefinition, str | None]:
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
        return _runtime().latest_definition_id(session, key)
    except NotFoundError as err:
        raise not_found(f"No matching process definition with key: {key} and no tenant-id") from err


@bp.get("/process-definition/<definition_id>")
def get_definition(definition_id: str) -> ResponseReturnValue:
    with _sessions()() as session:
        return jsonify(_definition_dto(*_definition_or_404(session, definition_id)))


@bp.get("/process-definition/key/<key>")
def get_definition_by_key(key: str) -> ResponseReturnValue:
    with _sessions()() as session:
        return jsonify(_definition_dto(*_definition_or_404(session, _latest_id_or_404(session, key))))


@bp.get("/process-definition/<definition_id>/xml")
def definition_xml(definition_id: str) -> ResponseReturnValue:
    with _sessions()() as session:
        return jsonify(_xml_dto(session, _definition_or_404(session, definition_id)[0]))


@bp.get("/process-definition/key/<key>/xml")
def definition_xml_by_key(key: str) -> ResponseReturnValue:
    with _sessions()() as session:
        row = _definition_or_404(session, _latest_id_or_404(session, key))[0]
        return jsonify(_xml_dto(session, row))


def _xml_dto(session: Session, row: ProcessDefinition) -> dict[str, Any]:
    content = session.scalars(
        select(Resource.content).where(
            Resource.deployment_id == row.deployment_id, Resource.name == row.resource_name
        )
    ).first()
    return {"id": row.id, "bpmn20Xml": (content or b"").decode("utf-8", errors="replace")}


@bp.post("/process-definition/<definition_id>/start")
def start_by_id(definition_id: str) -> ResponseReturnValue:
    with _sessions()() as session:
        _definition_or_404(session, definition_id)
    return _start(definition_id)


@bp.post("/process-definition/key/<key>/start")
def start_by_key(key: str) -> ResponseReturnValue:
    with _sessions()() as session:
        definition_id = _latest_id_or_404(session, key)
    return _start(definition_id)


def _start(definition_id: str) -> ResponseReturnValue:
    body = _body()
    variables = decode_variables(body.get("variables"))
    business_key = _business_key(body.get("businessKey"))
    try:
        started = _runtime().start(
            definition_id=definition_id,
            business_key=business_key,
            variables=variables,
            user=g.rest_user.username,
            validate_form=False,
        )
    except ProcessError as err:
        raise RestError(
            500, f"Cannot instantiate process definition {definition_id}: {err}", "RestException"
        ) from err
    with _sessions()() as session:
        dto = _instance_dto(session.get(Instance, started.id))
    if _flag(body.get("withVariablesInReturn")):
        dto["variables"] = encode_variables(_runtime().variables(started.id))
    return jsonify(dto)


def _business_key(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise bad_request(f"businessKey must be a string, not {value!r}.")
    if len(value) > 128:
        raise bad_request("businessKey is longer than 128 characters.")
    return value


# ---------------------------------------------------------------------------- process instances


def _instance_dto(row: Instance) -> dict[str, Any]:
    return {
        "links": _link("engine_rest.get_instance", instance_id=row.id),
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
    stmt = select(Instance).where(Instance.status == InstanceStatus.RUNNING.value)
    args = request.args
    if args.get("variables"):
        raise bad_request("Filtering process instances by variables is not supported; filter by businessKey.")
    if args.get("processInstanceIds"):
        stmt = stmt.where(Instance.id.in_(_csv_arg("processInstanceIds") or []))
    if args.get("businessKey"):
        stmt = stmt.where(Instance.business_key == args["businessKey"])
    if args.get("businessKeyLike"):
        stmt = stmt.where(Instance.business_key.like(args["businessKeyLike"]))
    if args.get("processDefinitionId"):
        stmt = stmt.where(Instance.definition_id == args["processDefinitionId"])
    if args.get("processDefinitionKey"):
        stmt = stmt.where(Instance.definition_key == args["processDefinitionKey"])
    if args.get("processDefinitionKeyIn"):
        stmt = stmt.where(Instance.definition_key.in_(_csv_arg("processDefinitionKeyIn") or []))
    if args.get("deploymentId"):
        stmt = stmt.where(
            Instance.definition_id.in_(
                select(ProcessDefinition.id).where(ProcessDefinition.deployment_id == args["deploymentId"])
            )
        )
    if _flag(args.get("withIncident")):
        stmt = stmt.where(Instance.id.in_(select(Incident.instance_id).where(Incident.status == "open")))
    if _flag(args.get("suspended")):
        stmt = stmt.where(false())
    return stmt


@bp.get("/process-instance")
def list_instances() -> ResponseReturnValue:
    columns = {
        "instanceId": Instance.id,
        "definitionId": Instance.definition_id,
        "definitionKey": Instance.definition_key,
        "businessKey": Instance.business_key,
    }
    stmt = _page(_sorted(_instance_query(), columns, Instance.started_at))
    with _sessions()() as session:
        return jsonify([_instance_dto(row) for row in session.scalars(stmt)])


@bp.get("/process-instance/count")
def count_instances() -> ResponseReturnValue:
    return _count(_instance_query())


def _running_instance_or_404(session: Session, instance_id: str) -> Instance:
    row = session.get(Instance, instance_id)
    if row is None or row.status != InstanceStatus.RUNNING.value:
        raise not_found(f"Process instance with id {instance_id} does not exist")
    return row


@bp.get("/process-instance/<instance_id>")
def get_instance(instance_id: str) -> ResponseReturnValue:
    with _sessions()() as session:
        return jsonify(_instance_dto(_running_instance_or_404(session, instance_id)))


@bp.get("/process-instance/<instance_id>/variables")
def instance_variables(instance_id: str) -> ResponseReturnValue:
    with _sessions()() as session:
        row = _running_instance_or_404(session, instance_id)
        return jsonify(encode_variables(row.variables or {}, _csv_arg("variableNames")))


@bp.get("/process-instance/<instance_id>/variables/<name>")
def instance_variable(instance_id: str, name: str) -> ResponseReturnValue:
    with _sessions()() as session:
        variables = _running_instance_or_404(session, instance_id).variables or {}
    if name not in variables:
        raise not_found(f"process instance variable with name {name} does not exist")
    return jsonify(encode_value(variables[name]))


@bp.delete("/process-instance/<instance_id>")
def delete_instance(instance_id: str) -> ResponseReturnValue:
    with _sessions()() as session:
        _running_instance_or_404(session, instance_id)
    reason = request.args.get("deleteReason") or "deleted through engine-rest"
    _runtime().cancel(instance_id, user=g.rest_user.username, reason=reason)
    return "", 204


# ---------------------------------------------------------------------------- migration


@bp.post("/migration/generate")
def generate_migration() -> ResponseReturnValue:
    """Camunda's generated plan: every element whose id exists in the target as the same kind."""
    _require_deployer()
    migration = _migration_plan(_body())
    instructions = [
        {"sourceActivityIds": [m.source_id], "targetActivityIds": [m.target_id], "updateEventTrigger": False}
        for m in migration.elements.values()
        if m.target_id and not m.problem
    ]
    return jsonify(
        {
            "sourceProcessDefinitionId": migration.source.id,
            "targetProcessDefinitionId": migration.target.id,
            "instructions": instructions,
            "variables": None,
        }
    )


@bp.post("/migration/execute")
def execute_migration() -> ResponseReturnValue:
    """Migrate the listed instances; if any cannot, none is touched (as Camunda's synchronous execute)."""
    _require_deployer()
    body = _body()
    ids = body.get("processInstanceIds")
    if not ids or not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise bad_request(
            "processInstanceIds must list instance ids (processInstanceQuery is not supported)."
        )
    migration = _migration_plan(body.get("migrationPlan"), with_instructions=True)
    with _sessions()() as session:
        report = dry_run(session, migration, ids)
    if report.refused:
        raise RestError(400, "; ".join(report.lines()[1:]), "MigratingProcessInstanceValidationException")
    for instance_id in ids:
        migrate_instance(_runtime(), migration, instance_id, user=g.rest_user.username)
    return "", 204


_INSTRUCTION_KEYS = ("sourceActivityIds", "targetActivityIds")


def _migration_plan(body: Any, *, with_instructions: bool = False) -> MigrationPlan:
    if not isinstance(body, dict):
        raise bad_request("migrationPlan must be an object.")
    mapping: dict[str, str] = {}
    instructions = (body.get("instructions") or []) if with_instructions else []
    for instruction in instructions:
        pair = [instruction.get(k) if isinstance(instruction, dict) else None for k in _INSTRUCTION_KEYS]
        if not all(isinstance(ids, list) and len(ids) == 1 and isinstance(ids[0], str) for ids in pair):
            raise bad_request(
                "Each instruction maps one sourceActivityIds entry to one targetActivityIds entry."
            )
        mapping[pair[0][0]] = pair[1][0]
    with _sessions()() as session:
        loaded = []
        for field_name in ("sourceProcessDefinitionId", "targetProcessDefinitionId"):
            definition_id = body.get(field_name)
            if not isinstance(definition_id, str):
                raise bad_request(f"{field_name} is required.")
            _definition_or_404(session, definition_id)
            loaded.append(_runtime().definition(session, definition_id))
    try:
        return plan(loaded[0], loaded[1], mapping)
    except MigrationError as err:
        raise bad_request(str(err)) from err


# ---------------------------------------------------------------------------- messages


@bp.post("/message")
def correlate_message() -> ResponseReturnValue:
    body = _body()
    name = body.get("messageName")
    if not name or not isinstance(name, str):
        raise bad_request("messageName is required.")
    if body.get("correlationKeys") or body.get("localCorrelationKeys"):
        raise bad_request("correlationKeys are not supported; correlate by businessKey.")
    if body.get("processInstanceId"):
        raise bad_request("processInstanceId is not supported; correlate by businessKey.")
    business_key = _business_key(body.get("businessKey"))
    variables = {
        **decode_variables(body.get("processVariablesLocal"), "processVariablesLocal"),
        **decode_variables(body.get("processVariables"), "processVariables"),
    }
    waiting_before = _waiting_for(name, business_key)
    try:
        instance_ids = _runtime().correlate(
            name,
            business_key,
            variables,
            all_instances=_flag(body.get("all")),
            user=g.rest_user.username,
        )
    except MessageNotCorrelatedError as err:
        raise RestError(400, f"Cannot correlate message '{name}': {err}", "RestException") from err
    if not _flag(body.get("resultEnabled")):
        return "", 204
    with_variables = _flag(body.get("variablesInResultEnabled"))
    results = []
    with _sessions()() as session:
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
                result["processInstance"] = _instance_dto(row)
            if with_variables:
                result["variables"] = encode_variables(row.variables or {})
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
    with _sessions()() as session:
        return set(session.scalars(stmt))


# ---------------------------------------------------------------------------- user tasks


def _task_dto(row: Any) -> dict[str, Any]:
    """A user task (projection row or tasklist view) as Camunda's TaskDto."""
    return {
        "id": row.id,
        "name": row.name,
        "assignee": row.assignee,
        "owner": row.owner,
        "created": camunda_date(row.created_at),
        "lastUpdated": None,
        "due": camunda_date(row.due),
        "followUp": camunda_date(row.follow_up),
        "delegationState": None,
        "description": None,
        "executionId": row.id,
        "parentTaskId": None,
        "priority": row.priority,
        "processDefinitionId": row.definition_id,
        "processInstanceId": row.instance_id,
        "caseExecutionId": None,
        "caseDefinitionId": None,
        "caseInstanceId": None,
        "taskDefinitionKey": row.element_id,
        "suspended": False,
        "formKey": row.form_key,
        "camundaFormRef": None,
        "tenantId": None,
    }


TASK_SORTS = {"created": "created", "dueDate": "due", "priority": "priority", "name": "name"}


def _task_query() -> TaskQuery:
    args = request.args
    sort_by = args.get("sortBy", "created")
    if sort_by not in TASK_SORTS:
        raise bad_request(f"sortBy={sort_by!r} is not supported; use one of {', '.join(TASK_SORTS)}.")
    user: RestUser = g.rest_user
    return TaskQuery(
        user=user.username,
        groups=list(user.groups),
        everything=user.is_admin,
        assignee=args.get("assignee") or None,
        unassigned=_flag(args.get("unassigned")),
        candidate_group=args.get("candidateGroup") or None,
        candidate_user=args.get("candidateUser") or None,
        definition_key=args.get("processDefinitionKey") or None,
        element_id=args.get("taskDefinitionKey") or None,
        instance_id=args.get("processInstanceId") or None,
        business_key=args.get("processInstanceBusinessKey") or None,
        name_like=(args.get("nameLike") or "").strip("%") or None,
        sort=TASK_SORTS[sort_by],
        descending=args.get("sortOrder", "asc").lower() == "desc",
        offset=max(_int_arg("firstResult", 0) or 0, 0),
        limit=max(_int_arg("maxResults", DEFAULT_MAX_RESULTS) or 0, 0),
    )


@bp.get("/task")
def list_tasks() -> ResponseReturnValue:
    query = _task_query()
    with _sessions()() as session:
        page = query_tasks(session, query, count=False)
    return jsonify([_task_dto(t) for t in page.tasks])


@bp.get("/task/count")
def count_tasks() -> ResponseReturnValue:
    query = _task_query()
    query.limit, query.offset = 1, 0
    with _sessions()() as session:
        return jsonify({"count": query_tasks(session, query).total})


def _open_task_or_404(session: Session, task_id: str) -> UserTask:
    row = session.get(UserTask, task_id)
    if row is None or row.status != TaskStatus.OPEN.value:
        raise not_found(f"No matching task with id {task_id}")
    return row


def _require_may_work(row: UserTask, verb: str, *, as_candidate: bool = False) -> None:
    """The task list's rule (assigned to them, or offered to them or their groups); admins pass.

    `as_candidate` judges the task as if unassigned, so claiming a task someone else holds
    is answered with the 409 that says who has it rather than a 403.
    """
    user: RestUser = g.rest_user
    judged: Any = row
    if as_candidate:
        judged = SimpleNamespace(
            assignee=None, candidate_users=row.candidate_users, candidate_groups=row.candidate_groups
        )
    if user.is_admin or may_work(judged, user.username, list(user.groups)):
        return
    raise RestError(
        403,
        f"User {user.username!r} may not {verb} task {row.id}: it is neither assigned to them nor "
        "offered to them or their groups.",
        "AuthorizationException",
        userId=user.username,
        missingAuthorizations=[],
    )


@bp.get("/task/<task_id>")
def get_task(task_id: str) -> ResponseReturnValue:
    with _sessions()() as session:
        row = _open_task_or_404(session, task_id)
        _require_may_work(row, "see")
        return jsonify(_task_dto(row))


FORM_VARIABLE_TYPES = {"long": "Long", "double": "Double", "boolean": "Boolean", "date": "Date"}


@bp.get("/task/<task_id>/form-variables")
def task_form_variables(task_id: str) -> ResponseReturnValue:
    with _sessions()() as session:
        row = _open_task_or_404(session, task_id)
        _require_may_work(row, "see")
        values = dict(session.get(Instance, row.instance_id).variables or {})
        schema = FormSchema.from_dict(row.form)
    wanted = _csv_arg("variableNames")
    result: dict[str, Any] = {}
    for field in schema.fields:
        if field.widget == "text" or (wanted is not None and field.id not in wanted):
            continue
        value = values.get(field.id, field.default)
        result[field.id] = {
            "type": FORM_VARIABLE_TYPES.get(field.type, "String"),
            "value": value,
            "valueInfo": {},
        }
    return jsonify(result)


@bp.get("/task/<task_id>/variables")
def task_variables(task_id: str) -> ResponseReturnValue:
    with _sessions()() as session:
        row = _open_task_or_404(session, task_id)
        _require_may_work(row, "see")
        values = dict(session.get(Instance, row.instance_id).variables or {})
    return jsonify(encode_variables(values, _csv_arg("variableNames")))


@bp.post("/task/<task_id>/claim")
def claim_task(task_id: str) -> ResponseReturnValue:
    user_id = _body().get("userId")
    if not user_id or not isinstance(user_id, str):
        raise bad_request("userId is required to claim a task.")
    caller: RestUser = g.rest_user
    if user_id != caller.username and not caller.is_admin:
        raise RestError(
            403,
            f"User {caller.username!r} may claim tasks for themselves only, not for {user_id!r}.",
            "AuthorizationException",
            userId=caller.username,
            missingAuthorizations=[],
        )
    with _sessions()() as session:
        _require_may_work(_open_task_or_404(session, task_id), "claim", as_candidate=True)
    _runtime().claim(task_id, user_id)
    return "", 204


@bp.post("/task/<task_id>/unclaim")
def unclaim_task(task_id: str) -> ResponseReturnValue:
    with _sessions()() as session:
        _require_may_work(_open_task_or_404(session, task_id), "unclaim")
    _runtime().unclaim(task_id, user=g.rest_user.username)
    return "", 204


@bp.post("/task/<task_id>/complete")
def complete_task(task_id: str) -> ResponseReturnValue:
    body = _body()
    variables = decode_variables(body.get("variables"))
    with _sessions()() as session:
        row = session.get(UserTask, task_id)
        if row is None:
            raise not_found(f"Cannot complete task {task_id}: no task with that id exists.")
        if row.status == TaskStatus.OPEN.value:
            _require_may_work(row, "complete")
        instance_id = row.instance_id
    try:
        _runtime().complete(task_id, g.rest_user.username, variables)
    except FormValidationError as err:
        raise bad_request(f"Cannot complete task {task_id}: {err}") from err
    except TaskAlreadyCompleted as err:
        raise RestError(409, f"Cannot complete task {task_id}: {err}", "RestException") from err
    if _flag(body.get("withVariablesInReturn")):
        with _sessions()() as session:
            return jsonify(encode_variables(session.get(Instance, instance_id).variables or {}))
    return "", 204


# ---------------------------------------------------------------------------- history and incidents

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
        stmt = stmt.where(Instance.id.in_(_csv_arg("processInstanceIds") or []))
    if args.get("processInstanceBusinessKey"):
        stmt = stmt.where(Instance.business_key == args["processInstanceBusinessKey"])
    if args.get("processDefinitionId"):
        stmt = stmt.where(Instance.definition_id == args["processDefinitionId"])
    if args.get("processDefinitionKey"):
        stmt = stmt.where(Instance.definition_key == args["processDefinitionKey"])
    if _flag(args.get("finished")):
        stmt = stmt.where(Instance.status != InstanceStatus.RUNNING.value)
    if _flag(args.get("unfinished")):
        stmt = stmt.where(Instance.status == InstanceStatus.RUNNING.value)
    if args.get("startedBy"):
        stmt = stmt.where(Instance.started_by == args["startedBy"])
    if args.get("state"):
        states = [k for k, v in HISTORY_STATES.items() if v == args["state"]]
        stmt = stmt.where(Instance.status.in_(states))
    return stmt


@bp.get("/history/process-instance")
def history_instances() -> ResponseReturnValue:
    columns = {
        "instanceId": Instance.id,
        "definitionId": Instance.definition_id,
        "definitionKey": Instance.definition_key,
        "businessKey": Instance.business_key,
        "startTime": Instance.started_at,
        "endTime": Instance.ended_at,
    }
    stmt = _page(_sorted(_history_query(), columns, Instance.started_at))
    with _sessions()() as session:
        rows = session.execute(stmt).all()
    return jsonify([_history_dto(inst, name, version) for inst, name, version in rows])


@bp.get("/history/process-instance/count")
def count_history_instances() -> ResponseReturnValue:
    return _count(_history_query())


@bp.get("/history/process-instance/<instance_id>")
def history_instance(instance_id: str) -> ResponseReturnValue:
    stmt = (
        select(Instance, ProcessDefinition.name, ProcessDefinition.version)
        .join(ProcessDefinition, ProcessDefinition.id == Instance.definition_id)
        .where(Instance.id == instance_id)
    )
    with _sessions()() as session:
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


@bp.get("/history/variable-instance")
def history_variables() -> ResponseReturnValue:
    instance_id = request.args.get("processInstanceId")
    if not instance_id:
        raise bad_request("processInstanceId is required.")
    with _sessions()() as session:
        row = session.get(Instance, instance_id)
        if row is None:
            return jsonify([])
        result = []
        for name, value in (row.variables or {}).items():
            typed = encode_value(value)
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


def _incident_query() -> Select:
    stmt = (
        select(Incident, Job, Instance.definition_id)
        .join(Instance, Instance.id == Incident.instance_id)
        .outerjoin(Job, Job.id == Incident.job_id)
        .where(Incident.status == "open")
    )
    args = request.args
    if args.get("incidentId"):
        stmt = stmt.where(Incident.id == _int_arg("incidentId"))
    if args.get("processInstanceId"):
        stmt = stmt.where(Incident.instance_id == args["processInstanceId"])
    if args.get("processDefinitionId"):
        stmt = stmt.where(Instance.definition_id == args["processDefinitionId"])
    if args.get("activityId"):
        stmt = stmt.where(Incident.element_id == args["activityId"])
    if args.get("incidentType") == "failedExternalTask":
        stmt = stmt.where(Job.external.is_(True))
    elif args.get("incidentType") == "failedJob":
        stmt = stmt.where(or_(Job.external.is_(False), Job.id.is_(None)))
    elif args.get("incidentType"):
        stmt = stmt.where(false())
    return stmt


@bp.get("/incident")
def list_incidents() -> ResponseReturnValue:
    stmt = _page(
        _sorted(
            _incident_query(),
            {"incidentId": Incident.id, "incidentTimestamp": Incident.created_at},
            Incident.created_at,
        )
    )
    with _sessions()() as session:
        rows = session.execute(stmt).all()
    return jsonify([_incident_dto(incident, job, definition_id) for incident, job, definition_id in rows])


@bp.get("/incident/count")
def count_incidents() -> ResponseReturnValue:
    return _count(_incident_query())


def _incident_dto(row: Incident, job: Job | None, definition_id: str) -> dict[str, Any]:
    external = job is not None and job.external
    return {
        "id": str(row.id),
        "processDefinitionId": definition_id,
        "processInstanceId": row.instance_id,
        "executionId": job.task_id if job is not None else None,
        "incidentTimestamp": camunda_date(row.created_at),
        "incidentType": "failedExternalTask" if external else row.incident_type,
        "activityId": row.element_id,
        "failedActivityId": row.element_id,
        "causeIncidentId": str(row.id),
        "rootCauseIncidentId": str(row.id),
        "configuration": str(row.job_id) if row.job_id is not None else None,
        "tenantId": None,
        "incidentMessage": row.message,
        "jobDefinitionId": None,
        "annotation": None,
    }


def _count(stmt: Select) -> ResponseReturnValue:
    with _sessions()() as session:
        total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return jsonify({"count": total or 0})


# ---------------------------------------------------------------------------- external tasks


@dataclass(frozen=True)
class TopicRequest:
    """One entry of fetchAndLock's `topics`: what to lock, for how long, with which variables."""

    name: str
    lease: timedelta
    variables: tuple[str, ...] | None
    local_only: bool
    extension_properties: bool
    business_key: str | None
    definition_ids: tuple[str, ...] | None
    definition_keys: tuple[str, ...] | None
    process_variables: dict[str, Any]


def _topic_request(raw: Any) -> TopicRequest:
    if not isinstance(raw, dict) or not isinstance(raw.get("topicName"), str) or not raw["topicName"]:
        raise bad_request("Each entry of topics needs a topicName.")
    lock_ms = _int_field(raw, "lockDuration", minimum=1)
    names = raw.get("variables")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise bad_request(f"topics[{raw['topicName']}].variables must be a list of variable names.")
    ids = [raw["processDefinitionId"]] if raw.get("processDefinitionId") else []
    ids += list(raw.get("processDefinitionIdIn") or [])
    keys = [raw["processDefinitionKey"]] if raw.get("processDefinitionKey") else []
    keys += list(raw.get("processDefinitionKeyIn") or [])
    process_variables = raw.get("processVariables") or {}
    if not isinstance(process_variables, dict):
        raise bad_request("processVariables must be an object of variable name -> value.")
    return TopicRequest(
        name=raw["topicName"],
        lease=timedelta(milliseconds=lock_ms),
        variables=tuple(names) if names is not None else None,
        local_only=_flag(raw.get("localVariables")),
        extension_properties=_flag(raw.get("includeExtensionProperties")),
        business_key=raw.get("businessKey") or None,
        definition_ids=tuple(ids) or None,
        definition_keys=tuple(keys) or None,
        process_variables=process_variables,
    )


def _external_jobs():
    """Jobs this API serves: external topics, and any topic no in-process handler serves."""
    return or_(Job.external.is_(True), Job.topic.not_in(current_app.extensions["handlers"].topics()))


def _fetchable(now: datetime):
    return or_(
        and_(Job.status == JobStatus.PENDING.value, Job.due_at <= now),
        and_(Job.status == JobStatus.LOCKED.value, Job.lock_expires_at < now),
    )


def _topic_condition(topic: TopicRequest):
    conditions = [Job.topic == topic.name]
    if topic.business_key is not None:
        conditions.append(Instance.business_key == topic.business_key)
    if topic.definition_ids is not None:
        conditions.append(Instance.definition_id.in_(topic.definition_ids))
    if topic.definition_keys is not None:
        conditions.append(Instance.definition_key.in_(topic.definition_keys))
    return and_(*conditions)


@bp.post("/external-task/fetchAndLock")
def fetch_and_lock() -> ResponseReturnValue:
    """Lock up to maxTasks due tasks of the topics for this worker, long-polling when none are due."""
    body = _body()
    worker = body.get("workerId")
    if not worker or not isinstance(worker, str):
        raise bad_request("workerId is required: name the worker that will complete the tasks.")
    max_tasks = _int_field(body, "maxTasks")
    raw_topics = body.get("topics") or []
    if not isinstance(raw_topics, list):
        raise bad_request("topics must be a list of {topicName, lockDuration}.")
    topics = {t.name: t for t in (_topic_request(raw) for raw in raw_topics)}
    timeout_ms = min(_int_field(body, "asyncResponseTimeout", default=0), MAX_LONG_POLL_MS)
    order = _fetch_order(body)
    if not topics or not max_tasks:
        return jsonify([])
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        locked = _lock_due(worker, max_tasks, topics, order)
        if locked or time.monotonic() >= deadline:
            return jsonify(_locked_dtos(locked, topics))
        time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0)))


def _fetch_order(body: Mapping[str, Any]) -> list[Any]:
    order: list[Any] = []
    if _flag(body.get("usePriority")):
        order.append(Job.priority.desc())
    for sorting in body.get("sorting") or []:
        if not isinstance(sorting, dict) or sorting.get("sortBy") != "createTime":
            raise bad_request("sorting supports sortBy createTime only.")
        desc = str(sorting.get("sortOrder", "asc")).lower() == "desc"
        order.append(Job.created_at.desc() if desc else Job.created_at.asc())
    return [*order, Job.due_at, Job.id]


def _lock_due(worker: str, max_tasks: int, topics: dict[str, TopicRequest], order: list[Any]) -> list[int]:
    """Claim candidates one by one with the runtime's conditional UPDATE; losers of a race move on."""
    runtime = _runtime()
    locked: list[int] = []
    filter_variables = any(t.process_variables for t in topics.values())
    for _ in range(CLAIM_ROUNDS):
        wanted = max_tasks - len(locked)
        stmt = (
            select(Job.id, Job.topic, Instance.variables if filter_variables else Instance.id)
            .join(Instance, Instance.id == Job.instance_id)
            .where(
                or_(*[_topic_condition(t) for t in topics.values()]),
                _external_jobs(),
                _fetchable(runtime.now()),
                Job.id.not_in(locked),
            )
            .order_by(*order)
            .limit(wanted * 2 + 8)
        )
        with _sessions()() as session:
            candidates = session.execute(stmt).all()
        if not candidates:
            break
        for job_id, topic, variables in candidates:
            wanted_values = topics[topic].process_variables
            if wanted_values and any((variables or {}).get(k) != v for k, v in wanted_values.items()):
                continue
            if runtime.claim_job(job_id, worker, topics[topic].lease):
                locked.append(job_id)
                if len(locked) == max_tasks:
                    return locked
        if filter_variables:
            break
    return locked


def _locked_dtos(job_ids: list[int], topics: dict[str, TopicRequest]) -> list[dict[str, Any]]:
    if not job_ids:
        return []
    runtime = _runtime()
    with _sessions()() as session:
        rows = session.execute(
            select(Job, Instance).join(Instance, Instance.id == Job.instance_id).where(Job.id.in_(job_ids))
        ).all()
        properties = {
            job.id: _service_call(session, inst, job.element_id).properties
            for job, inst in rows
            if topics[job.topic].extension_properties
        }
    by_id = {job.id: (job, inst) for job, inst in rows}
    result = []
    for job_id in job_ids:
        if job_id not in by_id:  # its deployment was deleted with cascade a moment ago
            continue
        job, inst = by_id[job_id]
        topic = topics[job.topic]
        values = {} if topic.local_only else dict(inst.variables or {})
        values.update(runtime.job_variables(job.id))
        dto = _external_task_dto(job, inst)
        dto["variables"] = encode_variables(values, topic.variables)
        dto["extensionProperties"] = dict(properties.get(job.id) or {})
        result.append(dto)
    return result


def _service_call(session: Session, inst: Instance, element_id: str) -> Any:
    """The parsed service call of an element (its properties and output mapping)."""
    info = _runtime().definition(session, inst.definition_id).info
    for spec in (info.spec, *info.subprocess_specs.values()):
        task_spec = spec.task_specs.get(element_id)
        if task_spec is not None and hasattr(task_spec, "call"):
            return task_spec.call
    raise ProcessError(inst.id, element_id, "the service task is not in the deployed definition")


def _external_task_dto(job: Job, inst: Instance) -> dict[str, Any]:
    locked = job.status == JobStatus.LOCKED.value
    return {
        "activityId": job.element_id,
        "activityInstanceId": f"{job.element_id}:{job.task_id}",
        "errorMessage": job.error,
        "errorDetails": job.error_details,
        "executionId": job.task_id,
        "id": str(job.id),
        "lockExpirationTime": camunda_date(job.lock_expires_at) if locked else None,
        "createTime": camunda_date(job.created_at),
        "processDefinitionId": inst.definition_id,
        "processDefinitionKey": inst.definition_key,
        "processDefinitionVersionTag": None,
        "processInstanceId": inst.id,
        # Camunda reports null until a worker has reported a failure.
        "retries": job.retries if job.error is not None else None,
        "suspended": False,
        "workerId": job.locked_by if locked else None,
        "topicName": job.topic,
        "tenantId": None,
        "priority": job.priority,
        "businessKey": inst.business_key,
    }


def _job_or_404(session: Session, task_id: str) -> Job:
    job = session.get(Job, int(task_id)) if task_id.isdigit() else None
    live = (JobStatus.PENDING.value, JobStatus.LOCKED.value, JobStatus.FAILED.value)
    served = job is not None and (job.external or job.topic not in current_app.extensions["handlers"])
    if not served or job.status not in live:
        raise not_found(f"External task with id {task_id} does not exist")
    return job


def _held_job(task_id: str, body: Mapping[str, Any], verb: str) -> tuple[Job, str]:
    """The job, if `workerId` holds its lock; Camunda's 400 naming the holder otherwise."""
    worker = body.get("workerId")
    if not worker or not isinstance(worker, str):
        raise bad_request("workerId is required.")
    with _sessions()() as session:
        job = _job_or_404(session, task_id)
    if job.status != JobStatus.LOCKED.value or job.locked_by != worker:
        raise RestError(
            400,
            f"ExternalTask with id '{task_id}' cannot be {verb} by worker '{worker}'. "
            f"It is locked by worker '{job.locked_by}'.",
            "BadUserRequestException",
        )
    return job, worker


@bp.get("/external-task")
def list_external_tasks() -> ResponseReturnValue:
    stmt = _external_task_query()
    stmt = _page(
        _sorted(stmt, {"id": Job.id, "priority": Job.priority, "createTime": Job.created_at}, Job.id)
    )
    with _sessions()() as session:
        rows = session.execute(stmt).all()
    return jsonify([_external_task_dto(job, inst) for job, inst in rows])


@bp.get("/external-task/count")
def count_external_tasks() -> ResponseReturnValue:
    return _count(_external_task_query())


def _external_task_query() -> Select:
    live = (JobStatus.PENDING.value, JobStatus.LOCKED.value, JobStatus.FAILED.value)
    stmt = (
        select(Job, Instance)
        .join(Instance, Instance.id == Job.instance_id)
        .where(Job.status.in_(live), _external_jobs())
    )
    args = request.args
    if args.get("topicName"):
        stmt = stmt.where(Job.topic == args["topicName"])
    if args.get("workerId"):
        stmt = stmt.where(Job.locked_by == args["workerId"])
    if args.get("processInstanceId"):
        stmt = stmt.where(Job.instance_id == args["processInstanceId"])
    if args.get("activityId"):
        stmt = stmt.where(Job.element_id == args["activityId"])
    if args.get("externalTaskId"):
        stmt = stmt.where(Job.id == _int_arg("externalTaskId"))
    now = _runtime().now()
    if _flag(args.get("locked")):
        stmt = stmt.where(Job.status == JobStatus.LOCKED.value, Job.lock_expires_at >= now)
    if _flag(args.get("notLocked")):
        stmt = stmt.where(or_(Job.status != JobStatus.LOCKED.value, Job.lock_expires_at < now))
    if _flag(args.get("noRetriesLeft")):
        stmt = stmt.where(Job.status == JobStatus.FAILED.value)
    if _flag(args.get("withRetriesLeft")):
        stmt = stmt.where(Job.status != JobStatus.FAILED.value)
    return stmt


@bp.get("/external-task/<task_id>")
def get_external_task(task_id: str) -> ResponseReturnValue:
    with _sessions()() as session:
        job = _job_or_404(session, task_id)
        return jsonify(_external_task_dto(job, session.get(Instance, job.instance_id)))


@bp.get("/external-task/<task_id>/errorDetails")
def external_task_error_details(task_id: str) -> ResponseReturnValue:
    with _sessions()() as session:
        job = _job_or_404(session, task_id)
    return Response(job.error_details or "", mimetype="text/plain")


@bp.post("/external-task/<task_id>/complete")
def complete_external_task(task_id: str) -> ResponseReturnValue:
    body = _body()
    job, worker = _held_job(task_id, body, "completed")
    variables = decode_variables(body.get("variables"))
    local = decode_variables(body.get("localVariables"), "localVariables")
    with _sessions()() as session:
        has_output_mapping = bool(
            _service_call(session, session.get(Instance, job.instance_id), job.element_id).outputs
        )
    # Local variables live on the task's scope: only an output mapping carries them on.
    outputs = {**local, **variables} if has_output_mapping else variables
    try:
        done = _runtime().complete_job(job.id, outputs, worker_id=worker)
    except InvalidStateError as err:
        raise RestError(400, str(err), "BadUserRequestException") from err
    if not done:
        raise not_found(f"External task with id {task_id} does not exist")
    return "", 204


@bp.post("/external-task/<task_id>/failure")
def fail_external_task(task_id: str) -> ResponseReturnValue:
    body = _body()
    job, _ = _held_job(task_id, body, "failed")
    retries = _int_field(body, "retries", default=0)
    retry_timeout = _int_field(body, "retryTimeout", default=0)
    message = body.get("errorMessage")
    details = body.get("errorDetails")
    _runtime().fail_job(
        job.id,
        str(message) if message is not None else "",
        str(details) if details is not None else None,
        retries=retries,
        retry_timeout=timedelta(milliseconds=retry_timeout),
    )
    return "", 204


@bp.post("/external-task/<task_id>/bpmnError")
def bpmn_error_external_task(task_id: str) -> ResponseReturnValue:
    body = _body()
    job, _ = _held_job(task_id, body, "reported a BPMN error")
    code = body.get("errorCode")
    if not code or not isinstance(code, str):
        raise bad_request("errorCode is required: the code of the error boundary event that should catch it.")
    variables = decode_variables(body.get("variables"))
    message = body.get("errorMessage")
    _runtime().throw_bpmn_error(job.id, code, str(message) if message is not None else "", variables)
    return "", 204


@bp.post("/external-task/<task_id>/extendLock")
def extend_lock(task_id: str) -> ResponseReturnValue:
    body = _body()
    worker = body.get("workerId")
    if not worker or not isinstance(worker, str):
        raise bad_request("workerId is required.")
    duration = _int_field(body, "newDuration", minimum=1)
    with _sessions()() as session:
        job = _job_or_404(session, task_id)
    if not _runtime().extend_job_lock(job.id, worker, timedelta(milliseconds=duration)):
        raise RestError(
            400,
            f"Cannot extend the lock of external task {task_id}: it is not locked by worker '{worker}', "
            "or the lock has expired. Fetch and lock it again.",
            "BadUserRequestException",
        )
    return "", 204


@bp.post("/external-task/<task_id>/lock")
def lock_external_task(task_id: str) -> ResponseReturnValue:
    body = _body()
    worker = body.get("workerId")
    if not worker or not isinstance(worker, str):
        raise bad_request("workerId is required.")
    lease = timedelta(milliseconds=_int_field(body, "lockDuration", minimum=1))
    with _sessions()() as session:
        job = _job_or_404(session, task_id)
    runtime = _runtime()
    if not (runtime.claim_job(job.id, worker, lease) or runtime.extend_job_lock(job.id, worker, lease)):
        raise RestError(
            400,
            f"External task {task_id} is locked by another worker or not due yet.",
            "BadUserRequestException",
        )
    return "", 204


@bp.post("/external-task/<task_id>/unlock")
def unlock_external_task(task_id: str) -> ResponseReturnValue:
    with _sessions()() as session:
        job = _job_or_404(session, task_id)
    _runtime().unlock_job(job.id)
    return "", 204
