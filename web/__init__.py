"""Flask application factory: the composition root that wires engine, handlers and domain together."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import Flask

from web import db
from web.cli_registry import LazyExtensions, init_cli, loaded_by_flask_cli
from web.config import load_config

if TYPE_CHECKING:
    from engine.handlers import HandlerRegistry
    from engine.runtime import Engine


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build a new app; `config` overrides the environment (tests pass a throwaway DATABASE_URL).

    Loaded by `flask --app web COMMAND`, the app starts with only its database: the command
    table decides whether the command needs the web parts too (see web.cli_registry), so a
    read-only command such as `definitions` does not import the blueprints, SpiffWorkflow
    or the handlers. Everything else (gunicorn, tests, `flask run`) gets the whole app here.
    """
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(load_config(app.instance_path))
    if config:
        app.config.update(config)
    logging.basicConfig(
        level=app.config.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    quiet_libraries(app.config.get("LOG_LEVEL", "INFO"))
    db.init_app(app)
    from desk import report_store

    report_store.maintain(app.extensions["sessions"])  # reports' daily counters, in the desk's days
    extensions = LazyExtensions(app.extensions)
    extensions.provide("handlers", _handler_registry)
    extensions.provide("runtime", lambda: _engine(app))
    app.extensions = extensions
    init_cli(app, complete_app)
    if not loaded_by_flask_cli():
        complete_app(app)
    return app


def complete_app(app: Flask) -> None:
    """The web parts: engine, security, queue, blueprints, outbox (idempotent).

    Run at once for a served app, and by the command table before any command that may
    step an instance, send mail or build a URL.
    """
    if app.extensions.get("web_parts_ready"):
        return
    app.extensions["web_parts_ready"] = True
    app.extensions["runtime"]  # noqa: B018 - built now, not on a request thread
    from web import engine_rest, health, labels, queue, security
    from web.i18n import language, translate, zone_label
    from web.views import admin, admin_queues, auth, field_service, processes, reports, requests, tasks

    security.init_app(app)
    queue.init_app(app)
    app.jinja_env.globals.update(_=translate, lang=language, zone_label=zone_label)
    labels.init_app(app)
    for blueprint in (auth.bp, tasks.bp, requests.bp, processes.bp, reports.bp, health.bp, admin_queues.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(admin.bp)
    from web.views import admin_rules

    app.register_blueprint(admin_rules.bp)
    from web.views import admin_import

    app.register_blueprint(admin_import.bp)
    from web.views import admin_retention

    app.register_blueprint(admin_retention.bp)
    app.register_blueprint(engine_rest.bp)
    from web.views import public_form, telephony

    app.register_blueprint(public_form.bp)
    app.register_blueprint(telephony.bp)
    from web.views import api_mail

    app.register_blueprint(api_mail.bp)
    app.register_blueprint(field_service.bp)
    from web.views import staff_intake

    app.register_blueprint(staff_intake.bp)
    from web.views import absences, calendar

    app.register_blueprint(absences.bp)
    app.register_blueprint(calendar.bp)
    app.register_blueprint(field_service.api)
    from web import outbox
    from web.views import notifications, outbox_admin, profile

    outbox.init_app(app)  # after queue.init_app: in RQ mode deliveries go through its sender
    renderers = app.extensions["outbox"].attachment_renderers
    renderers["invoice_pdf"] = field_service.invoice_attachment(app.config)
    app.register_blueprint(outbox_admin.bp)
    app.register_blueprint(notifications.bp)
    app.register_blueprint(profile.bp)


#: Libraries whose INFO lines are step-by-step detail (SpiffWorkflow logs every task state change,
#: Alembic every migration, pymorphy3 its dictionary): shown only when LOG_LEVEL is DEBUG, so that
#: what a newcomer needs (database ready, what was deployed, demo users, where to log in) stands out.
CHATTY_LOGGERS = ("spiff", "alembic", "pymorphy3")


def quiet_libraries(level: str | int) -> None:
    """Raise the chatty libraries to WARNING unless the app logs at DEBUG (then they log everything)."""
    debug = logging.getLevelName(level) == "DEBUG" if isinstance(level, int) else level.upper() == "DEBUG"
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.WARNING)


def _handler_registry() -> HandlerRegistry:
    import handlers
    from engine.handlers import HandlerRegistry

    registry = HandlerRegistry()
    handlers.register_all(registry)
    return registry


def _engine(app: Flask) -> Engine:
    from engine.runtime import Engine
    from handlers._common import DeskResources

    return Engine(
        app.extensions["sessions"],
        app.extensions["handlers"],
        business_time_add=_business_time_add,
        allow_scripts=app.config["ALLOW_SCRIPT_TASKS"],
        inline_jobs=app.config["INLINE_JOBS"],
        worker_id=app.config["WORKER_ID"],
        resources=DeskResources(app.extensions["sessions"]),
        max_mi_cardinality=app.config["MAX_MI_CARDINALITY"],
    )


def _business_time_add(
    calendar: str, start: datetime, duration: timedelta, working_days: int = 0
) -> datetime:
    """The engine's calendar seam: whole working days, then working time, on a named desk.calendar."""
    from desk.calendar import add_working_time, get_calendar, work_date_add

    cal = get_calendar(calendar)
    if working_days:
        start = work_date_add(start, f"{working_days}d", cal)
    return add_working_time(start, duration, cal)
