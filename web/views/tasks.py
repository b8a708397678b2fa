"""The task list and task forms: people see and complete only what is theirs or their groups'."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from engine.errors import ConcurrentUpdateError, TaskAlreadyClaimed, TaskAlreadyCompleted, TaskNotFoundError
from engine.forms import FormSchema, FormValidationError
from engine.store import UserTask
from engine.tasklist import TaskQuery, may_work, query_tasks
from web.i18n import translate

bp = Blueprint("tasks", __name__, url_prefix="/tasks")
PAGE = 25


def _runtime():
    return current_app.extensions["runtime"]


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    scope = request.args.get("scope", "mine")
    everything = scope == "all" and current_user.has_role("manager")
    page = max(int(request.args.get("page", 1) or 1), 1)
    query = TaskQuery(
        user=current_user.username,
        groups=current_user.groups,
        everything=everything,
        assignee=current_user.username if scope == "mine" else None,
        unassigned=scope == "groups",
        definition_key=request.args.get("process") or None,
        name_like=request.args.get("q") or None,
        overdue_at=_runtime().now() if request.args.get("overdue") else None,
        sort=request.args.get("sort", "created"),
        descending=request.args.get("dir", "desc") == "desc",
        offset=(page - 1) * PAGE,
        limit=PAGE,
    )
    with current_app.extensions["sessions"]() as session:
        result = query_tasks(session, query)
    return render_template(
        "tasks.html",
        tasks=result.tasks,
        total=result.total,
        page=page,
        pages=-(-result.total // PAGE),
        scope=scope,
        now=_runtime().now(),
    )


def _load_task(task_id: str) -> UserTask:
    with current_app.extensions["sessions"]() as session:
        task = session.get(UserTask, task_id)
    if task is None:
        abort(404)
    if not (may_work(task, current_user.username, current_user.groups) or current_user.has_role("manager")):
        abort(403)
    return task


@bp.get("/<task_id>")
@login_required
def show(task_id: str) -> ResponseReturnValue:
    task = _load_task(task_id)
    variables = _runtime().variables(task.instance_id)
    return render_template(
        "task.html", task=task, form=FormSchema.from_dict(task.form), values=variables, errors={}
    )


@bp.post("/<task_id>/claim")
@login_required
def claim(task_id: str) -> ResponseReturnValue:
    _load_task(task_id)
    try:
        _runtime().claim(task_id, current_user.username)
    except (TaskAlreadyClaimed, TaskAlreadyCompleted) as err:
        flash(str(err), "error")
        return redirect(url_for("tasks.index")), 409
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.post("/<task_id>/unclaim")
@login_required
def unclaim(task_id: str) -> ResponseReturnValue:
    task = _load_task(task_id)
    if task.assignee != current_user.username and not current_user.has_role("manager"):
        abort(403)
    _runtime().unclaim(task_id, current_user.username)
    return redirect(url_for("tasks.index"))


@bp.post("/<task_id>/complete")
@login_required
def complete(task_id: str) -> ResponseReturnValue:
    task = _load_task(task_id)
    if task.status != "open":
        flash(translate("Someone else completed this task first; reload the list."), "error")
        return render_template("conflict.html"), 409
    if not may_work(task, current_user.username, current_user.groups):
        abort(403)
    data = {k: v for k, v in request.form.items() if k != "csrf_token"}
    form = FormSchema.from_dict(task.form)
    for field in form.fields:
        if field.type == "boolean" and field.id not in data:
            data[field.id] = "false"
    if request.form.get("decision") in ("approve", "reject"):
        data["approved"] = "true" if request.form["decision"] == "approve" else "false"
        data.pop("decision", None)
    try:
        _runtime().complete(task_id, current_user.username, data)
    except FormValidationError as err:
        return render_template("task.html", task=task, form=form, values=data, errors=err.errors), 400
    except (TaskAlreadyCompleted, ConcurrentUpdateError, TaskNotFoundError):
        flash(translate("Someone else completed this task first; reload the list."), "error")
        return render_template("conflict.html"), 409
    flash(translate("Task completed."))
    return redirect(url_for("tasks.index"))
