"""Flask application factory: the composition root that wires engine, handlers and domain together."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import Flask

from engine.handlers import HandlerRegistry
from engine.runtime import Engine
from handlers._common import DeskResources
from web import db
from web.config import load_config


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build a new app; `config` overrides the environment (tests pass a throwaway DATABASE_URL)."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(load_config(app.instance_path))
    if config:
        app.config.update(config)
    logging.basicConfig(
        level=app.config.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    db.init_app(app)
    registry = HandlerRegistry()
    _register_handlers(registry)
    app.extensions["handlers"] = registry
    app.extensions["runtime"] = Engine(
        app.extensions["sessions"],
        registry,
        business_time_add=_business_time_add,
        allow_scripts=app.config["ALLOW_SCRIPT_TASKS"],
        inline_jobs=app.config["INLINE_JOBS"],
        worker_id=app.config["WORKER_ID"],
        resources=DeskResources(app.extensions["sessions"]),
    )
    from web import cli, engine_rest, health, queue, security
    from web.i18n import language, translate
    from web.views import admin, admin_queues, auth, field_service, processes, reports, requests, tasks

    security.init_app(app)
    queue.init_app(app)
    app.jinja_env.globals.update(_=translate, lang=language)
    for blueprint in (auth.bp, tasks.bp, requests.bp, processes.bp, reports.bp, health.bp, admin_queues.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(admin.bp)
    from web.views import admin_import

    app.register_blueprint(admin_import.bp)
    app.register_blueprint(engine_rest.bp)
    from web.views import public_form, telephony

    app.register_blueprint(public_form.bp)
    app.register_blueprint(telephony.bp)
    from web.views import api_mail

    app.register_blueprint(api_mail.bp)
    app.register_blueprint(field_service.bp)
    app.register_blueprint(field_service.api)
    from web import outbox
    from web.views import notifications, outbox_admin

    outbox.init_app(app)  # after queue.init_app: in RQ mode deliveries go through its sender
    renderers = app.extensions["outbox"].attachment_renderers
    renderers["invoice_pdf"] = field_service.invoice_attachment(app.config)
    app.register_blueprint(outbox_admin.bp)
    app.register_blueprint(notifications.bp)
    cli.init_app(app)
    return app


def _register_handlers(registry: HandlerRegistry) -> None:
    import handlers

    handlers.register_all(registry)


def _business_time_add(
    calendar: str, start: datetime, duration: timedelta, working_days: int = 0
) -> datetime:
    """The engine's calendar seam: whole working days, then working time, on a named desk.calendar."""
    from desk.calendar import add_working_time, get_calendar, work_date_add

    cal = get_calendar(calendar)
    if working_days:
        start = work_date_add(start, f"{working_days}d", cal)
    return add_working_time(start, duration, cal)
