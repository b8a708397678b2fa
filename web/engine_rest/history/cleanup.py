"""Camunda's history/cleanup resource: schedule a cleanup, read its job and its configuration.

`POST /history/cleanup?immediatelyDue=true` (the default) makes the cleanup due now;
`immediatelyDue=false` makes it due at the start of the next batch window. Either way it
runs on the embedded worker or, with Redis, on an RQ worker sent by the scheduler; the
answer is Camunda's JobDto of the cleanup job. `GET /history/cleanup/configuration` answers
Camunda's HistoryCleanupConfigurationDto: the current or next batch window and `enabled`.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request
from flask.typing import ResponseReturnValue

from engine.retention_state import CleanupSnapshot
from service import retention as service_retention
from web import retention
from web.engine_rest.auth import caller, requires
from web.engine_rest.blueprint import bp
from web.engine_rest.errors import bad_request, not_found
from web.engine_rest.params import db_sessions, engine_runtime, flag
from web.engine_rest.variables import camunda_date

JOB_ID = "history-cleanup"


def job_dto(state: CleanupSnapshot) -> dict[str, Any]:
    """Camunda's JobDto for the one cleanup job (its due date is the state row's)."""
    return {
        "id": JOB_ID,
        "jobDefinitionId": None,
        "processInstanceId": None,
        "processDefinitionId": None,
        "processDefinitionKey": None,
        "executionId": None,
        "exceptionMessage": state.error,
        "failedActivityId": None,
        "retries": 3,
        "dueDate": camunda_date(state.due_at or (state.started_at if state.status == "running" else None)),
        "suspended": False,
        "priority": 0,
        "tenantId": None,
        "createTime": camunda_date(state.started_at),
        "batchId": None,
    }


@bp.post("/history/cleanup")
@requires("run", "history_cleanup")
def cleanup_async() -> ResponseReturnValue:
    now = engine_runtime().now()
    if flag(request.args.get("immediatelyDue"), default=True):
        due_at = now
    else:
        window = retention.window(current_app, now)
        if window is None:
            raise bad_request(
                "History cleanup without a batch window can only be started with immediatelyDue=true; "
                "set HISTORY_CLEANUP_BATCH_WINDOW_START_TIME and _END_TIME."
            )
        due_at = window.start if window.start > now else now
    state = service_retention.request_cleanup(caller(), db_sessions(), due_at)
    return jsonify(job_dto(state))


def _scheduled() -> CleanupSnapshot:
    state = service_retention.cleanup_state(caller(), db_sessions())
    if state.due_at is None and state.status != "running":
        raise not_found("History cleanup job does not exist")
    return state


@bp.get("/history/cleanup/job")
@requires("read", "history_cleanup")
def cleanup_job() -> ResponseReturnValue:
    return jsonify(job_dto(_scheduled()))


@bp.get("/history/cleanup/jobs")
@requires("read", "history_cleanup")
def cleanup_jobs() -> ResponseReturnValue:
    return jsonify([job_dto(_scheduled())])


@bp.get("/history/cleanup/configuration")
@requires("read", "history_cleanup")
def cleanup_configuration() -> ResponseReturnValue:
    window = retention.window(current_app, engine_runtime().now())
    return jsonify(
        {
            "batchWindowStartTime": camunda_date(window.start) if window else None,
            "batchWindowEndTime": camunda_date(window.end) if window else None,
            "enabled": bool(current_app.config.get("HISTORY_CLEANUP_ENABLED", True)),
        }
    )
