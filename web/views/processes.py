"""Cockpit-like process admin: definitions and versions with counts, a definition's diagram with
per-element counts, instances (diagram, variables with an audited edit, history, incidents,
cancel), the deploy page, starting an instance from its start form, and migrating instances
between versions (dry run, then a batch the page polls). Also `flask --app web migrate-instances`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from pathlib import PurePath
from typing import Any

import click
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from sqlalchemy import distinct, func, select, union
from sqlalchemy.orm import Session

from desk import reports as desk_reports
from engine import element_stats
from engine.admin_store import VariableAudit, VariableEditError, edit_variable
from engine.definitions import is_bpmn_name
from engine.deploy import DeployError, deploy
from engine.diagram import DiagramError, render_svg
from engine.dmn.parse import is_dmn_name
from engine.errors import EngineError
from engine.forms import FormSchema, FormValidationError
from engine.migration import (
    MigrationError,
    batch_status,
    create_batch,
    dry_run,
    parse_mapping,
    plan,
    run_batch,
    running_instance_ids,
)
from engine.store import (
    DecisionDefinition,
    DecisionInstance,
    HistoryEvent,
    Incident,
    Instance,
    InstanceStatus,
    Job,
    MessageSubscription,
    ProcessDefinition,
    Resource,
    Timer,
    UserTask,
)
from service.instances import cancel_instance, may_read_instance
from service.permissions import may
from web.i18n import translate
from web.labels import code_label, process_label
from web.security import checks_permission, current_principal, permission_required

log = logging.getLogger(__name__)

bp = Blueprint("processes", __name__, url_prefix="/processes")

UPLOAD_SUFFIXES = (".bpmn", ".bpmn20.xml", ".bpmn.xml", ".form", ".dmn", ".dmn11.xml")


def _runtime():
    return current_app.extensions["runtime"]


def _sessions():
    return current_app.extensions["sessions"]


# --------------------------------------------------------------------------- definitions


@bp.get("/")
@permission_required("read", "process_instance")
def index() -> ResponseReturnValue:
    key = request.args.get("key") or None
    status = request.args.get("status") or None
    with _sessions()() as session:
        definitions = session.scalars(
            select(ProcessDefinition).order_by(ProcessDefinition.key, ProcessDefinition.version.desc())
        ).all()
        counts = _version_counts(session)
        stmt = select(Instance).order_by(Instance.started_at.desc()).limit(100)
        if key:
            stmt = stmt.where(Instance.definition_key == key)
        if status:
            stmt = stmt.where(Instance.status == status)
        instances = session.scalars(stmt).all()
        open_incidents = session.scalars(
            select(Incident).where(Incident.status == "open").order_by(Incident.id)
        ).all()
    by_key: dict[str, list[ProcessDefinition]] = defaultdict(list)
    for definition in definitions:
        by_key[definition.key].append(definition)
    return render_template(
        "processes.html",
        by_key=by_key,
        counts=counts,
        instances=instances,
        open_incidents=open_incidents,
        version_of={d.id: d.version for d in definitions},
        key=key,
        status=status,
    )


def _version_counts(session: Session) -> dict[str, dict[str, int]]:
    """Definition id -> running, finished and open-incident counts."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"running": 0, "finished": 0, "incidents": 0})
    for definition_id, status, n in session.execute(
        select(Instance.definition_id, Instance.status, func.count()).group_by(
            Instance.definition_id, Instance.status
        )
    ):
        counts[definition_id]["running" if status == InstanceStatus.RUNNING.value else "finished"] += n
    for definition_id, n in session.execute(
        select(Instance.definition_id, func.count())
        .join(Incident, Incident.instance_id == Instance.id)
        .where(Incident.status == "open")
        .group_by(Instance.definition_id)
    ):
        counts[definition_id]["incidents"] = n
    return counts


@bp.get("/definitions/<definition_id>")
@permission_required("read", "process_instance")
def definition(definition_id: str) -> ResponseReturnValue:
    with _sessions()() as session:
        row = session.get(ProcessDefinition, definition_id)
        if row is None:
            abort(404)
        active, incidents = _element_counts(session, definition_id)
        instances = session.execute(  # the listed columns only: not 100 serialized workflows
            select(Instance.id, Instance.business_key, Instance.status, Instance.started_at)
            .where(Instance.definition_id == definition_id)
            .order_by(Instance.started_at.desc())
            .limit(100)
        ).all()
        versions = session.scalars(
            select(ProcessDefinition)
            .where(ProcessDefinition.key == row.key)
            .order_by(ProcessDefinition.version.desc())
        ).all()
        xml = _resource(session, row)
        times = _element_times(session, definition_id)
    # After the read's transaction: on SQLite even a read holds the write lock (BEGIN IMMEDIATE).
    element_stats.compact_if_crowded(current_app.extensions["db_engine"], definition_id)
    states = {element: "active" for element in active}
    states.update({element: "failed" for element in incidents})
    elements = sorted(set(active) | set(incidents))
    intensity = desk_reports.heat(times)
    heat = {e: (intensity[e], _duration_text(t.average_minutes)) for e, t in times.items()}
    return render_template(
        "definition.html",
        definition=row,
        versions=versions,
        instances=instances,
        elements=elements,
        active=active,
        incidents=incidents,
        times=sorted(times.values(), key=lambda t: -t.average_minutes),
        duration_text=_duration_text,
        diagram=_diagram(xml, row.key, states, active, heat),
    )


def _element_times(session: Session, definition_id: str) -> dict[str, desk_reports.ElementTime]:
    """Per user-task element: tasks and their average minutes there, from the version's counters.

    An open task counts until now. `element_stat` (migration 0020) holds a few rows per element,
    so the page no longer reads the version's tasks.
    """
    sums = element_stats.read(session, definition_id, _runtime().now())
    return desk_reports.element_times_from_sums(sums.times)


def _duration_text(minutes: float) -> str:
    """4 h 30 min / 25 min / 2 d 3 h, in the reader's language (wall-clock time)."""
    days, rest = divmod(round(minutes), 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} {translate('d')} {hours} {translate('h')}"
    if hours:
        return f"{hours} {translate('h')} {mins} {translate('min')}"
    return f"{mins} {translate('min')}"


def _element_counts(session: Session, definition_id: str) -> tuple[dict[str, int], dict[str, int]]:
    """Element id -> running instances waiting there, and -> open incidents, from the projections.

    Instances waiting at user tasks come from the version's counters (`element_stat`, kept by
    triggers on `user_task`), which count every instance; the few instances of this version that
    are no longer running but still have open tasks (`ix_instance_not_running`) are taken off,
    as their (element, instance) pairs. Jobs, timers and message waits are few and sit on other
    elements than user tasks, so their counts are added per element.
    """
    counts = element_stats.read(session, definition_id, _runtime().now()).waiting
    finished_waiting = session.execute(
        select(UserTask.element_id, func.count(distinct(UserTask.instance_id)))
        .join(Instance, Instance.id == UserTask.instance_id)
        .where(
            Instance.definition_id == definition_id,
            Instance.status != InstanceStatus.RUNNING.value,
            UserTask.definition_id == definition_id,
            UserTask.status == "open",
        )
        .group_by(UserTask.element_id)
    ).all()
    for element_id, waiting in finished_waiting:
        counts[element_id] = counts.get(element_id, 0) - waiting
        if not counts[element_id]:
            del counts[element_id]
    others, incidents = waits_beside_tasks(session, definition_id)
    for element_id, waiting in others.items():
        counts[element_id] = counts.get(element_id, 0) + waiting
    return counts, incidents


def waits_beside_tasks(session: Session, definition_id: str) -> tuple[dict[str, int], dict[str, int]]:
    """Running instances waiting at jobs, timers and messages, per element, and open incidents per
    element: few rows, counted live (the user tasks come from the counters)."""
    running = (Instance.definition_id == definition_id) & (Instance.status == InstanceStatus.RUNNING.value)
    sources = (
        (Job, Job.status.in_(["pending", "locked", "failed"])),
        (Timer, Timer.status == "pending"),
        (MessageSubscription, MessageSubscription.status == "waiting"),
    )
    pairs = [
        select(model.element_id, model.instance_id)
        .join(Instance, Instance.id == model.instance_id)
        .where(running, condition)
        for model, condition in sources
    ]
    both = union(*pairs).subquery()
    counts = dict(session.execute(select(both.c.element_id, func.count()).group_by(both.c.element_id)).all())
    incidents = dict(
        session.execute(
            select(Incident.element_id, func.count())
            .join(Instance, Instance.id == Incident.instance_id)
            .where(Instance.definition_id == definition_id, Incident.status == "open")
            .group_by(Incident.element_id)
        ).all()
    )
    return counts, incidents


def _resource(session: Session, definition: ProcessDefinition) -> bytes | None:
    return session.scalars(
        select(Resource.content).where(
            Resource.deployment_id == definition.deployment_id, Resource.name == definition.resource_name
        )
    ).first()


def _diagram(
    xml: bytes | None,
    process_id: str,
    states: dict[str, str],
    counts: dict[str, int] | None = None,
    heat: dict[str, tuple[float, str]] | None = None,
) -> str | None:
    try:
        return (
            render_svg(xml, process_id=process_id, states=states, counts=counts, heat=heat) if xml else None
        )
    except DiagramError as err:
        log.warning("diagram of %s cannot be drawn: %s", process_id, err)
        return None


# --------------------------------------------------------------------------- instances


@bp.get("/instances/<instance_id>")
@login_required
@checks_permission("read", "process_instance")
def instance(instance_id: str) -> ResponseReturnValue:
    with _sessions()() as session:
        inst = session.get(Instance, instance_id)
        if inst is None:
            abort(404)
        if not may_read_instance(session, current_principal(), inst):
            abort(403)
    return _instance_page(instance_id)


def _instance_page(
    instance_id: str, edit_error: str | None = None, edit: dict[str, str] | None = None
) -> str:
    with _sessions()() as session:
        inst = session.get(Instance, instance_id)
        if inst is None:
            abort(404)
        definition_row = session.get(ProcessDefinition, inst.definition_id)
        xml = _resource(session, definition_row)
        history = session.scalars(
            select(HistoryEvent).where(HistoryEvent.instance_id == instance_id).order_by(HistoryEvent.id)
        ).all()
        incidents = session.scalars(
            select(Incident).where(Incident.instance_id == instance_id).order_by(Incident.id)
        ).all()
        audit = session.scalars(
            select(VariableAudit)
            .where(VariableAudit.instance_id == instance_id)
            .order_by(VariableAudit.id.desc())
        ).all()
        evaluations = session.execute(
            select(DecisionInstance, DecisionDefinition.version, DecisionDefinition.name)
            .join(DecisionDefinition, DecisionDefinition.id == DecisionInstance.decision_definition_id)
            .where(DecisionInstance.instance_id == instance_id)
            .order_by(DecisionInstance.evaluated_at, DecisionInstance.id)
        ).all()
    return render_template(
        "instance.html",
        inst=inst,
        definition=definition_row,
        history=history,
        incidents=incidents,
        audit=audit,
        evaluations=evaluations,
        variables={k: json.dumps(v, ensure_ascii=False) for k, v in sorted((inst.variables or {}).items())},
        can_admin=may(current_principal(), "update_variables", "process_instance"),
        edit_error=edit_error,
        edit=edit or {},
        diagram=_diagram(xml, definition_row.key, _runtime().active_elements(instance_id)),
    )


@bp.post("/instances/<instance_id>/variables")
@permission_required("update_variables", "process_instance")
def set_variable(instance_id: str) -> ResponseReturnValue:
    name, raw = request.form.get("name", ""), request.form.get("value", "")
    try:
        edit_variable(_runtime(), instance_id, name, raw, user=current_user.username)
    except VariableEditError as err:
        return _instance_page(instance_id, str(err), {"name": name, "value": raw}), 400
    except EngineError as err:
        flash(str(err), "error")
        return redirect(url_for("processes.instance", instance_id=instance_id)), 303
    flash(translate("Variable %s saved.") % name.strip())
    return redirect(url_for("processes.instance", instance_id=instance_id))


@bp.post("/instances/<instance_id>/cancel")
@permission_required("cancel", "process_instance")
def cancel(instance_id: str) -> ResponseReturnValue:
    try:
        cancel_instance(
            _runtime(), _sessions(), current_principal(), instance_id, request.form.get("reason") or None
        )
        flash(translate("Instance %s cancelled.") % instance_id)
    except EngineError as err:
        flash(str(err), "error")
    return redirect(url_for("processes.instance", instance_id=instance_id))


@bp.post("/incidents/<int:incident_id>/retry")
@permission_required("retry", "incident")
def retry(incident_id: int) -> ResponseReturnValue:
    with _sessions()() as session:
        incident = session.get(Incident, incident_id)
        instance_id = incident.instance_id if incident is not None else None
    try:
        _runtime().retry_incident(incident_id, user=current_user.username)
        flash(translate("Incident %s retried.") % incident_id)
    except EngineError as err:
        flash(str(err), "error")
    if request.form.get("back") == "instance" and instance_id:
        return redirect(url_for("processes.instance", instance_id=instance_id))
    return redirect(url_for("processes.index"))


# --------------------------------------------------------------------------- deploy


@bp.route("/deploy", methods=["GET", "POST"])
@permission_required("create", "deployment")
def deploy_page() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("deploy.html", report=None, problems=[], warnings=[], error=None)
    resources: dict[str, bytes] = {}
    for upload in request.files.getlist("files"):
        if not upload or not upload.filename:
            continue
        name = PurePath(upload.filename.replace("\\", "/")).name
        if not name.lower().endswith(UPLOAD_SUFFIXES):
            return _deploy_refused(
                translate("%s: only .bpmn diagrams, .dmn decisions and .form files can be deployed here.")
                % name
            )
        resources[name] = upload.read()
    if not any(is_bpmn_name(name) or is_dmn_name(name) for name in resources):
        return _deploy_refused(
            translate("Choose at least one .bpmn or .dmn file (with the .form files it uses).")
        )
    try:
        report = deploy(
            _sessions(),
            resources,
            name=request.form.get("name") or ", ".join(sorted(resources)),
            source="web",
            duplicate_filtering=True,
            allow_scripts=current_app.config["ALLOW_SCRIPT_TASKS"],
            known_topics=current_app.extensions["handlers"].topics(),
            user=current_user.username,
            default_history_ttl=current_app.config["HISTORY_TIME_TO_LIVE"],
        )
    except DeployError as err:
        return render_template(
            "deploy.html", report=None, problems=err.problems, warnings=err.warnings, error=None
        ), 400
    return render_template("deploy.html", report=report, problems=[], warnings=report.warnings, error=None)


def _deploy_refused(message: str) -> ResponseReturnValue:
    return render_template("deploy.html", report=None, problems=[], warnings=[], error=message), 400


# --------------------------------------------------------------------------- start


@bp.get("/start")
@permission_required("start", "process_definition")
def start_index() -> ResponseReturnValue:
    with _sessions()() as session:
        rows = session.scalars(
            select(ProcessDefinition)
            .where(ProcessDefinition.suspended.is_(False))
            .order_by(ProcessDefinition.key, ProcessDefinition.version.desc())
        ).all()
    latest: dict[str, ProcessDefinition] = {}
    for row in rows:
        latest.setdefault(row.key, row)
    return render_template("start.html", definitions=list(latest.values()), definition=None)


@bp.route("/definitions/<definition_id>/start", methods=["GET", "POST"])
@permission_required("start", "process_definition")
def start(definition_id: str) -> ResponseReturnValue:
    with _sessions()() as session:
        row = session.get(ProcessDefinition, definition_id)
    if row is None:
        abort(404)
    form = FormSchema.from_dict(row.start_form)
    if request.method == "GET":
        return render_template("start.html", definition=row, form=form, values={}, errors={})
    data = {k: v for k, v in request.form.items() if k not in ("csrf_token", "business_key")}
    for form_field in form.fields:
        if form_field.type == "boolean" and form_field.id not in data:
            data[form_field.id] = "false"
    business_key = request.form.get("business_key", "").strip() or None
    try:
        started = _runtime().start(
            definition_id=definition_id, business_key=business_key, variables=data, user=current_user.username
        )
    except FormValidationError as err:
        return render_template("start.html", definition=row, form=form, values=data, errors=err.errors), 400
    except EngineError as err:
        flash(str(err), "error")
        return render_template("start.html", definition=row, form=form, values=data, errors={}), 400
    flash(
        translate("Started %(process)s v%(version)s: %(status)s.")
        % {
            "process": process_label(row.key),
            "version": row.version,
            "status": code_label(started.status, "status"),
        }
    )
    return redirect(url_for("processes.instance", instance_id=started.id))


# --------------------------------------------------------------------------- migration


@bp.route("/migrate", methods=["GET", "POST"])
@permission_required("migrate", "process_instance")
def migrate() -> ResponseReturnValue:
    source_id = request.values.get("source") or None
    target_id = request.values.get("target") or None
    mapping_text = request.values.get("mapping", "")
    with _sessions()() as session:
        definitions = session.scalars(
            select(ProcessDefinition).order_by(ProcessDefinition.key, ProcessDefinition.version.desc())
        ).all()
        counts = _version_counts(session)
    context: dict[str, Any] = {
        "definitions": definitions,
        "counts": counts,
        "source": source_id,
        "target": target_id,
        "mapping": mapping_text,
        "report": None,
        "error": None,
        "batch": None,
        "suggestions": suggested_migrations(definitions, counts),
    }
    if request.method == "GET" or not (source_id and target_id):
        if request.method == "POST":
            context["error"] = "Choose the version to migrate from and the version to migrate to."
            return render_template("migration.html", **context), 400
        return render_template("migration.html", **context)
    runtime = _runtime()
    try:
        with _sessions()() as session:
            migration = plan(
                runtime.definition(session, source_id),
                runtime.definition(session, target_id),
                parse_mapping(mapping_text.splitlines()),
            )
            report = dry_run(session, migration)
    except EngineError as err:
        context["error"] = str(err)
        return render_template("migration.html", **context), 400
    if request.form.get("action") != "run":
        context["report"] = report
        return render_template("migration.html", **context)
    batch_id = create_batch(
        runtime.session_factory,
        migration,
        [r.instance_id for r in report.instances],
        user=current_user.username,
        now=runtime.now(),
    )
    _start_batch(current_app._get_current_object(), batch_id, current_user.username)
    return redirect(url_for("processes.migration_batch", batch_id=batch_id))


def suggested_migrations(
    definitions: list[ProcessDefinition], counts: dict[str, dict[str, int]]
) -> list[tuple[ProcessDefinition, ProcessDefinition, int]]:
    """(old version, latest version, running) for every older version that still has running instances.

    A changed process (service_request's new-client path) leaves its running instances on the
    version they started with; the page offers the move to the latest version with one click,
    ids matching by default (renamed elements go in the mapping box).
    """
    latest: dict[str, ProcessDefinition] = {}
    for d in definitions:
        if d.key not in latest or d.version > latest[d.key].version:
            latest[d.key] = d
    offered = []
    for d in definitions:
        running = counts.get(d.id, {}).get("running", 0)
        if running and d.id != latest[d.key].id:
            offered.append((d, latest[d.key], running))
    return offered


def _start_batch(app: Flask, batch_id: int, user: str) -> None:
    """Run the batch beside the request; the page polls its row, so the request returns at once."""
    runtime = app.extensions["runtime"]

    def work() -> None:
        try:
            run_batch(runtime, batch_id, user=user)
        except Exception:  # the thread has no caller to tell; the batch row stays "running"
            log.exception("migration batch %s stopped", batch_id)

    threading.Thread(target=work, name=f"migration-batch-{batch_id}", daemon=True).start()


@bp.get("/migrations/<int:batch_id>")
@permission_required("migrate", "process_instance")
def migration_batch(batch_id: int) -> ResponseReturnValue:
    with _sessions()() as session:
        try:
            status = batch_status(session, batch_id)
        except MigrationError:
            abort(404)
    response = make_response(
        render_template("migration.html", batch=status, report=None, error=None, definitions=[])
    )
    if not status["finished"]:
        response.headers["Refresh"] = (
            "1"  # the page polls the batch row; no script (the CSP allows none inline)
        )
    return response


@bp.get("/migrations/<int:batch_id>.json")
@permission_required("migrate", "process_instance")
def migration_batch_json(batch_id: int) -> ResponseReturnValue:
    with _sessions()() as session:
        try:
            return jsonify(batch_status(session, batch_id))
        except MigrationError:
            abort(404)


# --------------------------------------------------------------------------- CLI


def _definition_ref(session: Session, ref: str) -> str:
    """KEY:N (or a definition id) -> the definition id, with the versions that exist when it does not."""
    row = session.get(ProcessDefinition, ref)
    if row is not None:
        return row.id
    key, _, version = ref.rpartition(":")
    if key and version.isdigit():
        row = session.scalars(
            select(ProcessDefinition).where(
                ProcessDefinition.key == key, ProcessDefinition.version == int(version)
            )
        ).first()
        if row is not None:
            return row.id
    versions = session.scalars(
        select(ProcessDefinition.version)
        .where(ProcessDefinition.key == (key or ref))
        .order_by(ProcessDefinition.version)
    ).all()
    known = f"; {key or ref} has versions {', '.join(map(str, versions))}" if versions else ""
    raise click.ClickException(f"No process definition {ref!r} (write KEY:VERSION){known}.")


@click.command("migrate-instances")
@click.option("--from", "source_ref", required=True, help="KEY:VERSION the instances run on now.")
@click.option("--to", "target_ref", required=True, help="KEY:VERSION to move them to.")
@click.option("--map", "pairs", multiple=True, help="old_id=new_id for a renamed element (repeatable).")
@click.option(
    "--instance", "instance_ids", multiple=True, help="Only these instances (default: all running)."
)
@click.option("--dry-run", "dry_run_only", is_flag=True, help="Report what cannot migrate; change nothing.")
@click.option("--user", default=None, help="Recorded in the history as who migrated.")
@click.option("--json", "as_json", is_flag=True)
def migrate_instances_cmd(
    source_ref: str,
    target_ref: str,
    pairs: tuple[str, ...],
    instance_ids: tuple[str, ...],
    dry_run_only: bool,
    user: str | None,
    as_json: bool,
) -> None:
    """Migrate running instances from one definition version to another (each in its own transaction)."""
    runtime = _runtime()
    try:
        with _sessions()() as session:
            migration = plan(
                runtime.definition(session, _definition_ref(session, source_ref)),
                runtime.definition(session, _definition_ref(session, target_ref)),
                parse_mapping(pairs),
            )
            ids = list(instance_ids) or running_instance_ids(session, migration.source.id)
            report = dry_run(session, migration, ids)
    except EngineError as err:
        raise click.ClickException(str(err)) from err
    if dry_run_only:
        _echo(report.to_dict(), as_json, report.lines())
        return
    batch_id = create_batch(runtime.session_factory, migration, ids, user=user, now=runtime.now())
    run_batch(runtime, batch_id, user=user)
    with _sessions()() as session:
        status = batch_status(session, batch_id)
    lines = [
        f"Batch {batch_id} {migration.source.key} v{migration.source.version} -> "
        f"{migration.target.key} v{migration.target.version}: {status['done']} migrated, "
        f"{status['failed']} failed, {status['skipped']} skipped of {status['total']}"
    ] + [f"  {p['instance_id']} {p['status']}: {p['reason']}" for p in status["problems"]]
    _echo(status, as_json, lines)


def _echo(data: Any, as_json: bool, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, default=str))
    else:
        for line in lines:
            click.echo(line)
