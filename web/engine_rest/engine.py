"""Camunda's /version and /engine: what the Modeler asks before it deploys."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from web.engine_rest.auth import requires
from web.engine_rest.blueprint import CAMUNDA_VERSION, bp


@bp.get("/version")
@requires("read", "engine")
def version() -> ResponseReturnValue:
    return jsonify({"version": CAMUNDA_VERSION})


@bp.get("/engine")
@requires("read", "engine")
def engines() -> ResponseReturnValue:
    return jsonify([{"name": "default"}])
