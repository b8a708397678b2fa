"""Cockpit-like views: definitions with versions and counts, instances with the diagram, incidents."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from sqlalchemy import func, select

from engine.diagram import DiagramError, render_svg
from engine.errors import EngineError
from engine.store import HistoryEvent, Incident, Instance, ProcessDefinition, Resource
from web.security import role_required

bp = Blueprint("processes", __name__, url_prefix="/processes")


@bp.get("/")
@role_required("manager", "analyst")
def index() -> ResponseReturnValue:
    with current_app.extensions["sessions"]() as session:
        counts = dict(
            session.execute(
                select(Instance.definition_id, func.count())
                .where(Instance.status == "running")
                .group_by(Instance.definition_id)
            ).all()
        )
        incidents = dict(
            session.execute(
                select(Instance.definition_id, func.count())
                .join(Incident, Incident.instance_id == Instance.id)
                .where(Incident.status == "open")
                .group_by(Instance.definition_id)
            ).all()
        )
        definitions = session.scalars(
            select(ProcessDefinition).order_by(ProcessDefinition.key, ProcessDefinition.version.desc())
        ).all()
        instances = session.scalars(select(Instance).order_by(Instance.started_at.desc()).limit(50)).all()
        open_incidents = session.scalars(select(Incident).where(Incident.status == "open")).all()
    return render_template(
        "processes.html",
        definitions=definitions,
        counts=counts,
        incidents=incidents,
        instances=instances,
        open_incidents=open_incidents,
    )


@bp.get("/instances/<instance_id>")
@login_required
def instance(instance_id: str) -> ResponseReturnValue:
    runtime = current_app.extensions["runtime"]
    with current_app.extensions["sessions"]() as session:
        inst = session.get(Instance, instance_id)
        if inst is None:
            abort(404)
        definition = session.get(ProcessDefinition, inst.definition_id)
        xml = session.scalars(
            select(Resource.content).where(
                Resource.deployment_id == definition.deployment_id, Resource.name == definition.resource_name
            )
        ).first()
        history = session.scalars(
            select(HistoryEvent).where(HistoryEvent.instance_id == instance_id).order_by(HistoryEvent.id)
        ).all()
        incidents = session.scalars(select(Incident).where(Incident.instance_id == instance_id)).all()
    return render_template(
        "instance.html",
        inst=inst,
        definition=definition,
        history=history,
        incidents=incidents,
        diagram=_diagram(xml, definition.key, runtime.active_elements(instance_id)),
    )


def _diagram(xml: bytes | None, process_id: str, states: dict[str, str]) -> str | None:
    try:
        return render_svg(xml, process_id=process_id, states=states) if xml else None
    except DiagramError:
        return None


@bp.post("/incidents/<int:incident_id>/retry")
@role_required("manager", "analyst")
def retry(incident_id: int) -> ResponseReturnValue:
    try:
        current_app.extensions["runtime"].retry_incident(incident_id, user=current_user.username)
        flash(f"Incident {incident_id} retried.")
    except EngineError as err:
        flash(str(err), "error")
    return redirect(url_for("processes.index"))
