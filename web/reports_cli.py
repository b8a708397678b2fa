"""`flask --app web reports rebuild`: recompute the reports' per-day counters from the requests;
`reports rebuild-element-stats`: recompute the definition page's per-element task counters.

Writers keep the counters in their own transactions (database triggers keep the element
counters); this is for a database whose rows were written by something that did not (a restore
without the triggers, a hand-made SQL fix with triggers disabled, a change of the desk's zone).
Both are idempotent: they empty their tables and count again, in one transaction.
"""

from __future__ import annotations

import json
import time

import click
from flask import current_app
from flask.cli import AppGroup

from desk import report_store
from engine import element_stats


@click.group("reports", cls=AppGroup)
def reports_group() -> None:
    """Maintain the reports' per-day counters and the definition page's element counters."""


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


@reports_group.command("rebuild-element-stats")
def rebuild_element_stats_cmd() -> None:
    """Count every user task again into element_stat, the definition page's counters (safe to run twice)."""
    started = time.perf_counter()
    with current_app.extensions["db_engine"].begin() as conn:
        elements = element_stats.rebuild(conn)
    click.echo(f"Counted the user tasks into {elements} elements in {time.perf_counter() - started:.2f} s.")
