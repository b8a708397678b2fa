"""Login, roles and CSRF for the staff UI; every permission is checked on the server.

Pages are protected by `login_required` / `role_required`; the objects on them (tasks) are
checked again in the view. Forms carry a CSRF token (Flask-WTF), session cookies are
HttpOnly and SameSite=Lax (Secure when configured), responses forbid framing and sniffing,
and failed logins are counted in the database so every web process sees the same count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from flask import Flask, abort, current_app, g, redirect, render_template, request, url_for
from flask_login import LoginManager, UserMixin, current_user, login_required
from flask_wtf import CSRFProtect
from flask_wtf.csrf import CSRFError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import sessionmaker
from werkzeug.exceptions import HTTPException

from desk.models import ROLES, User
from desk.staff import LoginFailure, StaffGroup

csrf = CSRFProtect()
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

    def get_id(self) -> str:
        return self.username

    def has_role(self, *roles: str) -> bool:
        """Admins hold every role; others need one of `roles`."""
        return "admin" in self.roles or bool(set(roles) & set(self.roles))

    @classmethod
    def from_row(cls, row: User) -> StaffUser:
        return cls(
            row.username, row.full_name, list(row.roles or []), list(row.groups or []), row.language or "ru"
        )


@login_manager.user_loader
def _load(username: str) -> StaffUser | None:
    """Reload the user on each request, so a deactivated account, a removed role or a retired group
    takes effect at once."""
    with current_app.extensions["sessions"]() as session:
        row = session.scalars(select(User).where(User.username == username, User.active.is_(True))).first()
        if row is None:
            return None
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


def role_required(*roles: str) -> Callable:
    """Allow only users with one of `roles` (admins always); others get 403."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"role_required names unknown roles {sorted(unknown)}; roles are {', '.join(ROLES)}")

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any):
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_roles = roles  # read by the authorization tests
        return wrapped

    return decorator


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

    for code in (403, 404, 409):
        app.register_error_handler(code, _error_page)

    login_manager.unauthorized_handler(_unauthorized)


def _error_page(err: HTTPException):
    """A page in the site's frame with what happened and where to go next (JSON APIs keep theirs)."""
    if not _wants_html():
        return err
    return render_template("error.html", code=err.code, message=err.description), err.code


def _unauthorized():
    if not _wants_html():
        abort(401)
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
