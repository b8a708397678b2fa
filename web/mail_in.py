"""The app's e-mail ingester: settings from the config, the engine clock, requests opened by web.intake."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, current_app

from desk.mail.ingest import IngestSettings, MailIngester
from web.intake import open_request


def mail_ingester(app: Flask | None = None) -> MailIngester:
    """One MailIngester per app (built on first use); every source (IMAP, files, API) shares it."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    ingester = app.extensions.get("mail_ingester")
    if ingester is None:
        config = app.config
        ingester = MailIngester(
            app.extensions["sessions"],
            clock=app.extensions["runtime"].now,
            open_request=open_request,
            settings=IngestSettings(
                reopen_window=timedelta(days=float(config.get("MAIL_REOPEN_DAYS", 7))),
                max_attachment_bytes=int(config.get("MAIL_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024)),
                max_message_bytes=int(config.get("MAIL_MAX_MESSAGE_BYTES", 25 * 1024 * 1024)),
            ),
        )
        app.extensions["mail_ingester"] = ingester
    return ingester
