"""Camunda's migration resource: generate a plan between two definitions, execute it."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue

from engine.migration import MigrationError, MigrationPlan, dry_run, migrate_instance, plan
from web.engine_rest.auth import caller, requires
from web.engine_rest.blueprint import bp
from web.engine_rest.errors import RestError, bad_request
from web.engine_rest.params import (
    db_sessions,
    engine_runtime,
    json_body,
)
from web.engine_rest.process_definition import definition_or_404


@bp.post("/migration/generate")
@requires("migrate", "process_instance")
def generate_migration() -> ResponseReturnValue:
    """Camunda's generated plan: every element whose id exists in the target as the same kind."""
    migration = _migration_plan(json_body())
    instructions = [
        {"sourceActivityIds": [m.source_id], "targetActivityIds": [m.target_id], "updateEventTrigger": False}
        for m in migration.elements.values()
        if m.target_id and not m.problem
    ]
    return jsonify(
        {
            "sourceProcessDefinitionId": migration.source.id,
            "targetProcessDefinitionId": migration.target.id,
            "instructions": instructions,
            "variables": None,
        }
    )


@bp.post("/migration/execute")
@requires("migrate", "process_instance")
def execute_migration() -> ResponseReturnValue:
    """Migrate the listed instances; if any cannot, none is touched (as Camunda's synchronous execute)."""
    body = json_body()
    ids = body.get("processInstanceIds")
    if not ids or not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise bad_request(
            "processInstanceIds must list instance ids (processInstanceQuery is not supported)."
        )
    migration = _migration_plan(body.get("migrationPlan"), with_instructions=True)
    with db_sessions()() as session:
        report = dry_run(session, migration, ids)
    if report.refused:
        raise RestError(400, "; ".join(report.lines()[1:]), "MigratingProcessInstanceValidationException")
    for instance_id in ids:
        migrate_instance(engine_runtime(), migration, instance_id, user=caller().username)
    return "", 204


_INSTRUCTION_KEYS = ("sourceActivityIds", "targetActivityIds")


def _migration_plan(body: Any, *, with_instructions: bool = False) -> MigrationPlan:
    if not isinstance(body, dict):
        raise bad_request("migrationPlan must be an object.")
    mapping: dict[str, str] = {}
    instructions = (body.get("instructions") or []) if with_instructions else []
    for instruction in instructions:
        pair = [instruction.get(k) if isinstance(instruction, dict) else None for k in _INSTRUCTION_KEYS]
        if not all(isinstance(ids, list) and len(ids) == 1 and isinstance(ids[0], str) for ids in pair):
            raise bad_request(
                "Each instruction maps one sourceActivityIds entry to one targetActivityIds entry."
            )
        mapping[pair[0][0]] = pair[1][0]
    with db_sessions()() as session:
        loaded = []
        for field_name in ("sourceProcessDefinitionId", "targetProcessDefinitionId"):
            definition_id = body.get(field_name)
            if not isinstance(definition_id, str):
                raise bad_request(f"{field_name} is required.")
            definition_or_404(session, definition_id)
            loaded.append(engine_runtime().definition(session, definition_id))
    try:
        return plan(loaded[0], loaded[1], mapping)
    except MigrationError as err:
        raise bad_request(str(err)) from err
