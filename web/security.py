"""Login, roles and CSRF for the staff UI; every permission is checked on the server.

Pages are protected by `login_required` / `permission_required` (the matrix in
service.permissions); the objects on them (tasks) are checked again in the view. Forms
carry a CSRF token (Flask-WTF), session cookies are HttpOnly and SameSite=Lax (Secure when
configured), responses forbid framing and sniffing, and failed logins are counted in the
database so every web process sees the same count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from flask import Flask, abort, current_app, g, jsonify, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_login import LoginManager, UserMixin, current_user, login_required
from flask_wtf import CSRFProtect
from flask_wtf.csrf import CSRFError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import sessionmaker
from werkzeug.exceptions import HTTPException

from desk.models import User
from desk.staff import LoginFailure, StaffGroup
from service.permissions import Principal, may, principal_of, roles_holding

csrf = CSRFProtect()
# The user's session version at login, kept in the signed session cookie (User.session_version).
SESSION_VERSION_KEY = "_sv"
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.session_protection = "strong"

# Paths answered by machines (JSON APIs with their own error bodies), never by the HTML error page.
API_PREFIXES = ("/engine-rest", "/api")
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
)


@dataclass
class StaffUser(UserMixin):
    """The logged-in person as views see it (detached from the database session)."""

    username: str
    full_name: str
    roles: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    language: str = "ru"
    session_version: int = 1
    time_zone: str | None = None  # None: the desk's zone

    def get_id(self) -> str:
        return self.username

    def has_role(self, *roles: str) -> bool:
        """Admins hold every role; others need one of `roles`."""
        return "admin" in self.roles or bool(set(roles) & set(self.roles))

    @classmethod
    def from_row(cls, row: User) -> StaffUser:
        return cls(
            row.username,
            row.full_name,
            list(row.roles or []),
            list(row.groups or []),
            row.language or "ru",
            row.session_version or 1,
            row.time_zone or None,
        )


@login_manager.user_loader
def _load(username: str) -> StaffUser | None:
    """Reload the user on each request, so a deactivated account, a removed role or a retired group
    takes effect at once."""
    with current_app.extensions["sessions"]() as session:
        row = session.scalars(select(User).where(User.username == username, User.active.is_(True))).first()
        if row is None or flask_session.get(SESSION_VERSION_KEY) != row.session_version:
            return None  # deactivated, or the session predates a logout or password change
        user = StaffUser.from_row(row)
        if user.groups:
            retired = set(
                session.scalars(
                    select(StaffGroup.name).where(
                        StaffGroup.name.in_(user.groups), StaffGroup.active.is_(False)
                    )
                )
            )
            user.groups = [name for name in user.groups if name not in retired]
        return user


def permission_required(permission: str, resource: str) -> Callable:
    """Allow only users the matrix grants `permission` on `resource` (any of them); others get 403.

    The decision is `service.permissions.may`, the same one /engine-rest and the CLI ask.
    """
    roles = roles_holding(permission, resource)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any):
            if not may(current_principal(), permission, resource):
                abort(403)
            return view(*args, **kwargs)

        wrapped.permission = (resource, permission, False)  # read by the permission-matrix test
        wrapped.required_roles = tuple(r for r in roles if r != "admin")  # read by the authz tests
        return wrapped

    return decorator


def checks_permission(permission: str, resource: str) -> Callable:
    """Mark a view that checks `resource.permission` itself, per item (a task, a topic, a token).

    The mark is what the permission-matrix test reads; the check is the view's own `may()` call.
    """

    def decorator(view: Callable) -> Callable:
        view.permission = (resource, permission, True)
        return view

    return decorator


def current_principal() -> Principal | None:
    """The signed-in user as the permission model's principal."""
    return principal_of(current_user) if current_user.is_authenticated else None


class LoginThrottle:
    """Failed logins per key (client address, user name) in a sliding window, kept in the database.

    Beyond `limit` failures within `window_seconds` the key is blocked until old failures age
    out. Rows live in `login_failure`, so all gunicorn workers and web nodes share the count.
    """

    def __init__(
        self,
        sessions: sessionmaker,
        limit: int = 5,
        window_seconds: float = 300.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions, self.limit, self.clock = sessions, limit, clock
        self.window = timedelta(seconds=window_seconds)

    def blocked(self, key: str, limit: int | None = None) -> bool:
        since = self.clock() - self.window
        with self.sessions() as session:
            count = session.scalar(
                select(func.count())
                .select_from(LoginFailure)
                .where(LoginFailure.key == key[:128], LoginFailure.at > since)
            )
        return (count or 0) >= (limit or self.limit)

    def failed(self, key: str) -> None:
        now = self.clock()
        with self.sessions() as session, session.begin():
            session.execute(
                delete(LoginFailure).where(
                    LoginFailure.key == key[:128], LoginFailure.at <= now - self.window
                )
            )
            session.add(LoginFailure(key=key[:128], at=now))

    def succeeded(self, key: str) -> None:
        with self.sessions() as session, session.begin():
            session.execute(delete(LoginFailure).where(LoginFailure.key == key[:128]))


def _wants_html() -> bool:
    return not request.path.startswith(API_PREFIXES)


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    login_manager.init_app(app)
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", timedelta(hours=12))
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    app.config.setdefault("REMEMBER_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("REMEMBER_COOKIE_SECURE", app.config.get("SESSION_COOKIE_SECURE", False))
    app.extensions["login_throttle"] = LoginThrottle(
        app.extensions["sessions"],
        app.config.get("LOGIN_FAILURE_LIMIT", 5),
        app.config.get("LOGIN_FAILURE_WINDOW", 300),
    )

    @app.before_request
    def _user() -> None:
        g.user = current_user if current_user.is_authenticated else None

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if current_user.is_authenticated and response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.get("/")
    def index():
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        return redirect(url_for("tasks.index"))

    @app.errorhandler(CSRFError)
    def _csrf_error(err: CSRFError):
        if not _wants_html():
            return err
        return render_template("error.html", code=400, message=err.description), 400

    for code in (400, 403, 404, 405, 409, 413):
        app.register_error_handler(code, _error_page)

    login_manager.unauthorized_handler(_unauthorized)


def _error_page(err: HTTPException):
    """A page in the site's frame with what happened and where to go next (JSON APIs keep theirs)."""
    if request.path.startswith("/engine-rest"):
        from web.engine_rest.errors import http_error_body

        return http_error_body(err)
    if request.path.startswith("/api/"):  # machine APIs answer JSON, whatever the client accepts
        return jsonify({"error": err.name, "message": err.description}), err.code
    if not _wants_html():
        return err
    return render_template("error.html", code=err.code, message=err.description), err.code


def _unauthorized():
    if not _wants_html():
        abort(401)
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
