"""Camunda's incident resource: open incidents of failed jobs and external tasks."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, false, or_, select

from engine.store import (
    Incident,
    Instance,
    Job,
)
from web.engine_rest.auth import requires
from web.engine_rest.blueprint import bp
from web.engine_rest.params import (
    count_response,
    db_sessions,
    int_arg,
    paged,
    sorted_by,
)
from web.engine_rest.variables import (
    camunda_date,
)


def _incident_query() -> Select:
    stmt = (
        select(Incident, Job, Instance.definition_id)
        .join(Instance, Instance.id == Incident.instance_id)
        .outerjoin(Job, Job.id == Incident.job_id)
        .where(Incident.status == "open")
    )
    args = request.args
    if args.get("incidentId"):
        stmt = stmt.where(Incident.id == int_arg("incidentId"))
    if args.get("processInstanceId"):
        stmt = stmt.where(Incident.instance_id == args["processInstanceId"])
    if args.get("processDefinitionId"):
        stmt = stmt.where(Instance.definition_id == args["processDefinitionId"])
    if args.get("activityId"):
        stmt = stmt.where(Incident.element_id == args["activityId"])
    if args.get("incidentType") == "failedExternalTask":
        stmt = stmt.where(Job.external.is_(True))
    elif args.get("incidentType") == "failedJob":
        stmt = stmt.where(or_(Job.external.is_(False), Job.id.is_(None)))
    elif args.get("incidentType"):
        stmt = stmt.where(false())
    return stmt


@bp.get("/incident")
@requires("read", "incident")
def list_incidents() -> ResponseReturnValue:
    stmt = paged(
        sorted_by(
            _incident_query(),
            {"incidentId": Incident.id, "incidentTimestamp": Incident.created_at},
            Incident.created_at,
        )
    )
    with db_sessions()() as session:
        rows = session.execute(stmt).all()
    return jsonify([_incident_dto(incident, job, definition_id) for incident, job, definition_id in rows])


@bp.get("/incident/count")
@requires("read", "incident")
def count_incidents() -> ResponseReturnValue:
    return count_response(_incident_query())


def _incident_dto(row: Incident, job: Job | None, definition_id: str) -> dict[str, Any]:
    external = job is not None and job.external
    return {
        "id": str(row.id),
        "processDefinitionId": definition_id,
        "processInstanceId": row.instance_id,
        "executionId": job.task_id if job is not None else None,
        "incidentTimestamp": camunda_date(row.created_at),
        "incidentType": "failedExternalTask" if external else row.incident_type,
        "activityId": row.element_id,
        "failedActivityId": row.element_id,
        "causeIncidentId": str(row.id),
        "rootCauseIncidentId": str(row.id),
        "configuration": str(row.job_id) if row.job_id is not None else None,
        "tenantId": None,
        "incidentMessage": row.message,
        "jobDefinitionId": None,
        "annotation": None,
    }
