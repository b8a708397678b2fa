"""Legacy import benchmark: load + run of a generated export on PostgreSQL and SQLite.

Each phase runs as the real CLI (`flask --app web import load|run`) in its own
process on a fresh database, so the figures include start-up and the peak RSS
is that process's own (from wait4). Prints load and run seconds, rows/s over
both, peak RSS and the SUCCESS/FAILED counts; asserts nothing.

    .venv/bin/python bench/import.py                       # 29,000 and 290,000 rows, both backends
    .venv/bin/python bench/import.py --rows 290000 --backend postgres
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import make_legacy  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from web.db import upgrade  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _tree_pss_mb(pid: int) -> float:
    """Proportional set size of a process and its children: forked pages shared with the parent count once."""
    total = 0
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        pids += [int(child) for child in task.read_text().split()]
    for each in pids:
        try:
            for line in Path(f"/proc/{each}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


class _PssPeak(threading.Thread):
    """Samples the command's process tree every 0.2 s: `import run` forks a mapping worker."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            try:
                self.peak = max(self.peak, _tree_pss_mb(self.pid))
            except OSError:
                return


def _phase(url: str, *args: str) -> tuple[float, float, float, str, float]:
    """Run one CLI command: wall seconds, CPU seconds, peak RSS in MB (wait4), stdout, peak tree PSS in MB.

    CPU seconds (user + system of the command and its worker; the database
    server's own CPU is not in them) say what the work costs when other jobs
    share the cores. wait4's RSS is the largest single process; PSS adds the
    mapping worker's own pages to the main process's.
    """
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "web", "import", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
        sampler = _PssPeak(proc.pid)
        sampler.start()
        _pid, status, usage = os.wait4(proc.pid, 0)
        sampler.done.set()
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise SystemExit(f"import {' '.join(args)} failed ({proc.returncode}):\n{err.read()}")
        cpu = usage.ru_utime + usage.ru_stime
        return seconds, cpu, usage.ru_maxrss / 1024, out.read(), sampler.peak


def bench(url: str, export: Path, rows: int, batch: int) -> dict[str, float | int | str]:
    upgrade(url)
    load_s, load_cpu, load_rss, _, load_pss = _phase(url, "load", str(export), "--kind", "requests")
    run_s, run_cpu, run_rss, out, run_pss = _phase(url, "run", "--batch", str(batch))
    status = _phase(url, "status", "--json")[3]
    counts = json.loads(status)["requests"]
    return {
        "rows": rows,
        "load_s": round(load_s, 1),
        "run_s": round(run_s, 1),
        "total_s": round(load_s + run_s, 1),
        "cpu_s": round(load_cpu + run_cpu, 1),
        "rows_per_s": round(rows / (load_s + run_s)),
        "peak_rss_mb": round(max(load_rss, run_rss)),
        "peak_pss_mb": round(max(load_pss, run_pss)),
        "success": counts["SUCCESS"],
        "failed": counts["FAILED"],
        "summary": out.strip().splitlines()[0],
    }


def _postgres(base: str):
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    return admin, schema, f"{base}?options=-csearch_path%3D{schema}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, action="append", help="rows per export (repeatable)")
    parser.add_argument("--backend", choices=["postgres", "sqlite"], action="append")
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    args = parser.parse_args()
    sizes = args.rows or [29_000, 290_000]
    backends = args.backend or ["postgres", "sqlite"]
    load = os.getloadavg()[0]
    print(f"cpus={os.cpu_count()} load={load:.1f} python={sys.version.split()[0]} batch={args.batch}")
    print(
        f"{'backend':<9}{'rows':>9}{'load s':>8}{'run s':>8}{'total s':>9}{'CPU s':>7}"
        f"{'rows/s':>8}{'RSS MB':>8}{'PSS MB':>8}  result"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for rows in sizes:
            export = Path(tmp) / f"legacy_{rows}.csv"
            make_legacy.write(export, rows)
            for backend in backends:
                if backend == "sqlite":
                    figures = bench(f"sqlite:///{tmp}/bench_{rows}.db", export, rows, args.batch)
                else:
                    admin, schema, url = _postgres(args.postgres_url)
                    try:
                        figures = bench(url, export, rows, args.batch)
                    finally:
                        with admin.begin() as conn:
                            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                        admin.dispose()
                print(
                    f"{backend:<9}{rows:>9,}{figures['load_s']:>8}{figures['run_s']:>8}{figures['total_s']:>9}"
                    f"{figures['cpu_s']:>7}"
                    f"{figures['rows_per_s']:>8,}{figures['peak_rss_mb']:>8}{figures['peak_pss_mb']:>8}  "
                    f"{figures['success']} SUCCESS, {figures['failed']} FAILED",
                    flush=True,
                )


if __name__ == "__main__":
    main()
