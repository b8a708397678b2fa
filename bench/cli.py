"""CLI start-up: wall time of whole `flask --app web …` processes, start-up and set-up included.

A script or an operator runs these commands one at a time, so what they wait for is the
process, not the query: importing the whole app (blueprints, SpiffWorkflow, handlers) used to
be ~2 s of every call. Run `.venv/bin/python bench/cli.py [--runs 9]`; it builds a throwaway
SQLite database with the shipped diagrams and the demo seed, then prints min / median / max
wall seconds per command (quote the median). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: (label, arguments): the read-only commands the goal is about, and two that need the whole app.
COMMANDS = (
    ("definitions", ["definitions"]),
    ("definitions --json", ["definitions", "--json"]),
    ("tasks --group operators", ["tasks", "--group", "operators"]),
    ("instances", ["instances"]),
    ("incidents", ["incidents"]),
    ("health --json (whole app)", ["health", "--json"]),
    ("--help (lists every command)", ["--help"]),
)


def flask(env: dict[str, str], *args: str) -> float:
    """Seconds of wall time one `flask --app web ARGS` process took (it must succeed or exit 1)."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "web", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    took = time.perf_counter() - began
    if done.returncode not in (0, 1):
        raise SystemExit(f"flask {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs per command, after one warm-up")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as folder:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{folder}/desk.db", "PYTHONPATH": str(ROOT)}
        for args in (["init-db"], ["deploy", "bpmn"], ["demo"]):
            flask(env, *args)
        load = os.getloadavg()[0]
        print(f"CLI start-up, {options.runs} runs each after a warm-up, load average {load:.2f}")
        print(f"{'command':<34} {'min s':>7} {'median s':>9} {'max s':>7}")
        for label, args in COMMANDS:
            flask(env, *args)
            times = [flask(env, *args) for _ in range(options.runs)]
            print(f"{label:<34} {min(times):>7.3f} {statistics.median(times):>9.3f} {max(times):>7.3f}")
        print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
