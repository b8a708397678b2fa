"""Admin page /admin/import: staging counts per kind and status, and the progress of the latest run."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, current_app, jsonify, render_template
from flask.typing import ResponseReturnValue

from desk.legacy import runner
from desk.legacy.store import KINDS
from web.security import permission_required

bp = Blueprint("admin_import", __name__, url_prefix="/admin/import")


def _state() -> tuple[dict[str, dict[str, int]], runner.Progress | None]:
    engine = current_app.extensions["db_engine"]
    return runner.counts(engine), runner.latest_progress(engine, current_app.extensions["runtime"].now())


@bp.get("/")
@permission_required("manage", "admin")
def index() -> ResponseReturnValue:
    counts, progress = _state()
    return render_template("admin_import.html", counts=counts, kinds=KINDS, progress=progress)


@bp.get("/progress.json")
@permission_required("manage", "admin")
def progress_json() -> ResponseReturnValue:
    counts, progress = _state()
    data = asdict(progress) if progress else None
    if progress:
        data["percent"] = progress.percent
    return jsonify({"counts": counts, "run": data})
