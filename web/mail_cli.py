"""`flask --app web ingest-email PATH… [--json]` and `flask --app web mail poll`: e-mail in by command.

PATH may be an `.eml` file, an mbox file (`.mbox`, or any file starting with a "From "
envelope line) or a directory of them. `--json` prints one object per message per line:
{"message_id", "action", "request", "reason"}. A malformed message is reported as
rejected and the rest of the batch goes on; the exit status is 1 only when a message
could not be stored at all (it is then safe to run the same command again).
"""

from __future__ import annotations

import json
import mailbox
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import click
from flask import current_app

from desk.mail.ingest import IngestResult
from web.mail_in import mail_ingester

MAIL_SUFFIXES = (".eml", ".mbox", ".mbx")
_MBOXRD_QUOTED_FROM = re.compile(rb"^>(>*From )", re.MULTILINE)


def read_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """(label, raw bytes) of every message in a file or directory, in order."""
    if path.is_dir():
        for child in sorted(path.iterdir()):
            if child.is_file() and child.suffix.lower() in MAIL_SUFFIXES:
                yield from read_messages(child)
        return
    with path.open("rb") as handle:
        head = handle.read(5)
    if path.suffix.lower() in (".mbox", ".mbx") or head == b"From ":
        yield from _mbox(path)
    else:
        yield str(path), path.read_bytes()


def _mbox(path: Path) -> Iterator[tuple[str, bytes]]:
    """Messages of an mbox file, envelope lines dropped and mboxrd ">From " quoting undone."""
    box = mailbox.mbox(path, create=False)
    try:
        for number, key in enumerate(box.iterkeys(), start=1):
            yield f"{path}#{number}", _MBOXRD_QUOTED_FROM.sub(rb"\1", box.get_bytes(key))
    finally:
        box.close()


def _emit(label: str, result: IngestResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
    else:
        click.echo(f"{label}: {result.action} {result.request or '-'} ({result.reason})")


def _report(results: Iterable[tuple[str, IngestResult]], as_json: bool) -> None:
    unsettled = 0
    for label, result in results:
        _emit(label, result, as_json)
        unsettled += not result.settled
    if unsettled:
        raise click.ClickException(
            f"{unsettled} message(s) could not be stored (see the reasons above); running again is safe."
        )


@click.command("ingest-email")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, readable=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per message, one per line.")
def ingest_email(paths: tuple[Path, ...], as_json: bool) -> None:
    """Ingest .eml files, mbox files or directories of them into requests."""
    ingester = mail_ingester(current_app)

    def messages() -> Iterator[tuple[str, bytes]]:
        for path in paths:
            try:
                yield from read_messages(path)
            except (OSError, mailbox.Error) as err:
                raise click.ClickException(f"Cannot read {path}: {err}") from err

    _report(ingester.ingest_all(messages(), "file"), as_json)


@click.group("mail")
def mail() -> None:
    """E-mail in: poll the IMAP mailbox (IMAP_* settings)."""


@mail.command("poll")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per message, one per line.")
def poll_cmd(as_json: bool) -> None:
    """Ingest every unseen message of IMAP_FOLDER once, marking each seen after it is stored."""
    from web.mail_poll import MailPollError, poll_app

    try:
        results = poll_app(current_app._get_current_object())  # type: ignore[attr-defined]
    except MailPollError as err:
        raise click.ClickException(str(err)) from err
    _report(results, as_json)
    if not as_json and not results:
        click.echo("No unseen messages.")
