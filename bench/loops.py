"""What a pass through a loop costs as the loop goes on: Camunda runs the hundredth pass as fast
as the first; SpiffWorkflow keeps every pass's tasks in one tree, so some cost grows with it.

Runs tests/data/bpmn/camunda7/parallel_paths_in_a_loop.bpmn (a parallel split into a counting
service task and a person's review, joined, round again) through `Engine` on a SQLite file,
completing the review `--passes` times, and prints the milliseconds of the completions in each
tenth of the run: with the engine's parallel join (engine.spiff_joins) and with SpiffWorkflow's
own join check (`--library-join` alone, or both when `--compare`). Figures are printed, never
asserted.

Run: `.venv/bin/python bench/loops.py [--passes 100] [--compare]`
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from SpiffWorkflow.bpmn.specs.mixins.parallel_gateway import ParallelGateway  # noqa: E402
from sqlalchemy import select  # noqa: E402

from engine import spiff_joins  # noqa: E402
from engine.deploy import deploy  # noqa: E402
from engine.handlers import HandlerRegistry  # noqa: E402
from engine.runtime import Engine  # noqa: E402
from engine.store import UserTask, make_engine, make_session_factory  # noqa: E402
from web.db import upgrade  # noqa: E402

DIAGRAM = ROOT / "tests" / "data" / "bpmn" / "camunda7" / "parallel_paths_in_a_loop.bpmn"
PROCESS = "c7_parallel_paths_in_a_loop"


@contextmanager
def library_join() -> Iterator[None]:
    """SpiffWorkflow's own "may the parallel join fire" check while inside."""
    ParallelGateway._check_threshold_unstructured = spiff_joins.library_parallel_may_fire
    try:
        yield
    finally:
        ParallelGateway._check_threshold_unstructured = spiff_joins.parallel_join_may_fire


def run(passes: int) -> list[float]:
    """Seconds of each review's completion, the loop going round `passes` times."""
    xml = DIAGRAM.read_bytes().replace(b"${counter &lt; 3}", f"${{counter &lt; {passes}}}".encode())
    with tempfile.TemporaryDirectory(prefix="bench_loops_") as folder:
        url = f"sqlite:///{folder}/desk.db"
        upgrade(url)
        sql_engine = make_engine(url)
        try:
            runtime = Engine(make_session_factory(sql_engine), HandlerRegistry())
            deploy(runtime.session_factory, {DIAGRAM.name: xml})
            started = runtime.start(PROCESS, variables={"counter": 0})
            seconds = []
            for _ in range(passes):
                with runtime.session_factory() as session:
                    task_id = session.scalars(
                        select(UserTask.id).where(
                            UserTask.instance_id == started.id, UserTask.status == "open"
                        )
                    ).one()
                began = time.perf_counter()
                runtime.complete(task_id, "olga", {})
                seconds.append(time.perf_counter() - began)
            return seconds
        finally:
            sql_engine.dispose()


def report(label: str, seconds: list[float]) -> None:
    tenth = max(1, len(seconds) // 10)
    chunks = [seconds[i : i + tenth] for i in range(0, len(seconds), tenth)]
    medians = " ".join(f"{statistics.median(c) * 1000:7.1f}" for c in chunks)
    print(f"  {label:<22} total {sum(seconds):7.2f} s   median ms per pass, by tenth: {medians}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passes", type=int, default=100)
    parser.add_argument("--library-join", action="store_true", help="only SpiffWorkflow's own join check")
    parser.add_argument("--compare", action="store_true", help="the engine's join and the library's")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    print(f"{DIAGRAM.relative_to(ROOT)}, {args.passes} passes, review completed each pass (SQLite file)")
    if not args.library_join:
        report("engine's join", run(args.passes))
    if args.library_join or args.compare:
        with library_join():
            report("SpiffWorkflow's join", run(args.passes))


if __name__ == "__main__":
    main()
