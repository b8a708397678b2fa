"""Bearer-token authentication for the JSON APIs under /api (PBX webhooks, mail relays, billing).

Tokens are issued by `flask --app web create-token` or the admin page; only their hash is
stored (web.auth). Errors are JSON with a message that says what to send, never the HTML
login page a machine cannot read.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, g, jsonify, request

from web.auth import check_token


def bearer_user() -> str | None:
    """The user name behind this request's `Authorization: Bearer` token, or None (absent, unknown, revoked).

    Every JSON API asks this one question; each answers a failure in its own error format.
    """
    auth = request.authorization
    if auth is None or auth.type != "bearer" or not auth.token:
        return None
    with current_app.extensions["sessions"]() as session:
        user = check_token(session, auth.token)
        return user.username if user is not None else None


def token_required(view: Callable) -> Callable:
    """Answer 401 unless `Authorization: Bearer <token>` names a live token of an active user.

    The caller's user name is left in `g.api_user` for auditing.
    """

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any):
        auth = request.authorization
        if auth is None or auth.type != "bearer" or not auth.token:
            return _unauthorized("send an API token as 'Authorization: Bearer <token>'")
        g.api_user = bearer_user()
        if g.api_user is None:
            return _unauthorized("the API token is unknown or revoked; issue a new one on the admin page")
        return view(*args, **kwargs)

    wrapped.token_auth = True  # read by the authorization tests
    return wrapped


def _unauthorized(message: str):
    response = jsonify({"error": "unauthorized", "message": message})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="service-desk"'
    return response
