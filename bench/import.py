"""Legacy import benchmark: load + run of a generated export on PostgreSQL and SQLite.

Each phase runs as the real CLI (`flask --app web import load|run`) in its own
process on a fresh database, so the figures include start-up and the peak RSS
is that process's own (from wait4). Prints load and run seconds, rows/s over
both, peak RSS and the SUCCESS/FAILED counts; on PostgreSQL also the floor, a plain
COPY of the same export into a table without indexes, timed in the same run, and
the import's total as a multiple of it (goal: at most 20x). Asserts nothing.

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
COPY_OPTIONS = "FORMAT csv, HEADER true, DELIMITER ';', ENCODING 'LATIN1'"


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


def copy_floor(url: str, export: Path) -> float:
    """Seconds to COPY the same export into a plain table (text columns, no index, no key): the floor.

    What PostgreSQL itself needs to take the file in, measured in the same run as the import so
    that the ratio holds whatever else the machine is doing. LATIN1 accepts every byte, so the
    export's few rows in another encoding load too (the floor only needs their bytes).
    """
    with export.open("rb") as f:
        header = f.readline().decode("utf-8").rstrip("\n").split(";")
    columns = ", ".join(f'"c{i}" text' for i in range(len(header)))
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            started = time.perf_counter()
            conn.exec_driver_sql(f"CREATE TABLE copy_floor ({columns})")
            cursor = conn.connection.dbapi_connection.cursor()
            with (
                export.open("rb") as f,
                cursor.copy(f"COPY copy_floor FROM STDIN WITH ({COPY_OPTIONS})") as copy,
            ):
                while block := f.read(1 << 20):
                    copy.write(block)
            seconds = time.perf_counter() - started
            rows = conn.exec_driver_sql("SELECT count(*) FROM copy_floor").scalar()
            conn.exec_driver_sql("DROP TABLE copy_floor")
    finally:
        engine.dispose()
    return seconds if rows else float("nan")


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
                        floor = copy_floor(url, export)
                        figures = bench(url, export, rows, args.batch)
                        figures["floor"] = (
                            f"COPY floor {floor:.2f} s, import {figures['total_s'] / floor:.1f}x the floor"
                        )
                    finally:
                        with admin.begin() as conn:
                            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                        admin.dispose()
                print(
                    f"{backend:<9}{rows:>9,}{figures['load_s']:>8}{figures['run_s']:>8}{figures['total_s']:>9}"
                    f"{figures['cpu_s']:>7}"
                    f"{figures['rows_per_s']:>8,}{figures['peak_rss_mb']:>8}{figures['peak_pss_mb']:>8}  "
                    f"{figures['success']} SUCCESS, {figures['failed']} FAILED"
                    + (f"; {figures['floor']}" if "floor" in figures else ""),
                    flush=True,
                )


if __name__ == "__main__":
    main()
