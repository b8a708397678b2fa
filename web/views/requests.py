"""Request list and card: messages, status history with time in stage, SLA clock, tasks, notifications."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import login_required
from sqlalchemy import func, or_, select

from desk import crm, sla
from desk.calendar import get_calendar
from desk.models import Notification, Request, StatusChange, Task
from engine.store import UserTask

bp = Blueprint("requests", __name__, url_prefix="/requests")
PAGE = 25


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    page = max(int(request.args.get("page", 1) or 1), 1)
    conditions = []
    if text := (request.args.get("q") or "").strip():
        like = f"%{text}%"
        conditions.append(
            or_(Request.number.ilike(like), Request.subject.ilike(like), Request.body.ilike(like))
        )
    for column in ("status", "category", "assignee"):
        if value := request.args.get(column):
            conditions.append(getattr(Request, column) == value)
    runtime = current_app.extensions["runtime"]
    if request.args.get("overdue"):
        conditions.append(Request.resolve_by < runtime.now())
        conditions.append(Request.status.not_in(crm.CLOSED_STATUSES))
    with current_app.extensions["sessions"]() as session:
        rows = session.scalars(
            select(Request)
            .where(*conditions)
            .order_by(Request.id.desc())
            .offset((page - 1) * PAGE)
            .limit(PAGE)
        ).all()
        total = session.scalar(select(func.count()).select_from(Request).where(*conditions))
    return render_template("requests.html", requests=rows, total=total, page=page, pages=-(-total // PAGE))


@bp.get("/<number>")
@login_required
def show(number: str) -> ResponseReturnValue:
    runtime = current_app.extensions["runtime"]
    with current_app.extensions["sessions"]() as session:
        try:
            req = crm.get_request(session, number)
        except crm.RequestNotFoundError:
            abort(404)
        changes = session.scalars(
            select(StatusChange).where(StatusChange.request_id == req.id).order_by(StatusChange.id)
        ).all()
        tasks = session.scalars(select(Task).where(Task.request_id == req.id)).all()
        notes = session.scalars(
            select(Notification).where(Notification.request_id == req.id).order_by(Notification.id)
        ).all()
        open_tasks = session.scalars(
            select(UserTask).where(UserTask.business_key == req.number, UserTask.status == "open")
        ).all()
        calendars = crm.calendars(session)
    left = None
    if req.resolve_by is not None:
        left = sla.working_minutes_left(runtime.now(), req.resolve_by, get_calendar("workdays", calendars))
    return render_template(
        "request.html",
        req=req,
        changes=changes,
        tasks=tasks,
        notes=notes,
        open_tasks=open_tasks,
        minutes_left=left,
        stage_totals=sla.StageTotals(req.stage_totals or {}),
    )
