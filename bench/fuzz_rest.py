"""A longer schemathesis run over every operation of web/engine_rest/openapi.json on the live app.

The suite's tests/test_engine_rest_fuzz.py sends a few examples per operation; this sends many,
as every demo role, on a fresh seeded SQLite desk (or PostgreSQL with --postgres), and prints
operations, examples, statuses and each distinct failure. Figures are printed, never asserted.

Run: `.venv/bin/python bench/fuzz_rest.py [--examples 50] [--postgres] [--random]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# This script is bench/fuzz_rest.py: put the project root first so `web` and `tests` import.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import make_app, seed_desk  # noqa: E402
from web.demo import DEMO_PASSWORD, DEMO_USERS  # noqa: E402
from web.engine_rest.fuzz import fuzz_engine_rest  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=50, help="examples per operation and user")
    parser.add_argument("--postgres", help="a PostgreSQL URL instead of a temporary SQLite file")
    parser.add_argument("--random", action="store_true", help="a fresh random seed instead of seed 0")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.postgres or f"sqlite:///{folder}/fuzz.db"
        app = seed_desk(make_app(url))
        users = [(name, DEMO_PASSWORD) for name in DEMO_USERS]
        started = time.perf_counter()
        report = fuzz_engine_rest(app, users, max_examples=args.examples, seed=None if args.random else 0)
        elapsed = time.perf_counter() - started
        app.extensions["db_engine"].dispose()
    print(f"{report.summary()} in {elapsed:.1f} s")
    for key, detail in sorted(report.failures.items()):
        print(f"{key}\n    {detail}")


if __name__ == "__main__":
    main()
