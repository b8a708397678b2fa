"""Admin pages for the desk's rules that may live in decision tables: routing (and approvals).

When routing.dmn / approval.dmn / sla_policy.dmn are deployed, those tables decide and the
pages show them read-only: an analyst edits them in Camunda Modeler (the .dmn is offered for
download) and deploys them like a diagram. Without a deployed table the rules stored here
(seeded by the demo, the SLA page's policies) decide, as before decision tables existed.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, current_app, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from desk.models import RouteRule
from engine import decisions
from engine.dmn.model import Decision
from engine.store import DecisionDefinition, Resource
from web.security import permission_required

bp = Blueprint("admin_rules", __name__, url_prefix="/admin")


@dataclass(frozen=True)
class DeployedTable:
    """The latest deployed version of one decision table, compiled, for a read-only view."""

    definition: DecisionDefinition
    decision: Decision


def deployed_table(session: Session, key: str) -> DeployedTable | None:
    """The latest version of decision `key`, or None when no table with that key is deployed."""
    try:
        definition = decisions.find_definition(session, key)
    except decisions.DecisionNotFoundError:
        return None
    return DeployedTable(definition, decisions.load_decision(session, definition))


@bp.before_request
@permission_required("manage", "admin")
def _admins_only() -> None:
    """Every page of this blueprint is for admins, as the rest of /admin."""


@bp.get("/routing")
def routing() -> ResponseReturnValue:
    with current_app.extensions["sessions"]() as session:
        tables = [t for t in (deployed_table(session, "routing"), deployed_table(session, "approval")) if t]
        rules = session.scalars(select(RouteRule).order_by(RouteRule.category)).all()
    return render_template("admin_routing.html", tables=tables, rules=rules)


@bp.get("/decisions/<key>.dmn")
def download(key: str) -> ResponseReturnValue:
    """The deployed table's file, to open in Camunda Modeler, change and deploy again."""
    with current_app.extensions["sessions"]() as session:
        table = deployed_table(session, key)
        if table is None:
            return Response(f"No decision table {key!r} is deployed.", status=404, mimetype="text/plain")
        content = session.scalar(
            select(Resource.content).where(
                Resource.deployment_id == table.definition.deployment_id,
                Resource.name == table.definition.resource_name,
            )
        )
    return Response(
        content or b"",
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{table.definition.resource_name}"'},
    )
