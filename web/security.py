"""Login, roles and CSRF for the staff UI; every permission is checked on the server."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Flask, abort, current_app, g, redirect, request, url_for
from flask_login import LoginManager, UserMixin, current_user, login_required
from flask_wtf import CSRFProtect
from sqlalchemy import select

from desk.models import User

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"


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
        return "admin" in self.roles or bool(set(roles) & set(self.roles))

    @classmethod
    def from_row(cls, row: User) -> StaffUser:
        return cls(
            row.username, row.full_name, list(row.roles or []), list(row.groups or []), row.language or "ru"
        )


@login_manager.user_loader
def _load(username: str) -> StaffUser | None:
    with current_app.extensions["sessions"]() as session:
        row = session.scalars(select(User).where(User.username == username, User.active.is_(True))).first()
        return StaffUser.from_row(row) if row else None


def role_required(*roles: str) -> Callable:
    """Allow only users with one of `roles` (admins always); others get 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any):
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


class LoginThrottle:
    """Failed logins per client address in a sliding window; beyond the limit, logins are refused."""

    def __init__(self, limit: int = 5, window_seconds: float = 300.0) -> None:
        self.limit, self.window = limit, window_seconds
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def blocked(self, key: str) -> bool:
        self._trim(key)
        return len(self._failures[key]) >= self.limit

    def failed(self, key: str) -> None:
        self._failures[key].append(time.monotonic())

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def _trim(self, key: str) -> None:
        q = self._failures[key]
        while q and time.monotonic() - q[0] > self.window:
            q.popleft()


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    login_manager.init_app(app)
    app.extensions["login_throttle"] = LoginThrottle(
        app.config.get("LOGIN_FAILURE_LIMIT", 5), app.config.get("LOGIN_FAILURE_WINDOW", 300)
    )

    @app.before_request
    def _user() -> None:
        g.user = current_user if current_user.is_authenticated else None

    @app.get("/")
    def index():
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        return redirect(url_for("tasks.index"))

    login_manager.unauthorized_handler(lambda: redirect(url_for("auth.login", next=request.path)))
