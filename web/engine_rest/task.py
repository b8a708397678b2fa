"""Camunda's task resource: user tasks, their variables and form, claim and complete."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from engine.errors import TaskAlreadyCompleted, TaskNotFoundError
from engine.forms import FormSchema, FormValidationError
from engine.store import (
    Instance,
    TaskStatus,
    UserTask,
)
from engine.tasklist import TaskQuery, query_tasks
from service.tasks import claim_task as claim
from service.tasks import complete_task as complete
from web.engine_rest.auth import caller, permit, requires
from web.engine_rest.blueprint import DEFAULT_MAX_RESULTS, bp
from web.engine_rest.errors import RestError, bad_request, not_found
from web.engine_rest.params import (
    csv_arg,
    db_sessions,
    engine_runtime,
    flag,
    int_arg,
    json_body,
)
from web.engine_rest.variables import (
    camunda_date,
    decode_variables,
    encode_variables,
)


def _task_dto(row: Any) -> dict[str, Any]:
    """A user task (projection row or tasklist view) as Camunda's TaskDto."""
    return {
        "id": row.id,
        "name": row.name,
        "assignee": row.assignee,
        "owner": row.owner,
        "created": camunda_date(row.created_at),
        "lastUpdated": None,
        "due": camunda_date(row.due),
        "followUp": camunda_date(row.follow_up),
        "delegationState": None,
        "description": None,
        "executionId": row.id,
        "parentTaskId": None,
        "priority": row.priority,
        "processDefinitionId": row.definition_id,
        "processInstanceId": row.instance_id,
        "caseExecutionId": None,
        "caseDefinitionId": None,
        "caseInstanceId": None,
        "taskDefinitionKey": row.element_id,
        "suspended": False,
        "formKey": row.form_key,
        "camundaFormRef": None,
        "tenantId": None,
    }


TASK_SORTS = {"created": "created", "dueDate": "due", "priority": "priority", "name": "name"}


def _task_query() -> TaskQuery:
    args = request.args
    sort_by = args.get("sortBy", "created")
    if sort_by not in TASK_SORTS:
        raise bad_request(f"sortBy={sort_by!r} is not supported; use one of {', '.join(TASK_SORTS)}.")
    user = caller()
    return TaskQuery(
        user=user.username,
        groups=list(user.groups),
        everything=user.is_admin,
        assignee=args.get("assignee") or None,
        unassigned=flag(args.get("unassigned")),
        candidate_group=args.get("candidateGroup") or None,
        candidate_user=args.get("candidateUser") or None,
        definition_key=args.get("processDefinitionKey") or None,
        element_id=args.get("taskDefinitionKey") or None,
        instance_id=args.get("processInstanceId") or None,
        business_key=args.get("processInstanceBusinessKey") or None,
        name_like=(args.get("nameLike") or "").strip("%") or None,
        sort=TASK_SORTS[sort_by],
        descending=args.get("sortOrder", "asc").lower() == "desc",
        offset=max(int_arg("firstResult", 0) or 0, 0),
        limit=max(int_arg("maxResults", DEFAULT_MAX_RESULTS) or 0, 0),
    )


@bp.get("/task")
@requires("read", "task", per_item=True)
def list_tasks() -> ResponseReturnValue:
    query = _task_query()
    with db_sessions()() as session:
        page = query_tasks(session, query, count=False)
    return jsonify([_task_dto(t) for t in page.tasks])


@bp.get("/task/count")
@requires("read", "task", per_item=True)
def count_tasks() -> ResponseReturnValue:
    query = _task_query()
    query.limit, query.offset = 1, 0
    with db_sessions()() as session:
        return jsonify({"count": query_tasks(session, query).total})


def _open_task_or_404(session: Session, task_id: str) -> UserTask:
    row = session.get(UserTask, task_id)
    if row is None or row.status != TaskStatus.OPEN.value:
        raise not_found(f"No matching task with id {task_id}")
    return row


def _require_may_read(row: UserTask) -> None:
    permit("read", "task", task=row)


@bp.get("/task/<task_id>")
@requires("read", "task", per_item=True)
def get_task(task_id: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        row = _open_task_or_404(session, task_id)
        _require_may_read(row)
        return jsonify(_task_dto(row))


FORM_VARIABLE_TYPES = {"long": "Long", "double": "Double", "boolean": "Boolean", "date": "Date"}


@bp.get("/task/<task_id>/form-variables")
@requires("read", "task", per_item=True)
def task_form_variables(task_id: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        row = _open_task_or_404(session, task_id)
        _require_may_read(row)
        values = dict(session.get(Instance, row.instance_id).variables or {})
        schema = FormSchema.from_dict(row.form)
    wanted = csv_arg("variableNames")
    result: dict[str, Any] = {}
    for field in schema.fields:
        if field.widget == "text" or (wanted is not None and field.id not in wanted):
            continue
        value = values.get(field.id, field.default)
        result[field.id] = {
            "type": FORM_VARIABLE_TYPES.get(field.type, "String"),
            "value": value,
            "valueInfo": {},
        }
    return jsonify(result)


@bp.get("/task/<task_id>/variables")
@requires("read", "task", per_item=True)
def task_variables(task_id: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        row = _open_task_or_404(session, task_id)
        _require_may_read(row)
        inst = session.get(Instance, row.instance_id)
        values, types = dict(inst.variables or {}), inst.variable_types
    return jsonify(encode_variables(values, csv_arg("variableNames"), types))


@bp.post("/task/<task_id>/claim")
@requires("claim", "task", per_item=True)
def claim_task(task_id: str) -> ResponseReturnValue:
    user_id = json_body().get("userId")
    if not user_id or not isinstance(user_id, str):
        raise bad_request("userId is required to claim a task.")
    with db_sessions()() as session:
        _open_task_or_404(session, task_id)
    claim(engine_runtime(), db_sessions(), caller(), task_id, user_id)
    return "", 204


@bp.post("/task/<task_id>/unclaim")
@requires("assign", "task", per_item=True)
def unclaim_task(task_id: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        permit("assign", "task", task=_open_task_or_404(session, task_id))
    engine_runtime().unclaim(task_id, user=caller().username)
    return "", 204


@bp.post("/task/<task_id>/complete")
@requires("complete", "task", per_item=True)
def complete_task(task_id: str) -> ResponseReturnValue:
    """One service call: permission, the task's declared fields, real assignees, then the engine."""
    body = json_body()
    variables = decode_variables(body.get("variables"))
    try:
        instance_id = complete(engine_runtime(), db_sessions(), caller(), task_id, variables)
    except FormValidationError as err:
        raise bad_request(f"Cannot complete task {task_id}: {err}") from err
    except TaskAlreadyCompleted as err:
        raise RestError(409, f"Cannot complete task {task_id}: {err}", "RestException") from err
    except TaskNotFoundError as err:
        raise not_found(f"Cannot complete task {task_id}: no task with that id exists.") from err
    if flag(body.get("withVariablesInReturn")):
        with db_sessions()() as session:
            inst = session.get(Instance, instance_id)
            return jsonify(encode_variables(inst.variables or {}, types=inst.variable_types))
    return "", 204
