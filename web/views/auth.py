"""Log in and out; failed attempts are throttled per client address."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_user, logout_user

from web.auth import check_password
from web.i18n import translate
from web.security import StaffUser

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if request.method == "POST":
        throttle = current_app.extensions["login_throttle"]
        key = request.remote_addr or "?"
        if throttle.blocked(key):
            return render_template(
                "login.html", error=translate("Too many failed logins; wait a few minutes.")
            ), 429
        with current_app.extensions["sessions"]() as session:
            row = check_password(session, request.form.get("username", ""), request.form.get("password", ""))
            user = StaffUser.from_row(row) if row else None
        if user is None:
            throttle.failed(key)
            return render_template("login.html", error=translate("Wrong user name or password.")), 401
        throttle.succeeded(key)
        login_user(user)
        target = request.args.get("next") or ""
        return redirect(
            target if target.startswith("/") and not target.startswith("//") else url_for("tasks.index")
        )
    return render_template("login.html")


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    logout_user()
    flash(translate("Logged out."))
    return redirect(url_for("auth.login"))
