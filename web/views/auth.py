"""Log in and out; failed attempts are throttled per client address and per user name."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user

from web.auth import check_password, end_sessions
from web.i18n import translate
from web.security import SESSION_VERSION_KEY, StaffUser

bp = Blueprint("auth", __name__)


def _safe_target(target: str) -> str:
    """Only same-site paths, so a crafted ?next= cannot send a user elsewhere after login.

    Browsers drop tabs and line breaks from a Location (`/\t/evil.example/` becomes
    `//evil.example/`), and a line break in a header is refused outright, so any control
    character makes the target unsafe, as do a scheme, a host or a backslash.
    """
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target) or "\\" in target:
        return url_for("tasks.index")
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.scheme and not parts.netloc:
        return target
    return url_for("tasks.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if request.method == "POST":
        throttle = current_app.extensions["login_throttle"]
        username = request.form.get("username", "").strip()
        keys = [f"ip:{request.remote_addr or '?'}", f"user:{username.lower()}"]
        # A user name gets twice the address's allowance, so guessing from many addresses is slowed
        # down too, while one noisy office address cannot lock a colleague out for long.
        if throttle.blocked(keys[0]) or throttle.blocked(keys[1], throttle.limit * 2):
            return render_template(
                "login.html", error=translate("Too many failed logins; wait a few minutes.")
            ), 429
        with current_app.extensions["sessions"]() as db:
            row = check_password(db, username, request.form.get("password", ""))
            user = StaffUser.from_row(row) if row else None
        if user is None:
            for key in keys:
                throttle.failed(key)
            return render_template("login.html", error=translate("Wrong user name or password.")), 401
        for key in keys:
            throttle.succeeded(key)
        session.clear()  # a new session on login: nothing from before survives into the staff session
        login_user(user)
        session[SESSION_VERSION_KEY] = user.session_version
        return redirect(_safe_target(request.args.get("next") or ""))
    return render_template("login.html")


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End this user's sessions everywhere: a copied cookie stops working too."""
    if current_user.is_authenticated:
        with current_app.extensions["sessions"]() as db, db.begin():
            end_sessions(db, current_user.username)
    logout_user()
    session.clear()
    flash(translate("Logged out."))
    return redirect(url_for("auth.login"))
