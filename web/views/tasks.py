"""The task list and task forms: people see and complete only what is theirs or their groups'.

Rules checked here on the server, whatever the page showed:
* a task is worked by its assignee, or (while unassigned) by the users and groups it is offered to;
  managers see every task but work only their own;
* a task someone completed or took meanwhile answers 409 with a message, never an error page;
* only the form's own fields are taken from a submitted form, so a crafted POST cannot set
  other process variables;
* an approval (a form with a boolean `approved`) needs a comment to reject.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import Session

from desk import crm, sla
from desk.calendar import get_calendar
from desk.models import Request
from engine.errors import ConcurrentUpdateError, TaskAlreadyClaimed, TaskAlreadyCompleted, TaskNotFoundError
from engine.forms import FormField, FormSchema, FormValidationError
from engine.store import ProcessDefinition, TaskCandidate, UserTask
from engine.tasklist import SORTS, URGENCY, TaskQuery, may_work, query_tasks
from service.assignees import ASSIGNEE_FIELDS, delegation_candidates, field_candidates
from service.errors import UnknownAssigneeError
from service.permissions import may
from service.tasks import complete_task, delegate_task
from web.i18n import local_time, translate, user_zone, working_time_text
from web.labels import person_label
from web.security import checks_permission, current_principal
from web.views import date_arg

bp = Blueprint("tasks", __name__, url_prefix="/tasks")
PAGE = 25
MAX_PAGE_ARG = 1_000_000  # page numbers and priorities beyond this cannot name anything real
SCOPES = ("mine", "groups", "all")
APPROVAL_FIELD = "approved"
COMMENT_FIELDS = ("comment", "reason", "rejection_reason")
# Working time left on a task is counted on the staff's working hours (DESIGN §4 `support`).
TASK_CALENDAR = "support"
NOT_ELIGIBLE = "Choose someone from the list: only active members of the task's group may take it."


def _runtime():
    return current_app.extensions["runtime"]


def _sessions():
    return current_app.extensions["sessions"]


@bp.app_template_global()
def url_with(**changes: Any) -> str:
    """The current page's URL with some query arguments changed (None drops one): sort links, pager."""
    args = {k: v for k, v in request.args.items() if k not in changes}
    args.update({k: v for k, v in changes.items() if v is not None})
    return url_for(request.endpoint, **(request.view_args or {}), **args)


bp.add_app_template_filter(local_time, "local")


def _int_arg(name: str, default: int | None = None, minimum: int | None = None) -> int | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(400, f"{name} must be a whole number, not {raw!r}.")
    if abs(value) > MAX_PAGE_ARG:
        abort(400, f"{name} must be at most {MAX_PAGE_ARG}, not {raw!r}.")
    return max(value, minimum) if minimum is not None else value


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=user_zone())  # the reader's day


# Working minutes left under which a deadline is shown as near (amber); below zero it is overdue (red).
SOON_MINUTES = 120


@dataclass
class Row:
    """A task-list row: its deadline (the task's own, else its request's SLA) and working time left."""

    task: Any
    minutes_left: float | None
    due: datetime | None = None
    request: Any = None

    @property
    def due_text(self) -> str:
        if self.minutes_left is None:
            return ""
        return working_time_text(self.minutes_left)

    @property
    def urgency(self) -> str:
        """ "overdue", "soon" or "" — the colour of the due cell."""
        if self.minutes_left is None:
            return ""
        if self.minutes_left < 0:
            return "overdue"
        return "soon" if self.minutes_left < SOON_MINUTES else ""

    @property
    def priority(self) -> str:
        """The request's priority code; for a task without a request, read from the task's number."""
        if self.request is not None:
            return self.request.priority
        return "high" if self.task.priority >= 80 else "low" if self.task.priority <= 20 else "normal"


@bp.get("/")
@checks_permission("read", "task")
@login_required
def index() -> ResponseReturnValue:
    """The day's work: urgent first, landing on the tab where this person's work is, with counts per tab."""
    asked_scope = request.args.get("scope")
    scope = asked_scope or "mine"
    if scope not in SCOPES or (scope == "all" and not may(current_principal(), "read", "task")):
        scope = "mine"
    page = _int_arg("page", 1, 1)
    sort = request.args.get("sort", URGENCY)
    if sort not in SORTS and sort != URGENCY:
        sort = URGENCY
    descending = request.args.get("dir", "desc") != "asc"
    now = _runtime().now()
    due_by, created_from = date_arg("due"), date_arg("created")
    filters = dict(
        definition_key=request.args.get("process") or None,
        element_id=request.args.get("task") or None,
        name_like=(request.args.get("q") or "").strip() or None,
        min_priority=_int_arg("priority"),
        due_before=_start_of(due_by + timedelta(days=1)) if due_by else None,
        overdue_at=now if request.args.get("overdue") else None,
        created_after=_start_of(created_from) if created_from else None,
    )
    bound = current_app.config["TASK_LIST_COUNT_BOUND"]
    with _sessions()() as session:
        queries = _scoped_queries(session, filters)
        tabs = {
            name: query_tasks(session, TaskQuery(**q, limit=0), count_bound=bound)
            for name, q in queries.items()
        }
        counts = {name: tab.total for name, tab in tabs.items()}
        if asked_scope is None:
            scope = landing_scope(counts)
        result = query_tasks(
            session,
            TaskQuery(
                **queries[scope],
                sort=sort,
                descending=descending,
                offset=(page - 1) * PAGE,
                limit=PAGE + 1,  # one more says whether a next page exists when the count is bounded
            ),
            count=False,  # the tab's count above is the total
        )
        has_next = len(result.tasks) > PAGE
        result.tasks = result.tasks[:PAGE]
        numbers = {t.business_key for t in result.tasks if t.business_key}
        requests_by_number = (
            {
                r.number: r
                for r in session.execute(
                    select(Request.number, Request.priority, Request.subject, Request.resolve_by).where(
                        Request.number.in_(numbers)
                    )
                )
            }
            if numbers
            else {}
        )
        processes = sorted(set(session.scalars(select(ProcessDefinition.key))))
        calendar = get_calendar(TASK_CALENDAR, crm.calendars(session))
    rows = []
    for t in result.tasks:
        req = requests_by_number.get(t.business_key)
        due = t.due or (req.resolve_by if req is not None else None)
        left = sla.working_minutes_left(now, due, calendar) if due is not None else None
        rows.append(Row(t, left, due, req))
    return render_template(
        "tasks.html",
        rows=rows,
        total=tabs[scope].total_label,
        counts={name: tab.total_label for name, tab in tabs.items()},
        page=page,
        # A bounded count does not say how many pages there are: the pager then offers the next
        # page while there is one, and "page N" without "of M".
        pages=(page + 1 if has_next else page) if tabs[scope].bounded else max(-(-counts[scope] // PAGE), 1),
        pages_known=not tabs[scope].bounded,
        scope=scope,
        sort=sort,
        descending=descending,
        processes=processes,
        now=now,
    )


def landing_scope(counts: dict[str, int]) -> str:
    """The tab a person lands on: their own tasks if they hold any, else their groups' queue if it has any."""
    if counts.get("mine"):
        return "mine"
    if counts.get("groups"):
        return "groups"
    return "mine"


def _scoped_queries(session: Session, filters: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The three tabs as TaskQuery arguments: assigned to me, offered to me or my groups, everything.

    "Mine" is just `assignee = me` (a task assigned to me is mine to see), which the
    (status, assignee, created_at) index answers directly. "My groups" needs the full
    visibility rule only when some task is offered to me by name; otherwise the group-only
    form (an EXISTS per task) lets the database walk open unassigned tasks in page order and
    stop at the page, instead of collecting every offered task id first (bench/web.py).
    """
    me, groups = current_user.username, list(current_user.groups or ())
    offered_by_name = session.scalars(
        select(TaskCandidate.id).where(TaskCandidate.kind == "user", TaskCandidate.name == me).limit(1)
    ).first()
    queries = {
        "mine": dict(assignee=me, **filters),
        # With no (active) group the group-only form would restrict nothing: use the full rule then.
        "groups": dict(
            user=me if offered_by_name or not groups else None, groups=groups, unassigned=True, **filters
        ),
    }
    if may(current_principal(), "read", "task"):
        queries["all"] = dict(everything=True, **filters)
    return queries


# ---------------------------------------------------------------------------------------- one task


def _candidate(task: UserTask) -> bool:
    user, groups = current_user.username, current_user.groups
    return user in (task.candidate_users or []) or bool(set(groups) & set(task.candidate_groups or []))


def _load_task(task_id: str) -> UserTask:
    """The task, if this user may see it: assignee, candidate, the one who completed it, or a manager."""
    with _sessions()() as session:
        task = session.get(UserTask, task_id)
    if task is None:
        abort(404, translate("No such task; it may have been cancelled. Reload the task list."))
    if not may(current_principal(), "read", "task", task=task):
        abort(403, translate("This task is not assigned or offered to you or your groups."))
    return task


def _conflict(task: UserTask | None = None, message: str | None = None) -> ResponseReturnValue:
    """409 with a plain message: the task changed hands or was completed since the page was drawn."""
    if message is None:
        message = translate("Someone else completed this task first; reload the list.")
        if task is not None and task.completed_by:
            message += f" ({translate('completed by')} {person_label(task.completed_by)})"
    flash(message, "error")
    return render_template("conflict.html", task=task), 409


def _check_may_work(task: UserTask) -> ResponseReturnValue | None:
    """None when this user may act on the open task now; otherwise the 409/403 answer."""
    if task.status != "open":
        return _conflict(task)
    if may_work(task, current_user.username, current_user.groups):
        return None
    if task.assignee and _candidate(task):
        return _conflict(task, f"{translate('This task was taken by')} {person_label(task.assignee)}.")
    abort(403, translate("This task is not assigned to you; claim it or ask its assignee."))


@dataclass
class TaskForm:
    """What task.html draws: the form's fields, whether it is an approval, and its comment field."""

    schema: FormSchema
    approval: bool
    comment: FormField | None

    @property
    def fields(self) -> list[FormField]:
        hidden = {APPROVAL_FIELD} | ({self.comment.id} if self.approval and self.comment else set())
        return [f for f in self.schema.fields if not (self.approval and f.id in hidden)]


def _task_form(task: UserTask, variables: dict[str, Any]) -> TaskForm:
    schema = FormSchema.from_dict(task.form).with_defaults(variables)
    approval = any(f.id == APPROVAL_FIELD and f.type == "boolean" for f in schema.fields)
    comment = next((f for f in schema.fields if f.id in COMMENT_FIELDS), None)
    if approval and comment is None:
        comment = FormField(id="comment", label=translate("Comment"), widget="textarea")
    return TaskForm(schema, approval, comment)


def _context(task: UserTask, form: TaskForm) -> dict[str, Any]:
    """The request a task is about, the people it may be delegated to, and the pickers of its form."""
    with _sessions()() as session:
        req = None
        if task.business_key:
            req = session.scalars(select(Request).where(Request.number == task.business_key)).first()
        now = _runtime().now()
        delegates = delegation_candidates(session, task, now=now)
        field_pickers = {
            f.id: found
            for f in form.fields
            if (found := field_candidates(session, f.id, now=now)) is not None
        }
    return {"req": req, "delegates": delegates, "pickers": field_pickers}


def _render_task(task: UserTask, values: dict[str, Any], errors: dict[str, str], status: int = 200):
    variables = _runtime().variables(task.instance_id)
    form = _task_form(task, variables)
    if not values:
        # A person is chosen on purpose: an assignee picker starts empty (the suggestion is marked).
        prefill = {f.id for f in form.fields if f.id != APPROVAL_FIELD and f.id not in ASSIGNEE_FIELDS}
        values = {k: v for k, v in variables.items() if k in prefill}
        values.update({f.id: "" for f in form.fields if f.id in ASSIGNEE_FIELDS})
    now = _runtime().now()
    with _sessions()() as session:
        calendar = get_calendar(TASK_CALENDAR, crm.calendars(session))
    left = sla.working_minutes_left(now, task.due, calendar) if task.due else None
    return render_template(
        "task.html",
        task=task,
        form=form,
        values=values,
        errors=errors,
        due_text=working_time_text(left) if left is not None else "",
        overdue=left is not None and left < 0,
        may_work=task.status == "open" and may_work(task, current_user.username, current_user.groups),
        **_context(task, form),
    ), status


@bp.get("/<task_id>")
@checks_permission("read", "task")
@login_required
def show(task_id: str) -> ResponseReturnValue:
    task = _load_task(task_id)
    if task.status != "open":
        return _conflict(task)
    return _render_task(task, {}, {})


@bp.post("/<task_id>/claim")
@checks_permission("claim", "task")
@login_required
def claim(task_id: str) -> ResponseReturnValue:
    task = _load_task(task_id)
    if task.status != "open":
        return _conflict(task)
    if not (_candidate(task) or task.assignee == current_user.username):
        abort(403, translate("Only the users and groups a task is offered to may claim it."))
    try:
        _runtime().claim(task_id, current_user.username)
    except TaskAlreadyClaimed as err:
        return _conflict(task, f"{translate('This task was taken by')} {person_label(err.assignee)}.")
    except (TaskAlreadyCompleted, TaskNotFoundError):
        return _conflict(task)
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.post("/<task_id>/unclaim")
@checks_permission("assign", "task")
@login_required
def unclaim(task_id: str) -> ResponseReturnValue:
    task = _load_task(task_id)
    if task.status != "open":
        return _conflict(task)
    if not may(current_principal(), "assign", "task", task=task):
        abort(403, translate("Only the assignee or a manager may return a task to its group."))
    try:
        _runtime().unclaim(task_id, current_user.username)
    except (TaskAlreadyCompleted, TaskNotFoundError):
        return _conflict(task)
    flash(translate("Task returned to the group."))
    return redirect(url_for("tasks.index", scope="groups"))


@bp.post("/<task_id>/delegate")
@checks_permission("assign", "task")
@login_required
def delegate(task_id: str) -> ResponseReturnValue:
    task = _load_task(task_id)
    if task.status != "open":
        return _conflict(task)
    if not may(current_principal(), "assign", "task", task=task):
        abort(403, translate("Only the assignee or a manager may delegate a task."))
    target = (request.form.get("to") or "").strip()
    try:
        delegate_task(_runtime(), _sessions(), current_principal(), task_id, target)
    except UnknownAssigneeError as err:
        flash(str(err), "error")
        return _render_task(task, {}, {}, 400)
    except (TaskAlreadyCompleted, TaskNotFoundError):
        return _conflict(task)
    flash(f"{translate('Task delegated to')} {person_label(target)}.")
    return redirect(url_for("tasks.index"))


@bp.post("/<task_id>/complete")
@checks_permission("complete", "task")
@login_required
def complete(task_id: str) -> ResponseReturnValue:
    task = _load_task(task_id)
    refused = _check_may_work(task)
    if refused is not None:
        return refused
    form = _task_form(task, {})
    data = _submitted(form)
    errors: dict[str, str] = {}
    decision = request.form.get("decision")
    if form.approval:
        if decision not in ("approve", "reject"):
            abort(400, translate("Choose Approve or Reject."))
        data[APPROVAL_FIELD] = decision == "approve"
        comment_id = form.comment.id
        data[comment_id] = (request.form.get(comment_id) or "").strip()
        if decision == "reject" and not data[comment_id]:
            errors[comment_id] = translate("A comment is required to reject.")
    errors.update(_refused_assignees(form, data))
    if not errors:
        try:
            complete_task(_runtime(), _sessions(), current_principal(), task_id, data)
        except FormValidationError as err:
            errors = {name: _field_error(reason) for name, reason in err.errors.items()}
        except UnknownAssigneeError as err:
            errors = {name: str(err) for name in ASSIGNEE_FIELDS if name in data}
            if not errors:
                abort(400, str(err))
        except (TaskAlreadyCompleted, ConcurrentUpdateError, TaskNotFoundError):
            with _sessions()() as session:
                return _conflict(session.get(UserTask, task_id))
    if errors:
        values = {k: v for k, v in data.items() if not isinstance(v, bool) or k != APPROVAL_FIELD}
        return _render_task(task, values, errors, 400)
    flash(translate("Task completed."))
    return redirect(url_for("tasks.index"))


def _refused_assignees(form: TaskForm, data: dict[str, Any]) -> dict[str, str]:
    """An assignee field (dispatch's executor) must name someone its picker offers, never a typed login."""
    errors: dict[str, str] = {}
    with _sessions()() as session:
        for f in form.fields:
            if f.id not in data or not data[f.id]:
                continue
            offered = field_candidates(session, f.id, now=_runtime().now())
            if offered is not None and data[f.id] not in {c.username for c in offered if c.offered}:
                errors[f.id] = f"«{data[f.id]}»: " + translate(
                    "Choose someone from the list: only active members of the task's group may take it."
                )
    return errors


def _submitted(form: TaskForm) -> dict[str, Any]:
    """The form's own editable fields from the POST (unchecked checkboxes arrive as false)."""
    data: dict[str, Any] = {}
    for f in form.schema.fields:
        if f.readonly or f.widget == "text" or f.id == APPROVAL_FIELD:
            continue
        if f.type == "boolean":
            data[f.id] = request.form.get(f.id) in ("true", "on", "1")
        elif f.id in request.form:
            data[f.id] = request.form[f.id]
    return data


def _field_error(reason: str) -> str:
    """Engine validation messages, worded for the person at the form."""
    if reason == "is required" or reason.startswith("is required when"):
        return translate("This field is required.")
    return reason
