"""`flask --app web …` commands: the engine from the command line, with --json for scripts."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import click
from flask import current_app
from sqlalchemy import select

from desk.models import ROLES, User
from engine.store import ProcessDefinition
from service.permissions import DEFAULT, PERSON_ACT_MESSAGES, SCOPES, parse_scopes
from web import db
from web.cli_support import _emit, _runtime

__all__ = ["deploy_paths"]


@click.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    db.upgrade(current_app.config["DATABASE_URL"])
    click.echo(
        f"Database ready: {current_app.extensions['db_engine'].url.render_as_string(hide_password=True)}"
    )


def deploy_paths(paths: list[Path], name: str | None = None, source: str = "cli", user: str | None = None):
    """Deploy files (a .bpmn with the .form files beside it); shared by the CLI and the demo seed.

    A folder deploys its diagrams, forms and decision tables (.dmn) together; a lone .form
    or .dmn deploys on its own, as Camunda accepts it.
    """
    from engine.definitions import is_bpmn_name
    from engine.deploy import deploy

    resources: dict[str, bytes] = {}
    for path in paths:
        if path.is_dir():
            for child in sorted(path.iterdir()):
                if is_bpmn_name(child.name) or child.suffix.lower() in {".form", ".dmn"}:
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
        now=current_app.extensions["runtime"].now(),
        default_history_ttl=current_app.config["HISTORY_TIME_TO_LIVE"],
    )


@click.command("deploy")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--name", help="Deployment name (default: the file names).")
@click.option("--json", "as_json", is_flag=True)
def deploy_cmd(paths: tuple[Path, ...], name: str | None, as_json: bool) -> None:
    """Deploy BPMN files (each with the .form files it references); prints the report."""
    from engine.deploy import DeployError

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
        "decisions": [d.__dict__ for d in report.decisions],
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
    from engine.element_templates import GuideMarkersError, topic_table, with_topic_table, write_templates

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


@click.command("worker")
@click.option("--once", is_flag=True, help="Run due jobs and timers once, then exit.")
@click.option("--interval", default=1.0, help="Seconds between polls when idle.")
def worker(once: bool, interval: float) -> None:
    """Run due jobs and due timers in a loop (the embedded scheduler)."""
    from web import retention
    from web.mail_poll import maybe_poll

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
        done += retention.worker_tick(current_app._get_current_object())  # in its batch window
        if once:
            click.echo(f"{done} job(s)/timer(s) processed")
            return
        if not done:
            time.sleep(interval)


@click.command("demo")
def demo() -> None:
    """Seed demo users (one per role, password "demo"), rules, clients and sample requests; idempotent."""
    from web.demo import seed_demo

    with db.sessions()() as session:
        deployed = set(session.scalars(select(ProcessDefinition.key).distinct()))
    if "service_request" not in deployed:
        raise click.ClickException(
            "Nothing to seed the sample requests into: service_request is not deployed"
            + (f" (deployed: {', '.join(sorted(deployed))})" if deployed else "")
            + ". Deploy the diagrams first: flask --app web deploy bpmn/"
        )
    for line in seed_demo(history=True):
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
    from web.mail_poll import start_polling
    from web.queue import run_scheduler

    start_polling(current_app._get_current_object())  # IMAP, when IMAP_HOST is set
    run_scheduler(current_app._get_current_object(), interval, once, lock_ttl, resend_after)


@click.command("create-token")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for (e.g. 'PBX webhook', 'billing worker').")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help=f"What it may do: {', '.join(SCOPES)}, or engine:worker:TOPIC (repeat for several).",
)
def create_token(username: str, name: str, scopes: tuple[str, ...]) -> None:
    """Issue a bearer API token for USERNAME (printed once; only its hash is stored)."""
    try:
        parse_scopes(scopes)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--scope") from err
    from web.auth import issue_token

    with db.sessions()() as session, session.begin():
        if session.scalars(select(User).where(User.username == username)).first() is None:
            raise click.ClickException(
                f"No user {username!r}; create it first with `flask --app web create-user`."
            )
        token = issue_token(session, name=name, username=username, now=_runtime().now(), scopes=scopes)
    click.echo(token)


@click.command("permissions")
@click.option("--json", "as_json", is_flag=True)
def permissions(as_json: bool) -> None:
    """Print the permission matrix: resource, permission, who holds it (the same as /admin/permissions)."""
    rows = DEFAULT.rows()
    _emit(
        {"permissions": rows, "scopes": dict(SCOPES), "personActMessages": sorted(PERSON_ACT_MESSAGES)},
        as_json,
        [
            f"{r['resource']}.{r['permission']}"
            + (f" [{r['resourceId']}]" if r["resourceId"] != "*" else "")
            + f": {', '.join(r['grantedTo'])}"
            for r in rows
        ],
    )
