"""Engine commands of the flask CLI: definitions, start, instances, instance, tasks, claim,
unclaim, complete, correlate, set-var, cancel, incidents, retry (names and options are a
contract: acceptance checks call them). Registered by web.cli.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click
from flask import current_app
from sqlalchemy import func, select

from engine import typed_values
from engine.errors import EngineError
from engine.store import HistoryEvent, Incident, Instance, Job, ProcessDefinition, Timer, UserTask
from engine.tasklist import TaskQuery, query_tasks
from service.errors import ServiceError, UndeclaredVariablesError
from web import db
from web.cli_support import (
    _emit,
    _fail,
    _parse_vars,
    _principal,
    _runtime,
)

if TYPE_CHECKING:
    from engine.forms import FormSchema
    from engine.start_contract import StartVariable

# The commands that step instances import service.tasks, service.instances and the start
# contract (SpiffWorkflow's parser, the desk's calendars) when they run, so that the read-only
# ones (definitions, instances, tasks, incidents) start in a fraction of the time.


@click.command("definitions")
@click.option("--json", "as_json", is_flag=True)
def definitions(as_json: bool) -> None:
    """List deployed process definitions with their versions and running instances."""
    with db.sessions()() as session:
        rows = session.execute(
            select(ProcessDefinition, func.count(Instance.id))
            .outerjoin(
                Instance, (Instance.definition_id == ProcessDefinition.id) & (Instance.status == "running")
            )
            .group_by(ProcessDefinition.id)
            .order_by(ProcessDefinition.key, ProcessDefinition.version)
        ).all()
    data = [{"id": d.id, "key": d.key, "name": d.name, "version": d.version, "running": n} for d, n in rows]
    _emit(
        data,
        as_json,
        [f"{d['key']:<30} v{d['version']:<3} running={d['running']:<5} {d['id']}" for d in data],
    )


@click.command("start")
@click.argument("key")
@click.option("--business-key")
@click.option("--var", "pairs", multiple=True, help="name=value (JSON values keep their type)")
@click.option("--user")
@click.option("--json", "as_json", is_flag=True)
def start(
    key: str, business_key: str | None, pairs: tuple[str, ...], user: str | None, as_json: bool
) -> None:
    """Start the latest version of KEY (refused when it lacks variables only the starter can give)."""
    variables = _parse_vars(pairs)
    try:
        _check_start_variables(key, variables)
        result = _runtime().start(key, business_key, variables, user=user)
    except EngineError as err:
        _fail(err)
    _emit(result.__dict__, as_json, [f"Started {result.id} ({result.definition_id}): {result.status}"])


@click.command("instances")
@click.option("--status", type=click.Choice(["running", "completed", "cancelled"]))
@click.option("--key")
@click.option("--limit", default=50)
@click.option("--json", "as_json", is_flag=True)
def instances(status: str | None, key: str | None, limit: int, as_json: bool) -> None:
    """List process instances, newest first."""
    with db.sessions()() as session:
        stmt = select(Instance).order_by(Instance.started_at.desc()).limit(limit)
        if status:
            stmt = stmt.where(Instance.status == status)
        if key:
            stmt = stmt.where(Instance.definition_key == key)
        rows = session.scalars(stmt).all()
    data = [
        {
            "id": i.id,
            "definition_id": i.definition_id,
            "business_key": i.business_key,
            "status": i.status,
            "started_at": i.started_at.isoformat(),
            "waiting": sorted(set((i.waiting or {}).values())),
        }
        for i in rows
    ]
    _emit(
        data,
        as_json,
        [f"{d['id']} {d['status']:<10} {d['business_key'] or '-':<14} {d['definition_id']}" for d in data],
    )


INSTANCE_STATES = {"running": "ACTIVE", "completed": "COMPLETED", "cancelled": "EXTERNALLY_TERMINATED"}


@click.command("instance")
@click.argument("instance_id")
@click.option("--json", "as_json", is_flag=True)
def instance(instance_id: str, as_json: bool) -> None:
    """Show one instance: state, variables, open tasks, jobs, timers, incidents and history.

    --json keys (stable; README "Command line"): id, definition_id, definition_key,
    business_key, state (Camunda's ACTIVE / COMPLETED / EXTERNALLY_TERMINATED), status (ours:
    running / completed / cancelled), started_at, ended_at, variables (plain values),
    typed_variables (name -> {type, value, valueInfo}, as GET /process-instance/{id}/variables),
    tasks, jobs (with due_at), timers (pending timer events with due_at), incidents, history.
    """
    with db.sessions()() as session:
        inst = session.get(Instance, instance_id)
        if inst is None:
            raise click.ClickException(f"No process instance {instance_id!r}.")
        open_tasks = session.scalars(
            select(UserTask).where(UserTask.instance_id == instance_id, UserTask.status == "open")
        ).all()
        jobs = session.scalars(select(Job).where(Job.instance_id == instance_id).order_by(Job.id)).all()
        timers = session.scalars(
            select(Timer)
            .where(Timer.instance_id == instance_id, Timer.status == "pending")
            .order_by(Timer.id)
        ).all()
        incidents_ = session.scalars(select(Incident).where(Incident.instance_id == instance_id)).all()
        history = session.scalars(
            select(HistoryEvent).where(HistoryEvent.instance_id == instance_id).order_by(HistoryEvent.id)
        ).all()
    types = inst.variable_types or {}
    data = {
        "id": inst.id,
        "definition_id": inst.definition_id,
        "definition_key": inst.definition_key,
        "business_key": inst.business_key,
        "state": INSTANCE_STATES.get(inst.status, inst.status.upper()),
        "status": inst.status,
        "started_at": inst.started_at,
        "ended_at": inst.ended_at,
        "variables": inst.variables,
        "typed_variables": {
            name: typed_values.encode(value, types.get(name))
            for name, value in sorted(inst.variables.items())
        },
        "tasks": [
            {
                "id": t.id,
                "name": t.name,
                "element_id": t.element_id,
                "assignee": t.assignee,
                "candidate_groups": t.candidate_groups,
            }
            for t in open_tasks
        ],
        "jobs": [
            {
                "id": j.id,
                "element_id": j.element_id,
                "topic": j.topic,
                "status": j.status,
                "due_at": j.due_at,
                "attempts": j.attempts,
                "retries": j.retries,
                "error": j.error,
            }
            for j in jobs
        ],
        "timers": [{"id": t.id, "element_id": t.element_id, "due_at": t.due_at} for t in timers],
        "incidents": [
            {"id": i.id, "element_id": i.element_id, "status": i.status, "message": i.message}
            for i in incidents_
        ],
        "history": [
            {"at": h.at, "kind": h.kind, "element_id": h.element_id, "user": h.user, "data": h.data}
            for h in history
        ],
    }
    lines = [
        f"Instance {inst.id}  {data['state']}  business key {inst.business_key or '-'}",
        f"Definition {inst.definition_id}",
        "Variables:",
    ]
    lines += [
        f"  {k} = {json.dumps(v['value'], ensure_ascii=False, default=str)} ({v['type']})"
        for k, v in data["typed_variables"].items()
    ]
    lines += ["Open tasks:"] + [
        f"  {t['id']} {t['name']} assignee={t['assignee'] or '-'}" for t in data["tasks"]
    ]
    lines += ["Timers:"] + [f"  {t['element_id']} due {t['due_at']}" for t in data["timers"]]
    lines += ["Incidents:"] + [
        f"  #{i['id']} {i['element_id']} {i['status']}: {i['message']}" for i in data["incidents"]
    ]
    lines += ["History:"] + [
        f"  {h['at']:%Y-%m-%d %H:%M:%S} {h['kind']:<22} {h['element_id'] or ''} {h['user'] or ''}"
        for h in data["history"]
    ]
    _emit(data, as_json, lines)


class MissingStartVariablesError(EngineError):
    """The process reads variables at start that nothing in it sets, and the caller did not pass them."""

    def __init__(self, key: str, missing: list[StartVariable]) -> None:
        self.key, self.missing = key, missing
        names = ", ".join(v.name for v in missing)
        example = " ".join(f"--var {v.name}=..." for v in missing)
        super().__init__(
            f"{key} needs the variable(s) {names} at start; nothing in the process sets them:\n"
            + "\n".join(f"  {v}" for v in missing)
            + f"\nPass them: flask --app web start {key} {example}"
        )


def _check_start_variables(key: str, variables: dict[str, Any]) -> None:
    from engine.handlers import topic_catalog
    from engine.start_contract import missing_start_variables

    runtime = _runtime()
    with db.sessions()() as session:
        definition = session.get(ProcessDefinition, runtime.latest_definition_id(session, key))
        missing = missing_start_variables(
            session, definition, variables, topic_catalog(current_app.extensions["handlers"])
        )
    if missing:
        raise MissingStartVariablesError(key, missing)


@click.command("tasks")
@click.option("--user", help="Tasks assigned to, or offered to, this user.")
@click.option("--group", "groups", multiple=True, help="Tasks offered to this candidate group.")
@click.option("--key", help="Process definition key.")
@click.option("--limit", default=50)
@click.option("--json", "as_json", is_flag=True)
def tasks(user: str | None, groups: tuple[str, ...], key: str | None, limit: int, as_json: bool) -> None:
    """List open user tasks (from the task projection; no workflow is loaded)."""
    with db.sessions()() as session:
        page = query_tasks(
            session, TaskQuery(user=user, groups=list(groups), definition_key=key, limit=limit)
        )
    data = [t.to_dict() for t in page.tasks]
    _emit(
        data,
        as_json,
        [
            f"{t['id']} {t['name']:<30} {t['business_key'] or '-':<14} assignee={t['assignee'] or '-'} "
            f"groups={','.join(t['candidate_groups'])}"
            for t in data
        ]
        + [f"({page.total} open)"],
    )


@click.command("claim")
@click.argument("task_id")
@click.option("--user", required=True)
def claim(task_id: str, user: str) -> None:
    """Claim a task for a user."""
    try:
        _runtime().claim(task_id, user)
    except EngineError as err:
        _fail(err)
    click.echo(f"Task {task_id} claimed by {user}")


@click.command("unclaim")
@click.argument("task_id")
@click.option("--user")
def unclaim(task_id: str, user: str | None) -> None:
    """Give a claimed task back to its candidates."""
    try:
        _runtime().unclaim(task_id, user)
    except EngineError as err:
        _fail(err)
    click.echo(f"Task {task_id} unclaimed")


@click.command("complete")
@click.argument("task_id")
@click.option("--user", required=True)
@click.option("--var", "pairs", multiple=True, help="name=value form data")
def complete(task_id: str, user: str, pairs: tuple[str, ...]) -> None:
    """Complete a user task with form data (names the task's fields when a --var is not one of them)."""
    from engine.forms import FormValidationError
    from service.tasks import complete_task

    variables = _parse_vars(pairs)
    try:
        complete_task(_runtime(), db.sessions(), _principal(user), task_id, variables)
    except (FormValidationError, UndeclaredVariablesError) as err:
        raise click.ClickException(f"{err} {_describe_fields(_runtime().task_form(task_id))}") from err
    except (EngineError, ServiceError) as err:
        _fail(err)
    click.echo(f"Task {task_id} completed by {user}")


def _describe_fields(form: FormSchema) -> str:
    fields = [
        f"{f.id} ({f.type}{', required' if f.required else ''})"
        for f in form.fields
        if not f.readonly and f.widget != "text"
    ]
    return f"Its fields: {', '.join(fields)}." if fields else "Its form has no fields to fill."


@click.command("correlate")
@click.argument("message")
@click.option("--business-key")
@click.option("--var", "pairs", multiple=True)
@click.option("--all", "all_instances", is_flag=True, help="Deliver to every waiting instance.")
@click.option("--json", "as_json", is_flag=True)
def correlate(
    message: str, business_key: str | None, pairs: tuple[str, ...], all_instances: bool, as_json: bool
) -> None:
    """Deliver a message (or start the process that begins with it)."""
    try:
        ids = _runtime().correlate(message, business_key, _parse_vars(pairs), all_instances=all_instances)
    except EngineError as err:
        _fail(err)
    _emit({"instances": ids}, as_json, [f"Message {message!r} delivered to {', '.join(ids)}"])


@click.command("set-var")
@click.argument("instance_id")
@click.option("--var", "pairs", multiple=True, required=True)
@click.option("--user")
def set_var(instance_id: str, pairs: tuple[str, ...], user: str | None) -> None:
    """Change variables of a running instance (audited in its history)."""
    try:
        _runtime().set_variables(instance_id, _parse_vars(pairs), user=user)
    except EngineError as err:
        _fail(err)
    click.echo(f"Variables of {instance_id} updated")


@click.command("cancel")
@click.argument("instance_id")
@click.option("--reason")
@click.option("--user")
def cancel(instance_id: str, reason: str | None, user: str | None) -> None:
    """Cancel a running instance."""
    from service.instances import cancel_instance

    try:
        cancel_instance(_runtime(), db.sessions(), _principal(user), instance_id, reason)
    except (EngineError, ServiceError) as err:
        _fail(err)
    click.echo(f"Instance {instance_id} cancelled")


@click.command("incidents")
@click.option("--all", "show_all", is_flag=True, help="Include resolved ones.")
@click.option("--json", "as_json", is_flag=True)
def incidents(show_all: bool, as_json: bool) -> None:
    """List incidents (failed jobs out of retries)."""
    with db.sessions()() as session:
        stmt = select(Incident).order_by(Incident.id)
        if not show_all:
            stmt = stmt.where(Incident.status == "open")
        rows = session.scalars(stmt).all()
    data = [
        {
            "id": i.id,
            "instance_id": i.instance_id,
            "element_id": i.element_id,
            "status": i.status,
            "message": i.message,
            "created_at": i.created_at,
        }
        for i in rows
    ]
    _emit(
        data,
        as_json,
        [f"#{d['id']} {d['status']:<8} {d['instance_id']} {d['element_id']}: {d['message']}" for d in data]
        + [f"({len(data)} incident{'' if len(data) == 1 else 's'})"],
    )


@click.command("retry")
@click.argument("incident_id", type=int)
@click.option("--user")
def retry(incident_id: int, user: str | None) -> None:
    """Resolve an incident and run its job again."""
    try:
        _runtime().retry_incident(incident_id, user=user)
    except EngineError as err:
        _fail(err)
    click.echo(f"Incident {incident_id} retried")
