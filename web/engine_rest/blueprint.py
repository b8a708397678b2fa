"""The /engine-rest blueprint and the constants its resources share."""

from __future__ import annotations

from flask import Blueprint

from web.security import csrf

bp = Blueprint("engine_rest", __name__, url_prefix="/engine-rest")
csrf.exempt(bp)  # API clients authenticate every request; there is no session cookie to forge

CAMUNDA_VERSION = "7.24.0"  # the newest Camunda 7 the Modeler lists for its "Camunda 7" target
REALM = "engine-rest"
DEFAULT_MAX_RESULTS = 2000
