"""`flask --app web outbox …`: deliver one pass, see counts per status, send a notification again."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

from desk.outbox import Status
from web.outbox import NotificationNotFoundError, Outbox


@click.group("outbox", cls=AppGroup)
def outbox_group() -> None:
    """The notification outbox: deliver, see counts per status, send again."""


def _outbox() -> Outbox:
    return current_app.extensions["outbox"]


@outbox_group.command("deliver")
@click.option("--limit", default=100, help="At most this many notifications in the pass.")
def deliver(limit: int) -> None:
    """One delivery pass: recover dead senders, add task and fallback e-mails, send what is due."""
    report = _outbox().run_pass(limit)
    click.echo(report.line())


@outbox_group.command("status")
@click.option("--json", "as_json", is_flag=True)
def status(as_json: bool) -> None:
    """Notifications per status, and which channels are configured."""
    outbox = _outbox()
    counts = {s.value: 0 for s in Status} | outbox.counts()
    channels = outbox.channel_states()
    if as_json:
        click.echo(json.dumps({"counts": counts, "channels": channels}, ensure_ascii=False))
        return
    for name, n in counts.items():
        click.echo(f"{name:<12} {n}")
    for channel, state in channels.items():
        click.echo(f"channel {channel}: {state}")


@outbox_group.command("resend")
@click.argument("notification_id", type=int)
def resend(notification_id: int) -> None:
    """Send a failed, dead or unconfirmed notification again (same Message-ID for e-mail)."""
    try:
        _outbox().resend(notification_id)
    except NotificationNotFoundError as err:
        raise click.ClickException(str(err)) from err
    except ValueError as err:
        raise click.ClickException(f"Notification #{notification_id}: {err}") from err
    click.echo(f"Notification {notification_id} queued again")
