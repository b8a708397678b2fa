"""IMAP polling (imap-tools): ingest unseen messages, flag each \\Seen only once its outcome is committed.

Messages are fetched with BODY.PEEK, so fetching marks nothing; a message whose ingest
did not settle (the database was down, another ingester holds it) stays unseen and is
fetched again on the next poll. Re-polling is harmless: a message already stored is a
duplicate, and duplicates are marked seen like any settled message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import Flask
from imap_tools import AND, MailBox, MailBoxUnencrypted, MailMessageFlags
from imap_tools import MailMessage as ImapMessage
from imap_tools.errors import MailboxFlagError, MailboxLoginError, UnexpectedCommandStatusError
from imap_tools.utils import check_command_status

from desk.errors import DeskError
from desk.mail.ingest import IngestResult, MailIngester
from web.mail_in import mail_ingester

log = logging.getLogger(__name__)

FETCH_BATCH = 50
POLL_LOCK = "desk:mail-poll"
CONNECT_TIMEOUT = 30.0


class MailPollError(DeskError):
    """The IMAP server could not be reached, refused the login, or has no such folder."""

    def __init__(self, settings: ImapSettings, problem: str) -> None:
        self.problem = problem
        super().__init__(
            f"IMAP {settings.user or '?'}@{settings.host}:{settings.port}/{settings.folder}: {problem}. "
            "Check IMAP_HOST, IMAP_PORT, IMAP_SSL, IMAP_USER, IMAP_PASSWORD and IMAP_FOLDER."
        )


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    user: str
    password: str
    folder: str = "INBOX"
    ssl: bool = True

    @classmethod
    def from_config(cls, config: Any) -> ImapSettings:
        if not config.get("IMAP_HOST"):
            raise MailPollError(cls("", 0, "", ""), "IMAP_HOST is not set, so there is no mailbox to poll")
        return cls(
            host=config["IMAP_HOST"],
            port=int(config["IMAP_PORT"]),
            user=config.get("IMAP_USER") or "",
            password=config.get("IMAP_PASSWORD") or "",
            folder=config.get("IMAP_FOLDER") or "INBOX",
            ssl=bool(config.get("IMAP_SSL", True)),
        )


class _RawMessage(ImapMessage):
    """imap-tools' message that also keeps the bytes as the server sent them (re-serialising alters them)."""

    def __init__(self, fetch_data: list) -> None:
        self.raw: bytes = self._get_message_data_parts(fetch_data)[0]
        super().__init__(fetch_data)


def poll(ingester: MailIngester, settings: ImapSettings) -> list[tuple[str, IngestResult]]:
    """Ingest every unseen message of the folder; returns (uid, result) in server order.

    Each message is committed before it is flagged \\Seen, and flags are set per fetch
    batch, so a crash costs at most one batch of re-fetching (which ends in duplicates).
    """
    results: list[tuple[str, IngestResult]] = []
    try:
        with _mailbox(settings) as mailbox:
            uids = mailbox.uids(AND(seen=False))
            for start in range(0, len(uids), FETCH_BATCH):
                settled: list[str] = []
                for uid, raw in _fetch(mailbox, uids[start : start + FETCH_BATCH]):
                    for _, result in ingester.ingest_all([(uid, raw)], "imap"):
                        results.append((uid, result))
                        if result.settled:
                            settled.append(uid)
                if settled:
                    _mark_seen(mailbox, settled)
    except MailboxLoginError as err:
        raise MailPollError(settings, f"the login was refused ({err})") from err
    except UnexpectedCommandStatusError as err:
        raise MailPollError(settings, f"the server answered {err}") from err
    except OSError as err:
        raise MailPollError(settings, f"cannot connect ({err})") from err
    return results


def _mailbox(settings: ImapSettings) -> Any:
    box_class = MailBox if settings.ssl else MailBoxUnencrypted
    box = box_class(settings.host, settings.port, timeout=CONNECT_TIMEOUT)
    return box.login(settings.user, settings.password, initial_folder=settings.folder)


def _mark_seen(mailbox: Any, uids: list[str]) -> None:
    """STORE +FLAGS \\Seen by UID (imap-tools' `flag` also expunges, which is not ours to do)."""
    result = mailbox.client.uid("STORE", ",".join(uids), "+FLAGS", f"({MailMessageFlags.SEEN})")
    check_command_status(result, MailboxFlagError)


def _fetch(mailbox: Any, uids: list[str]) -> Iterator[tuple[str, bytes]]:
    mailbox.email_message_class = _RawMessage
    for message in mailbox.fetch(uid_list=uids, mark_seen=False, bulk=True):
        yield message.uid or "?", message.raw


def poll_app(app: Flask) -> list[tuple[str, IngestResult]]:
    """Poll the configured mailbox, after finishing messages a crashed poll left half-done."""
    ingester = mail_ingester(app)
    resumed = [("pending", result) for result in ingester.resume_stale()]
    return resumed + poll(ingester, ImapSettings.from_config(app.config))


def maybe_poll(app: Flask) -> int:
    """Scheduler hook: poll when IMAP_HOST is set and IMAP_POLL_INTERVAL has passed; never raises.

    Returns how many messages were ingested, so the caller's loop knows it did work.
    """
    if not app.config.get("IMAP_HOST"):
        return 0
    now = time.monotonic()
    last = app.extensions.get("mail_poll.last")
    if last is not None and now - last < float(app.config.get("IMAP_POLL_INTERVAL", 60)):
        return 0
    app.extensions["mail_poll.last"] = now
    try:
        with app.app_context():
            results = poll_app(app)
    except Exception:
        log.exception("IMAP poll failed; retrying in %ss", app.config.get("IMAP_POLL_INTERVAL", 60))
        return 0
    for uid, result in results:
        log.info("IMAP %s: %s %s %s", uid, result.action, result.request or "-", result.message_id)
    return len(results)


def start_polling(app: Flask) -> threading.Thread | None:
    """Poll IMAP beside the scale-out scheduler, in a daemon thread; nothing when IMAP_HOST is unset.

    With Redis, only the holder of the "desk:mail-poll" lock polls, so several schedulers
    do not fetch the same mailbox at once (which would be harmless, only wasteful).
    """
    if not app.config.get("IMAP_HOST"):
        return None
    interval = float(app.config.get("IMAP_POLL_INTERVAL", 60))
    redis = app.extensions.get("redis")
    lock = redis.lock(POLL_LOCK, timeout=max(interval * 3, 60), thread_local=False) if redis else None

    def loop() -> None:
        while True:
            try:
                held = lock is None or (lock.owned() and lock.extend(max(interval * 3, 60), replace_ttl=True))
                held = held or lock.acquire(blocking=False)
            except Exception:
                log.exception("mail poll lock unavailable; retrying")
                held = False
            if held:
                maybe_poll(app)
            time.sleep(min(interval, 5.0))

    thread = threading.Thread(target=loop, name="imap-poll", daemon=True)
    thread.start()
    return thread
