"""The `flask --app web` command table, resolved lazily so that a command pays only for what it uses.

Importing the whole app (blueprints, /engine-rest, SpiffWorkflow's parser, the handlers with
their dictionaries, phonenumbers, holidays, fpdf) took ~2 s of the ~2.2 s that
`flask --app web definitions` used to take. Here each command is named by where it lives and
imported only when it is the one run; a command listed in DATABASE_ONLY runs on the app's
database alone, every other one gets the whole app first (it may step an instance, send mail through the
outbox, reach Redis or build a URL from a blueprint).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib import import_module
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup, FlaskGroup, with_appcontext

#: Command name -> "module:attribute" of its click command, in the order `--help` lists them.
COMMANDS: dict[str, str] = {
    "permissions": "web.cli:permissions",
    "init-db": "web.cli:init_db",
    "deploy": "web.cli:deploy_cmd",
    "definitions": "web.cli_engine:definitions",
    "start": "web.cli_engine:start",
    "instances": "web.cli_engine:instances",
    "instance": "web.cli_engine:instance",
    "tasks": "web.cli_engine:tasks",
    "claim": "web.cli_engine:claim",
    "unclaim": "web.cli_engine:unclaim",
    "complete": "web.cli_engine:complete",
    "correlate": "web.cli_engine:correlate",
    "incidents": "web.cli_engine:incidents",
    "retry": "web.cli_engine:retry",
    "worker": "web.cli:worker",
    "set-var": "web.cli_engine:set_var",
    "cancel": "web.cli_engine:cancel",
    "demo": "web.cli:demo",
    "create-user": "web.cli:create_user_cmd",
    "scheduler": "web.cli:scheduler",
    "create-token": "web.cli:create_token",
    "rq-worker": "web.queue:worker_command",
    "health": "web.health:health_command",
    "ingest-email": "web.mail_cli:ingest_email",
    "mail": "web.mail_cli:mail",
    "import": "web.import_cli:import_group",
    "outbox": "web.outbox_cli:outbox_group",
    "reports": "web.reports_cli:reports_group",
    "history-cleanup": "web.retention:history_cleanup_command",
    "erase-contact": "web.retention:erase_contact_command",
    "migrate-instances": "web.views.processes:migrate_instances_cmd",
    "element-templates": "web.cli:element_templates_cmd",
}

#: Commands that work on the database alone: they read it, create its schema, print the permission
#: matrix, or stage and import legacy rows (`import run --start-open` completes the app itself before
#: it starts processes). They run without the web parts; the engine, when one needs it, is built on
#: first use.
DATABASE_ONLY = frozenset(
    {"init-db", "permissions", "definitions", "instances", "instance", "tasks", "incidents", "import"}
)


class UnknownExtensionError(KeyError):
    """An app extension was asked for that the app neither holds nor knows how to build."""


class LazyExtensions(dict):
    """`app.extensions` whose costly entries (the engine, the handler registry) are built on first use.

    A read-only command never touches them, so it never imports SpiffWorkflow or the handlers;
    a served app builds them at start-up (web.complete_app), never on a request thread. The lock
    keeps two threads that ask at once from building two engines.
    """

    def __init__(self, initial: dict[str, Any]) -> None:
        super().__init__(initial)
        self._factories: dict[str, Callable[[], Any]] = {}
        self._lock = threading.RLock()

    def provide(self, key: str, factory: Callable[[], Any]) -> None:
        """Build `key` with `factory` the first time it is read."""
        self._factories[key] = factory

    def __missing__(self, key: str) -> Any:
        factory = self._factories.get(key)
        if factory is None:
            raise UnknownExtensionError(key)
        with self._lock:
            if not dict.__contains__(self, key):
                self[key] = factory()
        return dict.__getitem__(self, key)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self._factories

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default


class CommandTable(AppGroup):
    """The app's command group: commands are imported when resolved, and complete the app first
    unless they work on the database alone."""

    def __init__(self, app: Flask, complete: Callable[[Flask], None]) -> None:
        super().__init__(app.name)
        self._app = app
        self._complete = complete

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        where = COMMANDS.get(cmd_name)
        if where is None:
            return None
        if cmd_name not in DATABASE_ONLY:
            self._complete(self._app)
        module, _, attribute = where.partition(":")
        command: click.Command = getattr(import_module(module), attribute)
        if not getattr(command.callback, "_runs_in_app_context", False):
            command.callback = with_appcontext(command.callback)
            command.callback._runs_in_app_context = True  # type: ignore[union-attr]
        return command


def init_cli(app: Flask, complete: Callable[[Flask], None]) -> None:
    """Give the app its command table; `complete` adds the web parts before a command that needs them."""
    app.cli = CommandTable(app, complete)


def loaded_by_flask_cli() -> bool:
    """True while `flask --app web` loads the app to find a command (or to list them for --help).

    Then the command table completes the app when the command needs it. `flask run`,
    `flask routes` and `flask shell` load the app from within their own command, and so get
    the whole app at once, as gunicorn and the tests do.
    """
    ctx = click.get_current_context(silent=True)
    return ctx is not None and isinstance(ctx.command, FlaskGroup)
