"""`flask --app web reports rebuild`: recompute the reports' per-day counters from the requests.

Writers keep the counters in their own transactions; this is for a database whose requests were
written by something that did not (a restore, a hand-made SQL fix, a change of the desk's zone).
It is idempotent: it empties both tables and counts every request again, in one transaction.
"""

from __future__ import annotations

import json
import time

import click
from flask import current_app
from flask.cli import AppGroup

from desk import report_store


@click.group("reports", cls=AppGroup)
def reports_group() -> None:
    """Maintain the reports' per-day counters."""


@reports_group.command("rebuild")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object.")
def rebuild_cmd(as_json: bool) -> None:
    """Count every request again into report_day and report_stage_day (safe to run twice)."""
    started = time.perf_counter()
    with current_app.extensions["db_engine"].begin() as conn:
        counts = report_store.rebuild(conn, report_store.DESK_ZONE)
    counts["seconds"] = round(time.perf_counter() - started, 2)
    if as_json:
        click.echo(json.dumps(counts))
    else:
        click.echo(
            f"Counted {counts['requests']} requests into {counts['day_rows']} day rows "
            f"and {counts['stage_rows']} stage rows in {counts['seconds']} s."
        )
