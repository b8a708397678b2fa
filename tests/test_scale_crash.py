"""Scale-out under failure: a real web server, three RQ workers killed mid-run, Redis bounced.

100 requests (SCALE_CRASH_REQUESTS) run through bpmn/service_request.bpmn on PostgreSQL while
clients complete their user tasks over HTTP (/engine-rest, Basic auth as the demo users).
Workers are SIGKILLed at fixed points of progress (jobs done) and restarted; the test's own
Redis server is stopped (losing every queued message) and started again. Afterwards every
instance has finished, every job has been completed exactly once (one `service_task_called`
history event per job), every notification exists once per idempotency key and was delivered,
and the history matches the final state.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from desk.models import Notification, Request, StatusChange, Task
from engine.store import HistoryEvent, Incident, Instance, Job, UserTask
from tests.conftest import PROJECT, make_app, seed_desk
from tests.service_processes import (
    BIN,
    Mailbox,
    Process,
    flask_process,
    free_port,
    mailbox,
    redis_server,
    service_env,
    wait_for,
    web_server,
)
from web.cli import deploy_paths
from web.demo import seed_demo
from web.intake import open_request

__all__ = ["mailbox", "redis_server"]  # fixtures of tests.service_processes used here


# ---------------------------------------------------------------------------- HTTP clients


class Client(threading.Thread):
    """A person working one kind of task over /engine-rest until told to stop."""

    def __init__(self, base: str, user: str, query: dict[str, str], answer, stop: threading.Event) -> None:
        super().__init__(daemon=True, name=f"client-{user}")
        self.base, self.user, self.query, self.answer, self.stop = base, user, query, answer, stop
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []

    def run(self) -> None:
        http = requests.Session()
        http.auth = (self.user, "demo")
        while not self.stop.is_set():
            try:
                self.work_once(http)
            except Exception as err:  # a client thread must never die silently
                self.errors.append(f"crashed: {type(err).__name__}: {err}")
                time.sleep(0.5)

    def work_once(self, http: requests.Session) -> None:
        try:
            response = http.get(
                f"{self.base}/engine-rest/task", params={**self.query, "maxResults": "10"}, timeout=60
            )
        except requests.RequestException as err:
            self.errors.append(f"list: {err}")
            time.sleep(0.5)
            return
        if response.status_code != 200:
            self.errors.append(f"list: {response.status_code} {response.text[:200]}")
            time.sleep(0.5)
            return
        tasks = response.json()
        if not tasks:
            time.sleep(0.3)
            return
        random.Random(self.user).shuffle(tasks)
        for task in tasks:
            variables = {k: {"value": v} for k, v in self.answer(task).items()}
            try:
                response = http.post(
                    f"{self.base}/engine-rest/task/{task['id']}/complete",
                    json={"variables": variables},
                    timeout=60,
                )
            except requests.RequestException as err:
                self.errors.append(f"complete: {err}")
                continue
            self.statuses[response.status_code] += 1
            if response.status_code not in (204, 409):
                self.errors.append(f"complete {task['id']}: {response.status_code} {response.text[:300]}")


def executor_for(task: dict[str, Any]) -> str:
    return "executor2" if int(task["id"].replace("-", ""), 16) % 2 else "executor"


def clients(base: str, stop: threading.Event) -> list[Client]:
    """Two dispatchers racing for the same tasks, an operator, a manager making new clients' cards,
    both approvers and both executors."""
    dispatch = {"taskDefinitionKey": "Task_Dispatch"}
    return [
        Client(
            base,
            "manager",
            {"taskDefinitionKey": "Task_ClientCard"},
            lambda t: {"client_name": f"Клиент {t['id'][:8]}"},
            stop,
        ),
        Client(base, "dispatcher", dispatch, lambda t: {"executor": executor_for(t)}, stop),
        Client(base, "admin", dispatch, lambda t: {"executor": executor_for(t)}, stop),
        Client(
            base,
            "operator",
            {"taskDefinitionKey": "Task_Triage"},
            lambda t: {"category": "network", "priority": "normal"},
            stop,
        ),
        *[
            Client(
                base,
                name,
                {"assignee": name, "taskDefinitionKey": "Task_Approve"},
                lambda t: {"approved": True},
                stop,
            )
            for name in ("approver", "approver2")
        ],
        *[
            Client(
                base,
                name,
                {"assignee": name, "taskDefinitionKey": "Task_Resolve"},
                lambda t: {"resolution": "Сделано", "done": True},
                stop,
            )
            for name in ("executor", "executor2")
        ],
    ]


SUBJECTS = [
    ("Не печатает принтер", "Принтер HP зажевал бумагу, горит ошибка замятия."),
    ("Не работает интернет", "Нет интернета на этаже, сайты не открываются."),
    ("1С не запускается", "При запуске 1С:Бухгалтерии ошибка лицензии."),
    ("Купить новый монитор", "Прошу закупить монитор 27 дюймов для дизайнера."),
    ("Вопрос", "Добрый день, перезвоните мне, пожалуйста."),
]
WEIGHTS = [30, 30, 20, 10, 10]
RESTART_REDIS_AT = 0.4  # of the expected jobs
# A demo contact: a known client's request goes straight to dispatch (no manager's card).
KNOWN_CLIENT = "ivan.petrov@romashka.example.ru"
SERVICE_TASKS_DONE = {
    "Task_Classify",
    "Task_Sla",
    "Task_Route",
    "Task_MatchClient",
    "Task_MarkAssigned",
    "Task_CreateTask",
    "Task_NotifyAssigned",
    "Task_NotifyResolved",
    "Task_CloseDone",
}


# ---------------------------------------------------------------------------- the crash suite


@pytest.mark.services
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_requests_finish_exactly_once_while_workers_die_and_redis_restarts(
    postgres_url, redis_server, mailbox, tmp_path
):
    rng = random.Random(20261123)
    # 100 requests: the claim is exactly-once under crashes, not throughput (SCALE_CRASH_REQUESTS=500
    # for the old volume); six worker kills and a Redis restart still land mid-run.
    total = int(os.environ.get("SCALE_CRASH_REQUESTS", "100"))
    smtp = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mailbox.controller.port),
        "MAIL_FROM": "desk@example.com",
        "OUTBOX_LEASE_SECONDS": "10",  # a sender killed mid-send is noticed after 10 s, not 5 min
    }
    before = seed_without_samples(postgres_url)
    app = make_app(postgres_url, REDIS_URL=redis_server.url, INLINE_JOBS=False, **smtp)
    sessions = app.extensions["sessions"]
    ours = Instance.id.in_(select(Request.instance_id).where(Request.id > before))
    logdir = tmp_path / "logs"
    logdir.mkdir()
    env = {**service_env(postgres_url, redis_server.url), **smtp}
    web, base = web_server(env, logdir)
    workers = [
        flask_process(f"worker{slot}", ["rq-worker", "--lease", "8"], env, logdir) for slot in range(3)
    ]
    schedulers = [
        flask_process(
            f"scheduler{n}",
            ["scheduler", "--interval", "0.5", "--lock-ttl", "10", "--resend-after", "5"],
            env,
            logdir,
        )
        for n in range(2)
    ]
    for proc in [*workers, *schedulers]:
        proc.start()
    for worker in workers:
        wait_for(lambda w=worker: w.logged("Listening on"), 120, f"{worker.name} to listen", every=0.5)
    stop_clients, stop_chaos = threading.Event(), threading.Event()
    people = clients(base, stop_clients)
    chaos_log: list[str] = []
    progress = {"done": 0, "jobs": 0}
    ours_ids = select(Request.instance_id).where(Request.id > before)

    def finished() -> int:
        with sessions() as session:
            return session.scalar(
                select(func.count()).select_from(Instance).where(ours, Instance.status == "completed")
            )

    def unsettled() -> int:
        """Notifications of our requests still to be delivered, or being delivered."""
        with sessions() as session:
            return session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(
                    Notification.request_id > before,
                    Notification.status.in_(["pending", "sending", "failed"]),
                )
            )

    def jobs_done() -> int:
        with sessions() as session:
            return session.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.instance_id.in_(ours_ids), Job.status == "done")
            )

    # Kills land by progress, not by the clock: at these fractions of the jobs the run will do
    # (eight service tasks per request) a worker that has been working is SIGKILLed (mid-job as
    # likely as not) and restarted; at RESTART_REDIS_AT, Redis is stopped (every queued message
    # lost) and started again. However slow the machine, they all happen while work is in flight.
    expected_jobs = total * len(SERVICE_TASKS_DONE)
    kill_at = [round(expected_jobs * f) for f in (0.08, 0.2, 0.32, 0.45, 0.58, 0.7)]

    def chaos() -> None:
        bounced = False
        pending_kills = list(kill_at)
        while not stop_chaos.wait(0.3):
            done = progress["jobs"]
            if pending_kills and done >= pending_kills[0]:
                ready = [slot for slot, w in enumerate(workers) if w.running and w.logged("Job OK")]
                if ready:
                    pending_kills.pop(0)
                    slot = rng.choice(ready)
                    workers[slot].kill()
                    chaos_log.append(f"SIGKILL worker{slot} at {done}/{expected_jobs} jobs")
                    stop_chaos.wait(rng.uniform(0.2, 1.0))
                    workers[slot].start()
            if not bounced and done >= expected_jobs * RESTART_REDIS_AT:
                redis_server.stop()
                chaos_log.append(f"redis stopped at {done}/{expected_jobs} jobs")
                stop_chaos.wait(3)
                redis_server.start()
                chaos_log.append("redis started")
                bounced = True

    def feed() -> None:
        with app.app_context():
            for n in range(total):
                subject, body = rng.choices(SUBJECTS, WEIGHTS)[0]
                email = f"client{n}@example.org" if n % 2 else None
                open_request(channel="web", subject=f"{subject} #{n}", body=body, requester_email=email)

    started = time.monotonic()
    feeder = threading.Thread(target=feed, daemon=True)
    chaos_thread = threading.Thread(target=chaos, daemon=True)
    # The run ends as soon as everything is done; it gives up only when nothing moves (no job,
    # instance or notification settles) for STALL seconds, which is load-proof: a slow machine
    # is slow, not stalled. The leases (8 s jobs, 10 s outbox) and resend (5 s) bound any wait.
    stall = float(os.environ.get("SCALE_CRASH_STALL", "120"))
    try:
        feeder.start()
        for person in people:
            person.start()
        chaos_thread.start()
        last, moved = None, time.monotonic()
        while True:
            progress["jobs"], progress["done"], left = jobs_done(), finished(), unsettled()
            if progress["done"] >= total * 0.9 and len(chaos_log) >= len(kill_at) + 2:
                stop_chaos.set()
            if progress["done"] >= total and not feeder.is_alive() and not left:
                break
            now = (progress["jobs"], progress["done"], left)
            if now != last:
                last, moved = now, time.monotonic()
            elif time.monotonic() - moved > stall:
                break  # check_final_state below names what is stuck
            time.sleep(0.5)
        stop_chaos.set()
        chaos_thread.join(30)
        elapsed = time.monotonic() - started
    finally:
        stop_clients.set()
        stop_chaos.set()
        for person in people:
            person.join(30)
        for proc in [*workers, *schedulers, web]:
            proc.kill(signal.SIGTERM)
    statuses = sum((p.statuses for p in people), Counter())
    kills = sum(1 for e in chaos_log if e.startswith("SIGKILL"))
    print(f"\n{total} requests in {elapsed:.1f}s; {kills} workers killed; HTTP completes {dict(statuses)}")
    assert any(e.startswith("redis stopped") for e in chaos_log) and "redis started" in chaos_log, chaos_log
    assert kills == len(kill_at), chaos_log
    if progress["done"] < total:
        print(f"no progress for {stall:.0f}s: {progress['done']}/{total} instances completed")
    client_errors = [f"{p.user}: {e}" for p in people for e in p.errors]
    print(f"client errors: {len(client_errors)}; first: {client_errors[:5]}")
    assert not [e for e in client_errors if ": list:" not in e], client_errors[:10]
    with sessions() as session:
        check_final_state(session, before, total, statuses, mailbox, logdir)


def seed_without_samples(database_url: str) -> int:
    """The seeded desk (the template copy: bpmn/ deployed, demo seed) with the sample requests'
    processes cancelled, as `seed_demo_for_load` leaves it; the last seeded request id."""
    seeding = seed_desk(make_app(database_url))
    runtime = seeding.extensions["runtime"]
    with seeding.app_context():
        with seeding.extensions["sessions"]() as session:
            samples = session.scalars(select(Instance.id).where(Instance.status == "running")).all()
            before = session.scalar(select(func.max(Request.id))) or 0
        for instance_id in samples:
            runtime.cancel(instance_id, reason="not part of the crash test")
    seeding.extensions["db_engine"].dispose()
    return before


def check_final_state(
    session, before: int, total: int, statuses: Counter, mailbox: Mailbox, logdir: Path
) -> None:
    """Every instance finished; every job, task and notification exactly once; history matches."""
    requests_ = session.scalars(select(Request).where(Request.id > before)).all()
    assert len(requests_) == total
    instances = session.scalars(
        select(Instance).where(Instance.id.in_([r.instance_id for r in requests_]))
    ).all()
    ids = {i.id for i in instances}
    by_status = Counter(i.status for i in instances)
    waiting = Counter(
        session.scalars(
            select(UserTask.element_id).where(UserTask.instance_id.in_(ids), UserTask.status == "open")
        )
    )
    pending = Counter(
        session.execute(
            select(Job.topic, Job.status).where(Job.instance_id.in_(ids), Job.status != "done")
        ).all()
    )
    stuck = [
        (
            i.id,
            i.waiting,
            [
                (h.kind, h.element_id)
                for h in session.scalars(
                    select(HistoryEvent).where(HistoryEvent.instance_id == i.id).order_by(HistoryEvent.id)
                )
            ][-4:],
        )
        for i in instances
        if i.status != "completed"
    ][:5]
    assert by_status == {"completed": total}, (
        f"stuck: {stuck}; {by_status}; open tasks {waiting}; jobs {pending}; logs {logdir}"
    )
    assert (
        session.scalar(select(func.count()).select_from(Incident).where(Incident.instance_id.in_(ids))) == 0
    )

    jobs = session.scalars(select(Job).where(Job.instance_id.in_(ids))).all()
    assert Counter(j.status for j in jobs) == {"done": len(jobs)}, "no job lost, failed or left running"
    calls = session.scalars(
        select(HistoryEvent).where(
            HistoryEvent.kind == "service_task_called", HistoryEvent.instance_id.in_(ids)
        )
    ).all()
    per_job = Counter((h.data or {}).get("job_id") for h in calls)
    twice = {job_id: n for job_id, n in per_job.items() if n != 1}
    assert not twice, f"jobs completed more than once: {twice}"
    assert set(per_job) == {j.id for j in jobs}, "every job completed exactly once, none lost"
    per_element = Counter((h.instance_id, h.element_id) for h in calls)
    for inst in instances:
        for element in SERVICE_TASKS_DONE:
            assert per_element[(inst.id, element)] == 1, f"{element} on {inst.id}"

    lifecycle = Counter(
        (h.instance_id, h.kind)
        for h in session.scalars(
            select(HistoryEvent).where(
                HistoryEvent.instance_id.in_(ids),
                HistoryEvent.kind.in_(["instance_started", "instance_ended"]),
            )
        )
    )
    for inst in instances:
        assert lifecycle[(inst.id, "instance_started")] == 1 and lifecycle[(inst.id, "instance_ended")] == 1

    tasks = session.scalars(select(UserTask).where(UserTask.instance_id.in_(ids))).all()
    assert Counter(t.status for t in tasks) == {"completed": len(tasks)}
    completed = Counter(
        h.task_id
        for h in session.scalars(
            select(HistoryEvent).where(
                HistoryEvent.kind == "task_completed", HistoryEvent.instance_id.in_(ids)
            )
        )
    )
    assert completed == Counter({t.id: 1 for t in tasks}), "one completion per user task"
    assert statuses[204] == len(tasks), "every HTTP 204 completed a task, and only one client did"

    assert Counter(r.status for r in requests_) == {"done": total}
    assert all(r.processing_bucket and r.done_at for r in requests_)
    desk_tasks = Counter(t.request_id for t in session.scalars(select(Task)))
    assert all(desk_tasks[r.id] == 1 for r in requests_), "create_task ran once per request"
    changes: dict[int, list[str]] = {}
    for change in session.scalars(select(StatusChange).order_by(StatusChange.id)):
        changes.setdefault(change.request_id, []).append(change.to_status)
    for r in requests_:
        assert changes[r.id][-3:] == ["assigned", "in_progress", "done"], (r.number, changes[r.id])

    notes = session.scalars(
        select(Notification).where(Notification.request_id.in_([r.id for r in requests_]))
    ).all()
    assert all(n == 1 for n in Counter(n.idempotency_key for n in notes).values())
    per_request = Counter((n.request_id, n.template, n.recipient) for n in notes)
    assert all(n == 1 for n in per_request.values()), "one notification per request, template, recipient"
    assert {t for _, t, _ in per_request} == {"task_assigned", "request_resolved"}
    in_app = [n for n in notes if n.channel == "in_app"]
    emails = [n for n in notes if n.channel == "email"]
    assert len(emails) == 2 * (total // 2), "the requester is told of the assignment and the resolution"
    assert Counter(n.status for n in in_app) == {"sent": len(in_app)}
    # A sender killed between SMTP's DATA and recording the outcome leaves "unconfirmed":
    # such a row is never resent blindly, so it reached the mailbox at most once.
    mail_statuses = Counter(n.status for n in emails)
    assert set(mail_statuses) <= {"sent", "unconfirmed"}, mail_statuses
    for note in emails:
        received = mailbox.received[note.message_id]
        if note.status == "sent":
            assert received == 1, f"{note.idempotency_key} delivered {received} times"
        else:
            assert received <= 1, f"{note.idempotency_key} delivered {received} times"
    print(f"notifications: in-app {len(in_app)}, e-mail {dict(mail_statuses)}")


@pytest.mark.services
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_honcho_starts_the_whole_product_from_the_procfile(postgres_url, redis_server, tmp_path):
    before = seed_without_samples(postgres_url)
    port = free_port()
    env = {
        **service_env(postgres_url, redis_server.url),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "WEB_CONCURRENCY": "1",
    }
    honcho = Process(
        "honcho",
        [str(BIN / "honcho"), "start", "--no-colour", "-f", "Procfile", "-p", str(port), "-c", "worker=2"],
        env,
        tmp_path,
    )
    honcho.start()
    app = make_app(postgres_url, REDIS_URL=redis_server.url, INLINE_JOBS=False)
    try:

        def healthy() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(healthy, 120, f"the Procfile's web on port {port} (log: {honcho.log})", every=0.5)

        def workers_and_scheduler() -> bool:
            result = app.test_cli_runner().invoke(args=["health", "--json"])
            return result.exit_code == 0 and '"alive": 2' in result.output

        wait_for(workers_and_scheduler, 120, f"two live workers and a scheduler (log: {honcho.log})", every=1)
        http = requests.Session()
        http.auth = ("dispatcher", "demo")
        with app.app_context():
            request = open_request(
                channel="web", subject="Не работает интернет", body="Нет сети", requester_email=KNOWN_CLIENT
            )

        def dispatch_task() -> list:
            return http.get(
                f"http://127.0.0.1:{port}/engine-rest/task",
                params={"processInstanceBusinessKey": request.number},
                timeout=10,
            ).json()

        [task] = wait_for(dispatch_task, 120, "the workers to bring the request to dispatch", every=0.5)
        assert task["taskDefinitionKey"] == "Task_Dispatch"
        with app.extensions["sessions"]() as session:
            assert session.get(Request, request.id).category == "network"
            assert request.id > before
    finally:
        honcho.kill(signal.SIGTERM)
        app.extensions["db_engine"].dispose()
    output = honcho.log.read_text()
    for name in ("web.1", "worker.1", "worker.2", "scheduler.1"):
        assert f"{name} " in output or f"{name}|" in output or f"{name}  " in output, name


def test_parallel_approval_finishes_when_its_votes_land_on_different_processes(database_url):
    """Two web or RQ worker processes each hold their own parsed definition: the vote that
    completes a multi-instance approval may land on one that never created its children."""
    first, second = make_app(database_url), make_app(database_url)
    with first.app_context():
        deploy_paths([PROJECT / "bpmn"])
        seed_demo()
        request = open_request(
            channel="web",
            subject="Купить новый монитор",
            body="Прошу закупить монитор.",
            requester_email=KNOWN_CLIENT,
        )
    sessions = first.extensions["sessions"]

    def open_tasks(element: str) -> list[UserTask]:
        with sessions() as session:
            return session.scalars(
                select(UserTask).where(
                    UserTask.business_key == request.number,
                    UserTask.element_id == element,
                    UserTask.status == "open",
                )
            ).all()

    [dispatch] = open_tasks("Task_Dispatch")
    first.extensions["runtime"].complete(dispatch.id, "dispatcher", {"executor": "executor"})
    one, two = open_tasks("Task_Approve")
    first.extensions["runtime"].complete(one.id, one.assignee, {"approved": True})
    with second.app_context():
        second.extensions["runtime"].complete(two.id, two.assignee, {"approved": True})
    [resolve] = open_tasks("Task_Resolve")
    assert resolve.assignee == "executor"
    for app in (first, second):
        app.extensions["db_engine"].dispose()


@pytest.mark.postgres
def test_two_clients_completing_one_task_at_once_get_one_success_and_one_409(postgres_url, tmp_path):
    """Over HTTP, on a real server with two processes: one completion wins, the other is told 409."""
    seed_without_samples(postgres_url)
    app = make_app(postgres_url)
    with app.app_context():
        numbers = [
            open_request(
                channel="web",
                subject=f"Не работает интернет #{n}",
                body="Нет сети",
                requester_email=KNOWN_CLIENT,
            ).number
            for n in range(8)
        ]
    web, base = web_server(service_env(postgres_url, None), tmp_path)
    try:
        outcomes = []
        for number in numbers:
            dispatcher, admin = requests.Session(), requests.Session()
            dispatcher.auth, admin.auth = ("dispatcher", "demo"), ("admin", "demo")
            [task] = dispatcher.get(
                f"{base}/engine-rest/task", params={"processInstanceBusinessKey": number}, timeout=30
            ).json()
            barrier = threading.Barrier(2)
            codes: list[int] = []

            def complete(
                http: requests.Session, task_id: str, barrier: threading.Barrier, codes: list
            ) -> None:
                body = {"variables": {"executor": {"value": "executor"}}}
                barrier.wait()
                response = http.post(f"{base}/engine-rest/task/{task_id}/complete", json=body, timeout=60)
                codes.append(response.status_code)

            both = [
                threading.Thread(target=complete, args=(http, task["id"], barrier, codes))
                for http in (dispatcher, admin)
            ]
            for thread in both:
                thread.start()
            for thread in both:
                thread.join(90)
            outcomes.append(sorted(codes))
        assert outcomes == [[204, 409]] * len(numbers)
        with app.extensions["sessions"]() as session:
            completions = session.scalars(
                select(HistoryEvent.task_id).where(
                    HistoryEvent.kind == "task_completed",
                    HistoryEvent.instance_id.in_(
                        select(Request.instance_id).where(Request.number.in_(numbers))
                    ),
                )
            ).all()
            assert len(completions) == len(set(completions)) == len(numbers), "each task completed once"
    finally:
        web.kill(signal.SIGTERM)
        app.extensions["db_engine"].dispose()
