"""Camunda's `{type, message}` error bodies: every refusal under /engine-rest is rendered here."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from engine.errors import (
    ConcurrentUpdateError,
    EngineError,
    InvalidStateError,
    NotFoundError,
    TaskAlreadyClaimed,
    TaskAlreadyCompleted,
)
from engine.forms import FormValidationError
from service.errors import PermissionDenied, ServiceError
from web.engine_rest.blueprint import REALM, bp

log = logging.getLogger(__name__)


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


@bp.errorhandler(RestError)
def _rest_error(err: RestError) -> ResponseReturnValue:
    return error_body(err.status, err.type, err.message, **err.extra)


@bp.errorhandler(EngineError)
def _engine_error(err: EngineError) -> ResponseReturnValue:
    """Engine errors not translated by a view, mapped to the status a client can act on."""
    if isinstance(err, NotFoundError):
        return error_body(404, "InvalidRequestException", str(err))
    if isinstance(err, TaskAlreadyClaimed):
        return error_body(409, "TaskAlreadyClaimedException", str(err))
    if isinstance(err, TaskAlreadyCompleted):
        return error_body(409, "RestException", str(err))
    if isinstance(err, ConcurrentUpdateError):
        return error_body(409, "OptimisticLockingException", str(err))
    if isinstance(err, FormValidationError):
        return error_body(400, "InvalidRequestException", str(err))
    if isinstance(err, InvalidStateError):
        return error_body(400, "BadUserRequestException", str(err))
    return error_body(500, "ProcessEngineException", str(err))


@bp.errorhandler(ServiceError)
def _service_error(err: ServiceError) -> ResponseReturnValue:
    """The service layer's refusals: Camunda's AuthorizationException for a missing permission."""
    if isinstance(err, PermissionDenied):
        return error_body(
            403,
            "AuthorizationException",
            str(err),
            userId=err.username,
            missingAuthorizations=[
                {
                    "permissionName": err.permission.upper(),
                    "resourceName": err.resource,
                    "resourceId": err.resource_id or "*",
                }
            ],
        )
    return error_body(err.status, "InvalidRequestException", str(err))


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> ResponseReturnValue:
    return error_body(err.code or 500, "RestException", err.description or err.name)


@bp.errorhandler(Exception)
def _unexpected(err: Exception) -> ResponseReturnValue:
    log.exception("engine-rest %s %s failed", request.method, request.path)
    return error_body(
        500, "RestException", "The engine could not handle this request; the server log has details."
    )


def http_error_body(err: HTTPException) -> Response:
    """404/405/413/... outside any resource (no route matched) as Camunda's JSON body."""
    return error_body(err.code or 500, "RestException", err.description or err.name)


def error_body(status: int, type_: str, message: str, **extra: Any) -> Response:
    response = jsonify({"type": type_, "message": message, **extra})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
    return response
