"""E-mail in: ingest throughput with 100,000 messages already stored (goal: ≥ 200 messages/s on SQLite).

Seeds `--stored` messages on `--requests` requests (bulk inserts, as years of mail would
leave them), then times `MailIngester.ingest` -- parse, thread by Message-ID, store,
notify, commit -- on kinds of traffic a desk sees:

* replies: In-Reply-To names a random stored message -> appended (half notify an assignee);
* duplicates: a stored message delivered again;
* auto-replies: an out-of-office answer to one of our notifications, filed on its request;
* new: a message naming nothing -> a new request and its service_request process (inline);
* mix: 70 % replies, 10 % duplicates, 10 % auto-replies, 10 % new, shuffled.

Each phase prints messages/s and ms per message; --explain prints the plans of the
threading lookups (the Message-ID lookup must use the unique index). Runs on a SQLite
file and, when reachable, on PostgreSQL (BENCH_POSTGRES_URL, else TEST_POSTGRES_URL,
else the test default) in a throwaway schema. Figures are printed, never asserted.

Run: `.venv/bin/python bench/mail.py [--stored 100000] [--requests 20000] [--count 1000]
[--skip-postgres] [--explain]`
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402

from bench.rest import DEFAULT_URL, throwaway_schema  # noqa: E402
from desk.messages import MailMessage  # noqa: E402
from desk.models import Request  # noqa: E402

SEED = 20261123
GOAL_PER_SECOND = 200.0
CHUNK = 5000
DOMAIN = "helpdesk.example.ru"


def stored_id(n: int) -> str:
    return f"{n:08d}.{n * 7919 % 100003}@{'helpdesk.example.ru' if n % 2 else 'client.example.com'}"


def seed(app, stored: int, requests: int) -> None:
    """`requests` requests and `stored` messages spread over them, half inbound, half sent by us."""
    engine = app.extensions["db_engine"]
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for start in range(0, requests, CHUNK):
            conn.execute(
                insert(Request),
                [
                    {
                        "id": i,
                        "number": f"REQ-{i:06d}",
                        "channel": "email",
                        "subject": f"Старое обращение {i}",
                        "body": "",
                        "status": "in_progress",
                        "assignee": "executor" if i % 2 else None,
                        "priority": "normal",
                        "created_at": now - timedelta(days=30),
                        "status_changed_at": now - timedelta(days=29),
                        "stage_totals": {},
                        "escalated": False,
                        "version": 1,
                    }
                    for i in range(start + 1, min(start + CHUNK, requests) + 1)
                ],
            )
        for start in range(0, stored, CHUNK):
            conn.execute(
                insert(MailMessage),
                [
                    {
                        "message_id": stored_id(n),
                        "direction": "out" if n % 2 else "in",
                        "action": "sent" if n % 2 else "appended",
                        "reason": "",
                        "request_id": n % requests + 1,
                        "references": "",
                        "subject": f"Re: Старое обращение {n % requests + 1}",
                        "from_address": "client@client.example.com",
                        "from_name": "",
                        "to_addresses": "support@helpdesk.example.ru",
                        "body_text": "Добрый день! Принтер снова не печатает, ошибка замятия бумаги.",
                        "quoted_text": "",
                        "source": "imap",
                        "defects": "",
                        "at": now - timedelta(days=1),
                    }
                    for n in range(start + 1, min(start + CHUNK, stored) + 1)
                ],
            )
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval('request_id_seq', (SELECT max(id) FROM request))"))


def message(
    n: int, *, reply_to: str | None = None, auto: bool = False, message_id: str | None = None
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Клиент {n} <client{n % 500}@client.example.com>"
    msg["To"] = "support@helpdesk.example.ru"
    msg["Subject"] = "Автоматический ответ: уведомление" if auto else f"Принтер в кабинете {n}"
    msg["Message-ID"] = f"<{message_id or f'bench-{n}-{random.random():.12f}@client.example.com'}>"
    msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0300"
    if reply_to:
        msg["In-Reply-To"] = f"<{reply_to}>"
        msg["References"] = f"<{reply_to}>"
    if auto:
        msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(
        "Добрый день!\n\nПринтер HP в кабинете снова не печатает, горит ошибка 49.4C02.\n"
        "Перезагружали, не помогло.\n\n-- \nС уважением, клиент\n\n"
        "> Ваше обращение зарегистрировано.\n"
    )
    return msg.as_bytes()


def phases(stored: int, count: int) -> dict[str, list[bytes]]:
    random.seed(SEED)
    replies = [message(i, reply_to=stored_id(random.randint(1, stored))) for i in range(count)]
    duplicates = [message(i, message_id=stored_id(random.randint(1, stored))) for i in range(count)]
    autos = [message(i, auto=True, reply_to=stored_id(random.randrange(1, stored, 2))) for i in range(count)]
    new = [message(10_000_000 + i) for i in range(max(count // 5, 50))]
    mix = (
        [
            message(20_000_000 + i, reply_to=stored_id(random.randint(1, stored)))
            for i in range(count * 7 // 10)
        ]
        + [message(i, message_id=stored_id(random.randint(1, stored))) for i in range(count // 10)]
        + [
            message(i, auto=True, reply_to=stored_id(random.randrange(1, stored, 2)))
            for i in range(count // 10)
        ]
        + [message(30_000_000 + i) for i in range(count // 10)]
    )
    random.shuffle(mix)
    return {"replies": replies, "duplicates": duplicates, "auto-replies": autos, "new": new, "mix": mix}


def timed(ingest: Callable[[bytes], object], batch: list[bytes]) -> tuple[float, float, dict[str, int]]:
    """Wall and CPU seconds (this process) for the batch, and the actions it ended in.

    CPU time is printed beside wall time because a shared machine's load inflates the
    wall figure; the database server's own CPU (PostgreSQL) is not in it.
    """
    actions: dict[str, int] = {}
    started, cpu = time.perf_counter(), time.process_time()
    for raw in batch:
        result = ingest(raw)
        actions[result.action] = actions.get(result.action, 0) + 1
    return time.perf_counter() - started, time.process_time() - cpu, actions


def explain(app) -> None:
    engine = app.extensions["db_engine"]
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        for sql in (
            "SELECT message_id, action, request_id, task_id FROM mail_message WHERE message_id IN ('a', 'b')",
            "SELECT id FROM request WHERE number = 'REQ-000123'",
        ):
            plan = [" ".join(str(c) for c in row) for row in conn.execute(text(prefix + sql))]
            print(f"    {sql[:60]}…\n      " + "\n      ".join(plan))


def load() -> str:
    try:
        return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "load unknown"


def run(label: str, url: str, args: argparse.Namespace) -> None:
    from web import create_app
    from web.cli import deploy_paths
    from web.db import upgrade
    from web.mail_in import mail_ingester

    upgrade(url)
    app = create_app({"DATABASE_URL": url, "INLINE_JOBS": True, "LOG_LEVEL": "WARNING"})
    logging.getLogger().setLevel(logging.WARNING)
    with app.app_context():
        deploy_paths([ROOT / "bpmn"])
        started = time.perf_counter()
        seed(app, args.stored, args.requests)
        seconds = time.perf_counter() - started
        print(f"  seeded {args.stored:,} messages on {args.requests:,} requests in {seconds:.1f} s")
        ingester = mail_ingester(app)
        work = phases(args.stored, args.count)
        for name, batch in work.items():
            seconds, cpu, actions = timed(lambda raw: ingester.ingest(raw, "imap"), batch)
            rate = len(batch) / seconds
            verdict = "meets" if rate >= GOAL_PER_SECOND else "below"
            tally = ", ".join(f"{k} {v}" for k, v in sorted(actions.items()))
            print(
                f"  {label:10} {name:12} {len(batch):5} msgs {rate:7.1f} msg/s {1000 / rate:7.2f} ms/msg "
                f"(CPU {1000 * cpu / len(batch):6.2f} ms/msg; {verdict} the {GOAL_PER_SECOND:.0f}/s goal) "
                f"[{tally}]"
            )
        if args.explain:
            explain(app)
    app.extensions["db_engine"].dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    print(f"bench/mail.py on {os.cpu_count()} cores, Python {platform.python_version()}, {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite:///{tmp}/bench.db", args)
    if args.skip_postgres:
        return
    base = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL") or DEFAULT_URL
    try:
        probe = create_engine(base, connect_args={"connect_timeout": 3})
        with probe.connect():
            pass
        probe.dispose()
    except OperationalError as err:
        print(f"  PostgreSQL skipped: not reachable at {base} ({err.orig})")
        return
    with throwaway_schema() as url:
        run("PostgreSQL", url, args)


if __name__ == "__main__":
    main()
