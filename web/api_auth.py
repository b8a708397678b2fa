"""Bearer-token authentication for the JSON APIs under /api (PBX webhooks, mail relays, billing).

Tokens are issued by `flask --app web create-token` or the admin page with scopes
(`service.permissions.SCOPES`); only their hash is stored (web.auth). A token without the
scope an API needs gets 403, whatever its user's roles. Errors are JSON with a message
that says what to send, never the HTML login page a machine cannot read.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, g, jsonify, request

from service.permissions import Principal, may
from web.auth import token_principal
from web.security import checks_permission  # noqa: F401  (re-exported for the /api views)


def bearer_principal() -> Principal | None:
    """The principal behind this request's bearer token, or None (absent, unknown, revoked)."""
    auth = request.authorization
    if auth is None or auth.type != "bearer" or not auth.token:
        return None
    with current_app.extensions["sessions"]() as session:
        return token_principal(session, auth.token)


def bearer_user() -> str | None:
    """The user name behind this request's bearer token, or None; each API answers failures its own way."""
    principal = bearer_principal()
    return principal.username if principal is not None else None


def token_allowed(principal: Principal, permission: str, resource: str) -> bool:
    """The matrix's answer for a token (its scopes decide)."""
    return may(principal, permission, resource)


def token_required(permission: str, resource: str) -> Callable:
    """Answer 401 without a live token, 403 when its scopes lack `resource.permission`.

    The caller's user name is left in `g.api_user` for auditing.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any):
            auth = request.authorization
            if auth is None or auth.type != "bearer" or not auth.token:
                return _unauthorized("send an API token as 'Authorization: Bearer <token>'")
            principal = bearer_principal()
            if principal is None:
                return _unauthorized("the API token is unknown or revoked; issue a new one on the admin page")
            if not may(principal, permission, resource):
                return forbidden(principal, permission, resource)
            g.api_user = principal.username
            return view(*args, **kwargs)

        wrapped.token_auth = True  # read by the authorization tests
        wrapped.permission = (resource, permission, False)  # read by the permission-matrix test
        return wrapped

    return decorator


def forbidden(principal: Principal, permission: str, resource: str):
    response = jsonify(
        {
            "error": "forbidden",
            "message": f"the token lacks the scope for {resource}.{permission}; "
            "issue one with that scope on the admin tokens page",
        }
    )
    response.status_code = 403
    return response


def _unauthorized(message: str):
    response = jsonify({"error": "unauthorized", "message": message})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="service-desk"'
    return response
