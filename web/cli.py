"""`flask --app web …` commands: the engine from the command line, with --json for scripts."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from desk.models import ROLES, User
from engine.deploy import DeployError, deploy
from engine.element_templates import GuideMarkersError, topic_table, with_topic_table, write_templates
from engine.errors import EngineError
from engine.forms import FormValidationError
from engine.store import HistoryEvent, Incident, Instance, Job, ProcessDefinition, UserTask
from engine.tasklist import TaskQuery, query_tasks
from web import db
from web.health import health_command
from web.import_cli import import_group
from web.mail_cli import ingest_email, mail
from web.mail_poll import maybe_poll, start_polling
from web.outbox_cli import outbox_group
from web.queue import run_scheduler, worker_command
from web.views.processes import migrate_instances_cmd


def init_app(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)


def _runtime():
    return current_app.extensions["runtime"]


def _emit(data: Any, as_json: bool, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, default=str, indent=None))
    else:
        for line in lines:
            click.echo(line)


def _parse_vars(pairs: tuple[str, ...]) -> dict[str, Any]:
    """name=value pairs; values that read as JSON (true, 42, "x", [..]) keep their type."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise click.BadParameter(f"{pair!r} is not name=value", param_hint="--var")
        name, raw = pair.split("=", 1)
        try:
            out[name.strip()] = json.loads(raw)
        except ValueError:
            out[name.strip()] = raw
    return out


def _fail(err: Exception) -> None:
    raise click.ClickException(str(err))


@click.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    db.upgrade(current_app.config["DATABASE_URL"])
    click.echo(
        f"Database ready: {current_app.extensions['db_engine'].url.render_as_string(hide_password=True)}"
    )


def deploy_paths(paths: list[Path], name: str | None = None, source: str = "cli", user: str | None = None):
    """Deploy files (a .bpmn with the .form files beside it); shared by the CLI and the demo seed."""
    resources: dict[str, bytes] = {}
    for path in paths:
        if path.is_dir():
            for child in sorted(path.iterdir()):
                if child.suffix in {".bpmn", ".form"}:
                    resources[child.name] = child.read_bytes()
        else:
            resources[path.name] = path.read_bytes()
            for form in sorted(path.parent.glob("*.form")):
                if form.name not in resources and form.name.encode() in path.read_bytes():
                    resources[form.name] = form.read_bytes()
    return deploy(
        db.sessions(),
        resources,
        name=name or ", ".join(sorted(resources)),
        source=source,
        duplicate_filtering=True,
        allow_scripts=current_app.config["ALLOW_SCRIPT_TASKS"],
        known_topics=current_app.extensions["handlers"],
        user=user,
    )


@click.command("deploy")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--name", help="Deployment name (default: the file names).")
@click.option("--json", "as_json", is_flag=True)
def deploy_cmd(paths: tuple[Path, ...], name: str | None, as_json: bool) -> None:
    """Deploy BPMN files (each with the .form files it references); prints the report."""
    try:
        report = deploy_paths(list(paths), name=name)
    except DeployError as err:
        if as_json:
            click.echo(json.dumps({"errors": [str(p) for p in err.problems]}, ensure_ascii=False))
        raise click.ClickException(str(err)) from err
    data = {
        "deployment": report.deployment_id,
        "duplicate": report.duplicate,
        "definitions": [d.__dict__ for d in report.definitions],
        "warnings": [str(w) for w in report.warnings],
    }
    _emit(data, as_json, report.lines())


@click.command("element-templates")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write, e.g. bpmn/element-templates or the Modeler's resources/element-templates.",
)
@click.option(
    "--guide",
    "guides",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Also regenerate the topic table in this analyst guide (*.en.md is written in English).",
)
def element_templates_cmd(out_dir: Path, guides: tuple[Path, ...]) -> None:
    """Write a Camunda Modeler element template for every handler topic."""
    registry = current_app.extensions["handlers"]
    written = write_templates(registry, out_dir)
    click.echo(f"{len(written)} element templates written to {out_dir}")
    for guide in guides:
        language = "en" if guide.name.endswith(".en.md") else "ru"
        try:
            text = with_topic_table(guide.read_text(encoding="utf-8"), topic_table(registry, language))
        except GuideMarkersError as err:
            raise click.ClickException(f"{guide}: {err}") from err
        guide.write_text(text, encoding="utf-8")
        click.echo(f"topic table updated in {guide}")


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
    """Start the latest version of KEY."""
    try:
        result = _runtime().start(key, business_key, _parse_vars(pairs), user=user)
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


@click.command("instance")
@click.argument("instance_id")
@click.option("--json", "as_json", is_flag=True)
def instance(instance_id: str, as_json: bool) -> None:
    """Show one instance: state, variables, open tasks, jobs, incidents and history."""
    with db.sessions()() as session:
        inst = session.get(Instance, instance_id)
        if inst is None:
            raise click.ClickException(f"No process instance {instance_id!r}.")
        open_tasks = session.scalars(
            select(UserTask).where(UserTask.instance_id == instance_id, UserTask.status == "open")
        ).all()
        jobs = session.scalars(select(Job).where(Job.instance_id == instance_id).order_by(Job.id)).all()
        incidents_ = session.scalars(select(Incident).where(Incident.instance_id == instance_id)).all()
        history = session.scalars(
            select(HistoryEvent).where(HistoryEvent.instance_id == instance_id).order_by(HistoryEvent.id)
        ).all()
    data = {
        "id": inst.id,
        "definition_id": inst.definition_id,
        "business_key": inst.business_key,
        "status": inst.status,
        "started_at": inst.started_at,
        "ended_at": inst.ended_at,
        "variables": inst.variables,
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
            {"id": j.id, "topic": j.topic, "status": j.status, "attempts": j.attempts, "error": j.error}
            for j in jobs
        ],
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
        f"Instance {inst.id}  {inst.status}  business key {inst.business_key or '-'}",
        f"Definition {inst.definition_id}",
        "Variables:",
    ]
    lines += [
        f"  {k} = {json.dumps(v, ensure_ascii=False, default=str)}" for k, v in sorted(inst.variables.items())
    ]
    lines += ["Open tasks:"] + [
        f"  {t['id']} {t['name']} assignee={t['assignee'] or '-'}" for t in data["tasks"]
    ]
    lines += ["Incidents:"] + [
        f"  #{i['id']} {i['element_id']} {i['status']}: {i['message']}" for i in data["incidents"]
    ]
    lines += ["History:"] + [
        f"  {h['at']:%Y-%m-%d %H:%M:%S} {h['kind']:<22} {h['element_id'] or ''} {h['user'] or ''}"
        for h in data["history"]
    ]
    _emit(data, as_json, lines)


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
    """Complete a user task with form data."""
    try:
        _runtime().complete(task_id, user, _parse_vars(pairs))
    except FormValidationError as err:
        raise click.ClickException(str(err)) from err
    except EngineError as err:
        _fail(err)
    click.echo(f"Task {task_id} completed by {user}")


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
    try:
        _runtime().cancel(instance_id, user=user, reason=reason)
    except EngineError as err:
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
        [f"#{d['id']} {d['status']:<8} {d['instance_id']} {d['element_id']}: {d['message']}" for d in data],
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


@click.command("worker")
@click.option("--once", is_flag=True, help="Run due jobs and timers once, then exit.")
@click.option("--interval", default=1.0, help="Seconds between polls when idle.")
def worker(once: bool, interval: float) -> None:
    """Run due jobs and due timers in a loop (the embedded scheduler)."""
    runtime = _runtime()
    stopping = False

    def stop(*_args: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"Worker {runtime.worker_id} polling every {interval}s (Ctrl+C to stop)")
    while not stopping:
        done = runtime.run_due_jobs() + runtime.fire_due_timers() + maybe_poll(current_app)
        done += current_app.extensions["outbox"].run_pass().work  # notifications (web/outbox.py)
        if once:
            click.echo(f"{done} job(s)/timer(s) processed")
            return
        if not done:
            time.sleep(interval)


@click.command("demo")
def demo() -> None:
    """Seed demo users (one per role, password "demo"), rules, clients and sample requests; idempotent."""
    from web.demo import seed_demo

    for line in seed_demo():
        click.echo(line)
    click.echo(
        "Log in at http://127.0.0.1:5000 as operator, dispatcher, manager, executor, approver, analyst "
        "or admin (password: demo)."
    )


@click.command("create-user")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--role", "roles", multiple=True, type=click.Choice(list(ROLES)))
@click.option("--group", "groups", multiple=True)
@click.option("--name", "full_name", default="")
@click.option("--email")
def create_user_cmd(
    username: str,
    password: str,
    roles: tuple[str, ...],
    groups: tuple[str, ...],
    full_name: str,
    email: str | None,
) -> None:
    """Create (or update) a staff account."""
    from web.demo import create_user

    create_user(username, password, full_name=full_name, roles=list(roles), groups=list(groups), email=email)
    click.echo(f"User {username} saved with roles {', '.join(roles) or '-'}")


@click.command("scheduler")
@click.option("--interval", default=1.0, help="Seconds between scans.")
@click.option("--lock-ttl", type=float, help="Seconds the active scheduler's lock lasts (10 x interval).")
@click.option("--resend-after", type=float, help="Seconds before a job's message is sent again (60).")
@click.option("--once", is_flag=True)
def scheduler(interval: float, lock_ttl: float | None, resend_after: float | None, once: bool) -> None:
    """Send due jobs and timers to RQ workers (scale-out); only the lock holder works, so two are safe."""
    start_polling(current_app._get_current_object())  # IMAP, when IMAP_HOST is set
    run_scheduler(current_app._get_current_object(), interval, once, lock_ttl, resend_after)


@click.command("create-token")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for (e.g. 'PBX webhook', 'billing worker').")
def create_token(username: str, name: str) -> None:
    """Issue a bearer API token for USERNAME (printed once; only its hash is stored)."""
    from web.auth import issue_token

    with db.sessions()() as session, session.begin():
        if session.scalars(select(User).where(User.username == username)).first() is None:
            raise click.ClickException(
                f"No user {username!r}; create it first with `flask --app web create-user`."
            )
        token = issue_token(session, name=name, username=username, now=_runtime().now())
    click.echo(token)


COMMANDS = (
    init_db,
    deploy_cmd,
    definitions,
    start,
    instances,
    instance,
    tasks,
    claim,
    unclaim,
    complete,
    correlate,
    incidents,
    retry,
    worker,
    set_var,
    cancel,
    demo,
    create_user_cmd,
    scheduler,
    create_token,
    worker_command,
    health_command,
    ingest_email,
    mail,
    import_group,
    outbox_group,
    migrate_instances_cmd,
    element_templates_cmd,
)
for _command in COMMANDS:
    _command.callback = with_appcontext(_command.callback)
