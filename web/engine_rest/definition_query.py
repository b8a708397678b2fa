"""The query parameters Camunda's process- and decision-definition lists share, on either table.

Both resources filter by id, key, name, deployment, version and resource the same way, and
both have `latestVersion`; the only differences are the id parameter's name and which columns
the table has (a process definition keeps no version tag here).
"""

from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import Select, and_, func, select

from engine.store import Deployment
from web.engine_rest.params import csv_arg, flag, int_arg


def definition_query(model: Any, id_param: str) -> Select:
    """(definition row, tenant id) filtered by the request's query string; `id_param` names the id."""
    stmt = select(model, Deployment.tenant_id).join(Deployment, Deployment.id == model.deployment_id)
    args = request.args
    if args.get(id_param):
        stmt = stmt.where(model.id == args[id_param])
    if args.get(f"{id_param}In"):
        stmt = stmt.where(model.id.in_(csv_arg(f"{id_param}In") or []))
    if args.get("key"):
        stmt = stmt.where(model.key == args["key"])
    if args.get("keysIn"):
        stmt = stmt.where(model.key.in_(csv_arg("keysIn") or []))
    if args.get("keyLike"):
        stmt = stmt.where(model.key.like(args["keyLike"]))
    if args.get("name"):
        stmt = stmt.where(model.name == args["name"])
    if args.get("nameLike"):
        stmt = stmt.where(model.name.like(args["nameLike"]))
    if args.get("deploymentId"):
        stmt = stmt.where(model.deployment_id == args["deploymentId"])
    if args.get("version"):
        stmt = stmt.where(model.version == int_arg("version"))
    if args.get("versionTag") and hasattr(model, "version_tag"):
        stmt = stmt.where(model.version_tag == args["versionTag"])
    if args.get("resourceName"):
        stmt = stmt.where(model.resource_name == args["resourceName"])
    if flag(args.get("latestVersion")):
        latest = select(model.key, func.max(model.version).label("v")).group_by(model.key).subquery()
        stmt = stmt.join(latest, and_(latest.c.key == model.key, latest.c.v == model.version))
    return stmt
