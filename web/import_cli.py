"""`flask --app web import …`: load legacy exports into staging, run them into the desk, inspect failures."""

from __future__ import annotations

import csv
import gc
import json
import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from tqdm import tqdm

from desk.crm import CLOSED_STATUSES
from desk.legacy import runner
from desk.legacy.errors import LegacyImportError
from desk.legacy.loader import load_file
from desk.legacy.mapping import MAPPED_FIELDS, check_mapping, normalize_key
from desk.legacy.store import KINDS, LegacyFile, LegacyMapping, RowStatus, StagingRow
from desk.models import Request
from engine.store import Instance, TaskStatus, UserTask
from web.i18n import translate
from web.intake import PROCESS_KEY


@click.group("import", cls=AppGroup)
def import_group() -> None:
    """Import history from a legacy system: load files into staging, run them in resumable batches."""


KIND = click.Choice(KINDS)
DISPATCH_TASK = "Task_Dispatch"
_PAST_DISPATCH = ("assigned", "in_progress", "waiting")


def _engine():
    return current_app.extensions["db_engine"]


def _now():
    return current_app.extensions["runtime"].now()


@import_group.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kind", type=KIND, required=True, help="What the file holds.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), help="Default: detected.")
@click.option("--encoding", help="utf-8 or cp1251 (default: detected).")
@click.option("--delimiter", help="CSV delimiter ';', ',' or 'tab' (default: detected).")
@click.option("--id-column", help="Column holding the external id (default: ID, Номер, …).")
def load(
    path: Path, kind: str, fmt: str | None, encoding: str | None, delimiter: str | None, id_column: str | None
):
    """Copy FILE (CSV or JSON Lines) into the staging table as NEW rows; safe to rerun."""
    with tqdm(desc="load", unit=" rows", disable=None, file=sys.stderr) as bar:
        try:
            report = load_file(
                _engine(),
                path,
                kind,
                now=_now(),
                format=fmt,
                encoding=encoding,
                delimiter="\t" if delimiter == "tab" else delimiter,
                id_column=id_column,
                progress=bar.update,
            )
        except LegacyImportError as err:
            raise click.ClickException(str(err)) from err
    f = report.format
    shape = f"{f.format}, {f.encoding}" + (f", delimiter {f.delimiter!r}" if f.delimiter else "")
    click.echo(
        f"Loaded {report.name} ({shape}, id column {report.id_column!r}) as {kind}: "
        f"{report.staged_now} rows staged now, {report.staged_total} in the file, {report.seconds:.1f} s"
    )


@import_group.command("run")
@click.option("--batch", "batch_rows", default=runner.BATCH_ROWS, show_default=True, type=click.IntRange(1))
@click.option("--kind", "kinds", type=KIND, multiple=True, help="Only these kinds (default: all, in order).")
@click.option("--start-open", is_flag=True, help="Start service_request for imported open requests.")
def run_cmd(batch_rows: int, kinds: tuple[str, ...], start_open: bool) -> None:
    """Import every NEW staging row in batches (each batch one transaction); killed, it resumes."""
    _run(batch_rows, kinds or KINDS, start_open)


@import_group.command("retry-failed")
@click.option("--batch", "batch_rows", default=runner.BATCH_ROWS, show_default=True, type=click.IntRange(1))
@click.option("--kind", type=KIND, help="Only rows of this kind.")
@click.option("--start-open", is_flag=True, help="Start service_request for imported open requests.")
def retry_failed(batch_rows: int, kind: str | None, start_open: bool) -> None:
    """Set FAILED rows back to NEW (after fixing the mapping) and run them again."""
    reset = runner.retry_failed(_engine(), kind)
    click.echo(f"{reset} failed rows set back to NEW")
    _run(batch_rows, (kind,) if kind else KINDS, start_open)


def _run(batch_rows: int, kinds: tuple[str, ...] | list[str], start_open: bool) -> None:
    # The app's own objects (~130 MB: SQLAlchemy, SpiffWorkflow, the handlers) never become garbage;
    # frozen, the collector stops walking them on every full collection the batches trigger.
    gc.freeze()
    with tqdm(desc="import", unit=" rows", disable=None, file=sys.stderr, smoothing=0.1) as bar:

        def progress(ok: int, failed: int) -> None:
            bar.update(ok + failed)

        def total(n: int) -> None:
            bar.total = n
            bar.refresh()

        report = runner.run(
            _engine(),
            now=_now,
            batch_rows=batch_rows,
            kinds=kinds,
            progress=progress,
            on_total=total,
        )
    click.echo(
        f"Processed {report.processed} rows: {report.succeeded} SUCCESS, {report.failed} FAILED "
        f"in {report.seconds:.1f} s ({report.rate:,.0f} rows/s)"
    )
    if report.failed:
        click.echo("See them with `flask --app web import failed` (add --csv to export).")
    if start_open:
        started = start_open_requests()
        click.echo(f"Started {started} service_request instances for open imported requests")


def start_open_requests() -> int:
    """Start `service_request` for each imported open request that has no instance yet.

    Requests already past dispatch (assigned, in progress, waiting) with a known
    executor have their dispatch task completed with that executor, so the
    instance waits where the request stands. Safe to rerun: a request whose
    instance exists (by business key = number) is only linked to it.
    """
    from web import complete_app

    complete_app(current_app._get_current_object())  # `import` runs without the web parts until here
    runtime = current_app.extensions["runtime"]
    sessions = current_app.extensions["sessions"]
    with sessions() as session:
        pending = session.execute(
            select(
                Request.id, Request.number, Request.status, Request.assignee, Request.subject, Request.body
            )
            .where(
                Request.external_id.is_not(None),
                Request.instance_id.is_(None),
                Request.status.not_in(CLOSED_STATUSES),
            )
            .order_by(Request.id)
        ).all()
    started = 0
    for row in pending:
        with sessions() as session:
            instance_id = session.scalar(
                select(Instance.id).where(
                    Instance.definition_key == PROCESS_KEY, Instance.business_key == row.number
                )
            )
            request = session.get(Request, row.id)
            variables = {
                "request_id": row.id,
                "request_number": row.number,
                "subject": row.subject,
                "body": row.body,
                "requester_email": request.requester_email,
                "channel": request.channel,
                "priority": request.priority,
            }
        if instance_id is None:
            instance_id = runtime.start(PROCESS_KEY, business_key=row.number, variables=variables).id
            started += 1
            if row.status in _PAST_DISPATCH and row.assignee:
                _complete_dispatch(runtime, sessions, instance_id, row.assignee)
        with sessions() as session, session.begin():
            session.get(Request, row.id).instance_id = instance_id
    return started


def _complete_dispatch(runtime: Any, sessions: Any, instance_id: str, executor: str) -> None:
    with sessions() as session:
        task_id = session.scalar(
            select(UserTask.id).where(
                UserTask.instance_id == instance_id,
                UserTask.element_id == DISPATCH_TASK,
                UserTask.status == TaskStatus.OPEN.value,
            )
        )
    if task_id is not None:
        runtime.complete(task_id, user=None, data={"executor": executor})


@import_group.command("status")
@click.option("--json", "as_json", is_flag=True)
def status(as_json: bool) -> None:
    """Staging rows per kind and status (NEW / SUCCESS / FAILED)."""
    table = runner.counts(_engine())
    if as_json:
        click.echo(json.dumps(table))
        return
    click.echo(f"{'kind':<10} {'NEW':>9} {'SUCCESS':>9} {'FAILED':>9} {'total':>9}")
    for kind in KINDS:
        if kind in table:
            c = table[kind]
            click.echo(f"{kind:<10} {c['NEW']:>9} {c['SUCCESS']:>9} {c['FAILED']:>9} {sum(c.values()):>9}")
    if not table:
        click.echo("(nothing staged; load a file with `flask --app web import load FILE --kind requests`)")


@import_group.command("failed")
@click.option(
    "--csv", "as_csv", is_flag=True, help="CSV on stdout: file, line, kind, external id, message, raw row."
)
@click.option("--kind", type=KIND)
@click.option("--limit", type=click.IntRange(1), help="At most this many rows.")
def failed(as_csv: bool, kind: str | None, limit: int | None) -> None:
    """List FAILED rows with the reason (file:line external-id: message)."""
    query = (
        select(
            LegacyFile.name,
            StagingRow.source_line,
            StagingRow.kind,
            StagingRow.external_id,
            StagingRow.message,
            StagingRow.raw,
        )
        .join(LegacyFile, LegacyFile.id == StagingRow.file_id)
        .where(StagingRow.status == RowStatus.FAILED.value)
        .order_by(StagingRow.id)
    )
    if kind:
        query = query.where(StagingRow.kind == kind)
    if limit:
        query = query.limit(limit)
    writer = csv.writer(sys.stdout) if as_csv else None
    if writer:
        # Headers in the desk's language (the CLI has no signed-in user), as the report's CSV.
        labels = ("File", "Line", "Kind", "External id", "Message", "Raw row")
        writer.writerow([translate(label) for label in labels])
    with _engine().connect() as conn:
        for name, line, row_kind, external_id, message, raw in conn.execution_options(yield_per=2000).execute(
            query
        ):
            if writer:
                writer.writerow([name, line, row_kind, external_id or "", message, raw])
            else:
                click.echo(f"{name}:{line} {row_kind} {external_id or '-'}: {message}")


@import_group.command("map")
@click.argument("field", required=False, type=click.Choice(MAPPED_FIELDS))
@click.argument("source", required=False)
@click.argument("target", required=False)
@click.option("--list", "listing", is_flag=True, help="Show the admin's mappings.")
def map_cmd(field: str | None, source: str | None, target: str | None, listing: bool) -> None:
    """Map a legacy value of FIELD (status, category, priority, channel, assignee) to TARGET."""
    engine = _engine()
    if listing or field is None:
        with engine.connect() as conn:
            for row in conn.execute(
                select(LegacyMapping).order_by(LegacyMapping.field, LegacyMapping.source)
            ):
                click.echo(f"{row.field}\t{row.source}\t{row.target}")
        return
    if source is None or target is None:
        raise click.UsageError("give FIELD SOURCE TARGET, e.g. `import map category 'Бухгалтерия 1С' 1c`")
    try:
        check_mapping(field, target)
    except LegacyImportError as err:
        raise click.ClickException(str(err)) from err
    values = {"field": field, "source": normalize_key(source), "target": target}
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(LegacyMapping).values(values)
    statement = statement.on_conflict_do_update(index_elements=["field", "source"], set_={"target": target})
    with engine.begin() as conn:
        conn.execute(statement)
    click.echo(
        f"{field} {source!r} -> {target}; rerun failed rows with `flask --app web import retry-failed`"
    )
