"""Who is calling: HTTP Basic (desk users) or a bearer API token, checked before every request.

The caller becomes a `service.permissions.Principal` in `g.rest_user`; every resource asks
the matrix (`permit`) rather than looking at role names itself.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, g, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import Authorization

from desk.models import User
from service.permissions import Principal, require
from web.auth import check_password, token_principal, user_principal
from web.engine_rest.blueprint import bp
from web.engine_rest.errors import error_body
from web.engine_rest.params import db_sessions

BASIC_AUTH_CACHE_SECONDS = 60.0
BASIC_AUTH_CACHE_SIZE = 1024


@bp.before_request
def _authenticate() -> ResponseReturnValue | None:
    """Basic or bearer on every request; failed passwords count per account and per address.

    Only password guesses are throttled (tokens are 256 random bits). An address is blocked
    at twice an account's allowance, and a right password from a blocked address still
    works for an account that is not itself blocked, so one worker with a wrong password
    cannot lock every other client behind the same address out.
    """
    auth = request.authorization
    throttle = current_app.extensions.get("login_throttle")
    password = auth is not None and auth.type == "basic"
    keys = [f"ip:{request.remote_addr or '?'}", f"user:{(auth.username or '').lower()}"] if password else []
    if password and throttle is not None and throttle.blocked(keys[1]):
        return error_body(
            429, "AuthenticationException", "Too many failed logins for this account; wait a few minutes."
        )
    user = _caller(auth)
    if user is None:
        if password and throttle is not None:
            if throttle.blocked(keys[0], throttle.limit * 2):
                return error_body(
                    429,
                    "AuthenticationException",
                    "Too many failed logins from this address; wait a few minutes.",
                )
            for key in keys:
                throttle.failed(key)
        return error_body(
            401,
            "AuthenticationException",
            "Authenticate with HTTP Basic (a desk user name and password) or a bearer API token "
            "from the admin page.",
        )
    g.rest_user = user
    return None


def _caller(auth: Authorization | None) -> Principal | None:
    if auth is None:
        return None
    with db_sessions()() as session:
        if auth.type == "basic":
            user = _basic_user(session, auth.username or "", auth.password or "")
            return user_principal(user) if user is not None else None
        if auth.type == "bearer":
            return token_principal(session, auth.token or "")
        return None


def _basic_user(session: Session, username: str, password: str) -> User | None:
    """Check a password, remembering a success for a minute (or until the user's sessions end).

    Password hashes are deliberately slow (scrypt, ~70 ms) and workers send Basic
    credentials with every poll; the cache keeps that cost off each request. The user row
    is still read, so a deactivated user, a changed password or a logout (each bumps the
    session version) refuses the cached credential at once.
    """
    cache: dict[str, tuple[float, int]] = current_app.extensions.setdefault("engine_rest.basic_auth", {})
    secret = str(current_app.secret_key or "").encode()
    key = hmac.new(secret, f"{username}\0{password}".encode(), hashlib.sha256).hexdigest()
    now = time.monotonic()
    expires, version = cache.get(key, (0.0, 0))
    if expires > now:
        user = session.scalars(select(User).where(User.username == username, User.active.is_(True))).first()
        if user is not None and user.session_version == version:
            return user
        cache.pop(key, None)
    user = check_password(session, username, password)
    if user is not None:
        if len(cache) >= BASIC_AUTH_CACHE_SIZE:
            cache.clear()
        cache[key] = (now + BASIC_AUTH_CACHE_SECONDS, user.session_version)
    return user


def caller() -> Principal:
    return g.rest_user


def permit(permission: str, resource: str, resource_id: str | None = None, task: object = None) -> Principal:
    """The caller, if the matrix grants it `permission`; Camunda's AuthorizationException otherwise."""
    principal = caller()
    require(principal, permission, resource, resource_id, task)
    return principal


def requires(permission: str, resource: str, *, per_item: bool = False) -> Callable:
    """Declare (and, unless `per_item`, check at the door) the permission a route needs.

    `per_item` routes check inside, once they know the item (a process key, a message name,
    a topic, a task); the declaration is what the permission-matrix test reads.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not per_item:
                permit(permission, resource)
            return view(*args, **kwargs)

        wrapped.permission = (resource, permission, per_item)  # read by the permission-matrix test
        return wrapped

    return decorator
