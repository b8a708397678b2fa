"""Camunda's external-task resource: fetchAndLock and the worker's complete/failure/bpmnError/lock calls."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from engine.errors import (
    InvalidStateError,
    ProcessError,
)
from engine.store import (
    Instance,
    Job,
    JobStatus,
)
from service.errors import UndeclaredOutputsError
from service.worker_outputs import check_worker_outputs, declared_outputs
from web.engine_rest.auth import permit, requires
from web.engine_rest.blueprint import bp
from web.engine_rest.errors import RestError, bad_request, not_found
from web.engine_rest.params import (
    count_response,
    db_sessions,
    engine_runtime,
    flag,
    int_arg,
    int_field,
    json_body,
    paged,
    sorted_by,
)
from web.engine_rest.variables import (
    camunda_date,
    decode_variables,
    encode_variables,
)
from web.input_limits import parse_id

MAX_LONG_POLL_MS = 30_000
POLL_SECONDS = 0.15
CLAIM_ROUNDS = 10


@dataclass(frozen=True)
class TopicRequest:
    """One entry of fetchAndLock's `topics`: what to lock, for how long, with which variables."""

    name: str
    lease: timedelta
    variables: tuple[str, ...] | None
    local_only: bool
    extension_properties: bool
    business_key: str | None
    definition_ids: tuple[str, ...] | None
    definition_keys: tuple[str, ...] | None
    process_variables: dict[str, Any]


def _topic_request(raw: Any) -> TopicRequest:
    if not isinstance(raw, dict) or not isinstance(raw.get("topicName"), str) or not raw["topicName"]:
        raise bad_request("Each entry of topics needs a topicName.")
    lock_ms = int_field(raw, "lockDuration", minimum=1)
    names = raw.get("variables")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise bad_request(f"topics[{raw['topicName']}].variables must be a list of variable names.")
    ids = [raw["processDefinitionId"]] if raw.get("processDefinitionId") else []
    ids += list(raw.get("processDefinitionIdIn") or [])
    keys = [raw["processDefinitionKey"]] if raw.get("processDefinitionKey") else []
    keys += list(raw.get("processDefinitionKeyIn") or [])
    process_variables = raw.get("processVariables") or {}
    if not isinstance(process_variables, dict):
        raise bad_request("processVariables must be an object of variable name -> value.")
    return TopicRequest(
        name=raw["topicName"],
        lease=timedelta(milliseconds=lock_ms),
        variables=tuple(names) if names is not None else None,
        local_only=flag(raw.get("localVariables")),
        extension_properties=flag(raw.get("includeExtensionProperties")),
        business_key=raw.get("businessKey") or None,
        definition_ids=tuple(ids) or None,
        definition_keys=tuple(keys) or None,
        process_variables=process_variables,
    )


def _external_jobs():
    """Jobs this API serves: external topics, and any topic no in-process handler serves."""
    return or_(Job.external.is_(True), Job.topic.not_in(current_app.extensions["handlers"].topics()))


def _fetchable(now: datetime):
    return or_(
        and_(Job.status == JobStatus.PENDING.value, Job.due_at <= now),
        and_(Job.status == JobStatus.LOCKED.value, Job.lock_expires_at < now),
    )


def _topic_condition(topic: TopicRequest):
    conditions = [Job.topic == topic.name]
    if topic.business_key is not None:
        conditions.append(Instance.business_key == topic.business_key)
    if topic.definition_ids is not None:
        conditions.append(Instance.definition_id.in_(topic.definition_ids))
    if topic.definition_keys is not None:
        conditions.append(Instance.definition_key.in_(topic.definition_keys))
    return and_(*conditions)


@bp.post("/external-task/fetchAndLock")
@requires("fetch", "external_task", per_item=True)
def fetch_and_lock() -> ResponseReturnValue:
    """Lock up to maxTasks due tasks of the topics for this worker, long-polling when none are due."""
    body = json_body()
    worker = body.get("workerId")
    if not worker or not isinstance(worker, str):
        raise bad_request("workerId is required: name the worker that will complete the tasks.")
    max_tasks = int_field(body, "maxTasks")
    raw_topics = body.get("topics") or []
    if not isinstance(raw_topics, list):
        raise bad_request("topics must be a list of {topicName, lockDuration}.")
    topics = {t.name: t for t in (_topic_request(raw) for raw in raw_topics)}
    for name in topics:
        permit("fetch", "external_task", name)
    timeout_ms = min(int_field(body, "asyncResponseTimeout", default=0), MAX_LONG_POLL_MS)
    order = _fetch_order(body)
    if not topics or not max_tasks:
        return jsonify([])
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        locked = _lock_due(worker, max_tasks, topics, order)
        if locked or time.monotonic() >= deadline:
            return jsonify(_locked_dtos(locked, topics))
        time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0)))


def _fetch_order(body: Mapping[str, Any]) -> list[Any]:
    order: list[Any] = []
    if flag(body.get("usePriority")):
        order.append(Job.priority.desc())
    for sorting in body.get("sorting") or []:
        if not isinstance(sorting, dict) or sorting.get("sortBy") != "createTime":
            raise bad_request("sorting supports sortBy createTime only.")
        desc = str(sorting.get("sortOrder", "asc")).lower() == "desc"
        order.append(Job.created_at.desc() if desc else Job.created_at.asc())
    return [*order, Job.due_at, Job.id]


def _lock_due(worker: str, max_tasks: int, topics: dict[str, TopicRequest], order: list[Any]) -> list[int]:
    """Claim candidates one by one with the runtime's conditional UPDATE; losers of a race move on."""
    runtime = engine_runtime()
    locked: list[int] = []
    filter_variables = any(t.process_variables for t in topics.values())
    for _ in range(CLAIM_ROUNDS):
        wanted = max_tasks - len(locked)
        stmt = (
            select(Job.id, Job.topic, Instance.variables if filter_variables else Instance.id)
            .join(Instance, Instance.id == Job.instance_id)
            .where(
                or_(*[_topic_condition(t) for t in topics.values()]),
                _external_jobs(),
                _fetchable(runtime.now()),
                Job.id.not_in(locked),
            )
            .order_by(*order)
            .limit(wanted * 2 + 8)
        )
        with db_sessions()() as session:
            candidates = session.execute(stmt).all()
        if not candidates:
            break
        for job_id, topic, variables in candidates:
            wanted_values = topics[topic].process_variables
            if wanted_values and any((variables or {}).get(k) != v for k, v in wanted_values.items()):
                continue
            if runtime.claim_job(job_id, worker, topics[topic].lease):
                locked.append(job_id)
                if len(locked) == max_tasks:
                    return locked
        if filter_variables:
            break
    return locked


def _locked_dtos(job_ids: list[int], topics: dict[str, TopicRequest]) -> list[dict[str, Any]]:
    if not job_ids:
        return []
    runtime = engine_runtime()
    with db_sessions()() as session:
        rows = session.execute(
            select(Job, Instance).join(Instance, Instance.id == Job.instance_id).where(Job.id.in_(job_ids))
        ).all()
        properties = {
            job.id: service_call(session, inst, job.element_id).properties
            for job, inst in rows
            if topics[job.topic].extension_properties
        }
    by_id = {job.id: (job, inst) for job, inst in rows}
    result = []
    for job_id in job_ids:
        if job_id not in by_id:  # its deployment was deleted with cascade a moment ago
            continue
        job, inst = by_id[job_id]
        topic = topics[job.topic]
        values = {} if topic.local_only else dict(inst.variables or {})
        values.update(runtime.job_variables(job.id))
        dto = _external_task_dto(job, inst)
        dto["variables"] = encode_variables(values, topic.variables, inst.variable_types)
        dto["extensionProperties"] = dict(properties.get(job.id) or {})
        result.append(dto)
    return result


def service_call(session: Session, inst: Instance, element_id: str) -> Any:
    """The parsed service call of an element (its properties and output mapping)."""
    info = engine_runtime().definition(session, inst.definition_id).info
    for spec in (info.spec, *info.subprocess_specs.values()):
        task_spec = spec.task_specs.get(element_id)
        if task_spec is not None and hasattr(task_spec, "call"):
            return task_spec.call
    raise ProcessError(inst.id, element_id, "the service task is not in the deployed definition")


def _external_task_dto(job: Job, inst: Instance) -> dict[str, Any]:
    locked = job.status == JobStatus.LOCKED.value
    return {
        "activityId": job.element_id,
        "activityInstanceId": f"{job.element_id}:{job.task_id}",
        "errorMessage": job.error,
        "errorDetails": job.error_details,
        "executionId": job.task_id,
        "id": str(job.id),
        "lockExpirationTime": camunda_date(job.lock_expires_at) if locked else None,
        "createTime": camunda_date(job.created_at),
        "processDefinitionId": inst.definition_id,
        "processDefinitionKey": inst.definition_key,
        "processDefinitionVersionTag": None,
        "processInstanceId": inst.id,
        # Camunda reports null until a worker has reported a failure.
        "retries": job.retries if job.error is not None else None,
        "suspended": False,
        "workerId": job.locked_by if locked else None,
        "topicName": job.topic,
        "tenantId": None,
        "priority": job.priority,
        "businessKey": inst.business_key,
    }


def _job_or_404(session: Session, task_id: str) -> Job:
    number = parse_id(task_id)
    job = session.get(Job, number) if number is not None else None
    live = (JobStatus.PENDING.value, JobStatus.LOCKED.value, JobStatus.FAILED.value)
    served = job is not None and (job.external or job.topic not in current_app.extensions["handlers"])
    if not served or job.status not in live:
        raise not_found(f"External task with id {task_id} does not exist")
    return job


def _held_job(task_id: str, body: Mapping[str, Any], verb: str) -> tuple[Job, str]:
    """The job, if `workerId` holds its lock; Camunda's 400 naming the holder otherwise."""
    worker = body.get("workerId")
    if not worker or not isinstance(worker, str):
        raise bad_request("workerId is required.")
    with db_sessions()() as session:
        job = _job_or_404(session, task_id)
        permit("fetch", "external_task", job.topic)
    if job.status != JobStatus.LOCKED.value or job.locked_by != worker:
        raise RestError(
            400,
            f"ExternalTask with id '{task_id}' cannot be {verb} by worker '{worker}'. "
            f"It is locked by worker '{job.locked_by}'.",
            "BadUserRequestException",
        )
    return job, worker


@bp.get("/external-task")
@requires("read", "external_task")
def list_external_tasks() -> ResponseReturnValue:
    stmt = _external_task_query()
    stmt = paged(
        sorted_by(stmt, {"id": Job.id, "priority": Job.priority, "createTime": Job.created_at}, Job.id)
    )
    with db_sessions()() as session:
        rows = session.execute(stmt).all()
    return jsonify([_external_task_dto(job, inst) for job, inst in rows])


@bp.get("/external-task/count")
@requires("read", "external_task")
def count_external_tasks() -> ResponseReturnValue:
    return count_response(_external_task_query())


def _external_task_query() -> Select:
    live = (JobStatus.PENDING.value, JobStatus.LOCKED.value, JobStatus.FAILED.value)
    stmt = (
        select(Job, Instance)
        .join(Instance, Instance.id == Job.instance_id)
        .where(Job.status.in_(live), _external_jobs())
    )
    args = request.args
    if args.get("topicName"):
        stmt = stmt.where(Job.topic == args["topicName"])
    if args.get("workerId"):
        stmt = stmt.where(Job.locked_by == args["workerId"])
    if args.get("processInstanceId"):
        stmt = stmt.where(Job.instance_id == args["processInstanceId"])
    if args.get("activityId"):
        stmt = stmt.where(Job.element_id == args["activityId"])
    if args.get("externalTaskId"):
        stmt = stmt.where(Job.id == int_arg("externalTaskId"))
    now = engine_runtime().now()
    if flag(args.get("locked")):
        stmt = stmt.where(Job.status == JobStatus.LOCKED.value, Job.lock_expires_at >= now)
    if flag(args.get("notLocked")):
        stmt = stmt.where(or_(Job.status != JobStatus.LOCKED.value, Job.lock_expires_at < now))
    if flag(args.get("noRetriesLeft")):
        stmt = stmt.where(Job.status == JobStatus.FAILED.value)
    if flag(args.get("withRetriesLeft")):
        stmt = stmt.where(Job.status != JobStatus.FAILED.value)
    return stmt


@bp.get("/external-task/<task_id>")
@requires("read", "external_task")
def get_external_task(task_id: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        job = _job_or_404(session, task_id)
        return jsonify(_external_task_dto(job, session.get(Instance, job.instance_id)))


@bp.get("/external-task/<task_id>/errorDetails")
@requires("read", "external_task")
def external_task_error_details(task_id: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        job = _job_or_404(session, task_id)
    return Response(job.error_details or "", mimetype="text/plain")


@bp.post("/external-task/<task_id>/complete")
@requires("fetch", "external_task", per_item=True)
def complete_external_task(task_id: str) -> ResponseReturnValue:
    body = json_body()
    job, worker = _held_job(task_id, body, "completed")
    variables = decode_variables(body.get("variables"))
    local = decode_variables(body.get("localVariables"), "localVariables")
    with db_sessions()() as session:
        has_output_mapping = bool(
            service_call(session, session.get(Instance, job.instance_id), job.element_id).outputs
        )
    # As Camunda's ExternalTaskEntity.complete: `variables` are set on the process; local ones on
    # the task's scope, which an output mapping reads (without one, the task's scope is the process's).
    if not has_output_mapping:
        variables, local = {**local, **variables}, {}
    declared = declared_outputs(current_app.extensions["handlers"])
    try:
        check_worker_outputs(job.topic, variables, declared)
    except UndeclaredOutputsError as err:
        raise bad_request(str(err)) from err
    try:
        done = engine_runtime().complete_job(job.id, variables, worker_id=worker, local=local)
    except InvalidStateError as err:
        raise RestError(400, str(err), "BadUserRequestException") from err
    if not done:
        raise not_found(f"External task with id {task_id} does not exist")
    return "", 204


@bp.post("/external-task/<task_id>/failure")
@requires("fetch", "external_task", per_item=True)
def fail_external_task(task_id: str) -> ResponseReturnValue:
    body = json_body()
    job, _ = _held_job(task_id, body, "failed")
    retries = int_field(body, "retries", default=0)
    retry_timeout = int_field(body, "retryTimeout", default=0)
    message = body.get("errorMessage")
    details = body.get("errorDetails")
    engine_runtime().fail_job(
        job.id,
        str(message) if message is not None else "",
        str(details) if details is not None else None,
        retries=retries,
        retry_timeout=timedelta(milliseconds=retry_timeout),
    )
    return "", 204


@bp.post("/external-task/<task_id>/bpmnError")
@requires("fetch", "external_task", per_item=True)
def bpmn_error_external_task(task_id: str) -> ResponseReturnValue:
    body = json_body()
    job, _ = _held_job(task_id, body, "reported a BPMN error")
    code = body.get("errorCode")
    if not code or not isinstance(code, str):
        raise bad_request("errorCode is required: the code of the error boundary event that should catch it.")
    variables = decode_variables(body.get("variables"))
    message = body.get("errorMessage")
    engine_runtime().throw_bpmn_error(job.id, code, str(message) if message is not None else "", variables)
    return "", 204


@bp.post("/external-task/<task_id>/extendLock")
@requires("fetch", "external_task", per_item=True)
def extend_lock(task_id: str) -> ResponseReturnValue:
    body = json_body()
    worker = body.get("workerId")
    if not worker or not isinstance(worker, str):
        raise bad_request("workerId is required.")
    duration = int_field(body, "newDuration", minimum=1)
    with db_sessions()() as session:
        job = _job_or_404(session, task_id)
        permit("fetch", "external_task", job.topic)
    if not engine_runtime().extend_job_lock(job.id, worker, timedelta(milliseconds=duration)):
        raise RestError(
            400,
            f"Cannot extend the lock of external task {task_id}: it is not locked by worker '{worker}', "
            "or the lock has expired. Fetch and lock it again.",
            "BadUserRequestException",
        )
    return "", 204


@bp.post("/external-task/<task_id>/lock")
@requires("fetch", "external_task", per_item=True)
def lock_external_task(task_id: str) -> ResponseReturnValue:
    body = json_body()
    worker = body.get("workerId")
    if not worker or not isinstance(worker, str):
        raise bad_request("workerId is required.")
    lease = timedelta(milliseconds=int_field(body, "lockDuration", minimum=1))
    with db_sessions()() as session:
        job = _job_or_404(session, task_id)
        permit("fetch", "external_task", job.topic)
    runtime = engine_runtime()
    if not (runtime.claim_job(job.id, worker, lease) or runtime.extend_job_lock(job.id, worker, lease)):
        raise RestError(
            400,
            f"External task {task_id} is locked by another worker or not due yet.",
            "BadUserRequestException",
        )
    return "", 204


@bp.post("/external-task/<task_id>/unlock")
@requires("fetch", "external_task", per_item=True)
def unlock_external_task(task_id: str) -> ResponseReturnValue:
    with db_sessions()() as session:
        job = _job_or_404(session, task_id)
        permit("fetch", "external_task", job.topic)
    engine_runtime().unlock_job(job.id)
    return "", 204
