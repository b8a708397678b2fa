"""`flask --app web COMMAND` loads only what COMMAND needs, and answers exactly as the whole app does.

The start-up time itself is measured by bench/cli.py (tests never assert on time); what a test
can pin is the cause: which modules a real `flask` process imported for a command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT, seed_desk
from web.cli_registry import COMMANDS, DATABASE_ONLY, LazyExtensions, UnknownExtensionError

#: Imported by a command only when it needs the web parts or the engine (each costs 0.1–0.5 s).
HEAVY = (
    "SpiffWorkflow",
    "engine.runtime",
    "web.views.tasks",
    "web.engine_rest",
    "fpdf",
    "handlers",
    "holidays",
)

PROBE = """
import json, sys
from flask.cli import main
sys.argv = ["flask", "--app", "web", *sys.argv[1:]]
try:
    main()
except SystemExit as exit:
    code = exit.code
print(json.dumps({"exit": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def run_flask(url: str, *args: str) -> tuple[str, int, set[str]]:
    """Run a real `flask --app web …` process; its output, exit code and the modules it imported."""
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(PROJECT)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return done.stdout, report["exit"], set(report["modules"])


def heavy_modules(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY or m.startswith(HEAVY)}


@pytest.mark.parametrize(
    "args",
    [
        ("definitions",),
        ("definitions", "--json"),
        ("instances", "--json"),
        ("tasks", "--group", "operators", "--json"),
        ("incidents",),
        ("permissions",),
    ],
    ids=lambda args: " ".join(args),
)
def test_a_read_only_command_answers_as_the_whole_app_without_loading_the_engine_or_the_web(any_app, args):
    seed_desk(any_app)
    whole_app = any_app.test_cli_runner().invoke(args=list(args))
    assert whole_app.exit_code == 0, whole_app.output

    output, code, modules = run_flask(any_app.config["DATABASE_URL"], *args)

    assert code in (0, None)
    assert output == whole_app.output
    assert heavy_modules(modules) == set(), "a read-only command imported the engine or the web parts"


def test_a_command_that_steps_instances_gets_the_whole_app(app, tmp_path):
    output, code, modules = run_flask(
        app.config["DATABASE_URL"], "deploy", str(PROJECT / "bpmn" / "owner_sync.bpmn")
    )

    assert code in (0, None), output
    assert "owner_sync" in output
    assert {"web.views.tasks", "web.engine_rest", "engine.runtime", "web.outbox"} <= modules


def test_flask_routes_still_lists_every_blueprint(app):
    output, code, _ = run_flask(app.config["DATABASE_URL"], "routes")

    assert code in (0, None), output
    assert "tasks.index" in output and "/engine-rest" in output


def test_the_command_table_names_every_command_of_the_whole_app(app):
    listed = app.cli.list_commands(None)

    assert listed == sorted(COMMANDS)
    assert DATABASE_ONLY <= set(COMMANDS)
    for name in listed:
        command = app.cli.get_command(None, name)
        assert command is not None and command.name == name


def test_an_extension_nobody_provides_is_a_clear_key_error():
    extensions = LazyExtensions({"sessions": "s"})
    built: list[str] = []
    extensions.provide("runtime", lambda: built.append("runtime") or "engine")

    assert extensions.get("nothing") is None
    assert "runtime" in extensions and not built, "provided, not yet built"
    assert extensions["runtime"] == "engine" and extensions["runtime"] == "engine"
    assert built == ["runtime"], "built once"
    with pytest.raises(UnknownExtensionError):
        extensions["nothing"]
