"""The absence schedule (/absences): who is away, entering absences, and handing open tasks to substitutes.

Managers and admins enter absences; everyone sees the schedule; a dispatcher sees, for each
absence in force, the open tasks its holder still holds, with one action to hand them all to
the substitute. Every decision is service.absences' (and so service.permissions').
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from desk import crm
from desk.absence import KINDS, Absence, AbsenceError, Period, parse_bound, returns_at, working_days_away
from desk.calendar import get_calendar
from desk.models import User
from service import absences as service
from service.permissions import may
from web.i18n import translate
from web.security import current_principal, permission_required

bp = Blueprint("absences", __name__, url_prefix="/absences")

# The schedule shows absences that ended up to this long ago, so a just-finished one is still seen.
RECENT = timedelta(days=7)


def _runtime():
    return current_app.extensions["runtime"]


def _sessions():
    return current_app.extensions["sessions"]


def _page(
    form: dict[str, str] | None = None, error: str | None = None, status: int = 200
) -> ResponseReturnValue:
    now = _runtime().now()
    principal = current_principal()
    with _sessions()() as session:
        cal = get_calendar("support", crm.calendars(session))
        rows = session.scalars(
            select(Absence).where(Absence.ends_at > now - RECENT).order_by(Absence.starts_at, Absence.id)
        ).all()
        schedule = [
            {
                "row": r,
                "now": r.starts_at <= now < r.ends_at,
                "back": returns_at(Period.of(r), cal),
                "days": working_days_away(Period.of(r), cal),
            }
            for r in rows
        ]
        staff = session.scalars(select(User).where(User.active.is_(True)).order_by(User.username)).all()
        pending = service.away_with_work(session, now) if may(principal, "hand_over", "absence") else []
    return render_template(
        "absences.html",
        schedule=schedule,
        staff=staff,
        kinds=KINDS,
        pending=pending,
        may_manage=may(principal, "manage", "absence"),
        form=form or {},
        error=error,
    ), status


@bp.get("/")
@permission_required("read", "absence")
def index() -> ResponseReturnValue:
    return _page()


@bp.post("/")
@permission_required("manage", "absence")
def create() -> ResponseReturnValue:
    form = {
        k: (request.form.get(k) or "").strip()
        for k in ("user", "kind", "date_from", "date_to", "substitute", "note")
    }
    try:
        with _sessions()() as session:
            cal = get_calendar("support", crm.calendars(session))
        absence_id = service.record_absence(
            _sessions(),
            current_principal(),
            username=form["user"],
            kind=form["kind"],
            starts_at=parse_bound(form["date_from"], cal, end=False),
            ends_at=parse_bound(form["date_to"], cal, end=True),
            substitute=form["substitute"] or None,
            note=form["note"],
            now=_runtime().now(),
        )
    except AbsenceError as err:
        return _page(form, str(err), 400)
    flash(translate("Absence recorded.") + f" #{absence_id}")
    return redirect(url_for("absences.index"))


@bp.post("/<int:absence_id>/delete")
@permission_required("manage", "absence")
def delete(absence_id: int) -> ResponseReturnValue:
    try:
        service.delete_absence(_sessions(), current_principal(), absence_id)
    except service.AbsenceNotFoundError as err:
        return _page(error=str(err), status=404)
    flash(translate("Absence deleted."))
    return redirect(url_for("absences.index"))


@bp.post("/<int:absence_id>/hand-over")
@permission_required("hand_over", "absence")
def hand_over(absence_id: int) -> ResponseReturnValue:
    try:
        result = service.hand_over(_runtime(), _sessions(), current_principal(), absence_id)
    except service.AbsenceNotFoundError as err:
        return _page(error=str(err), status=404)
    except service.NoSubstituteError as err:
        return _page(error=str(err), status=409)
    flash(translate("Tasks handed to the substitute:") + f" {len(result.moved)} → {result.substitute}")
    for task_id, reason in result.refused.items():
        flash(f"{task_id}: {reason}", "error")
    return redirect(url_for("absences.index"))
