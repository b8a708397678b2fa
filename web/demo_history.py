"""Three months of closed requests for the demo, so reports and the heat map have shape on first run.

The requests are what the legacy import would store for a real desk's history: the same derived
facts (pickup, processing in working minutes, SLA met, time in stage) computed by
desk.legacy.mapping.derive_request from creation, pickup and done times. Seeded, so every demo
looks the same; idempotent, because each row carries an `external_id` ("demo-history:N").
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from desk import crm
from desk.legacy.mapping import MappingContext, derive_request
from desk.models import Request

PREFIX = "demo-history:"
DAYS = 91
SEED = 20261123
MSK = ZoneInfo("Europe/Moscow")
# (category, weight, subjects): what an office IT desk hears about, most frequent first.
CATEGORIES = (
    ("printer", 18, ("Не печатает принтер", "Замятие бумаги в МФУ", "Закончился картридж")),
    ("accounts", 14, ("Сбросить пароль", "Заблокирована учётная запись", "Создать учётку новому сотруднику")),
    ("network", 12, ("Нет интернета", "Не подключается Wi-Fi", "Медленно работает сеть")),
    ("software", 11, ("Установить программу", "Не открывается Excel", "Обновить браузер")),
    ("1c", 10, ("Ошибка в 1С", "1С не запускается", "Не проводится документ в 1С")),
    ("email", 9, ("Не приходит почта", "Настроить почту на телефоне", "Переполнен почтовый ящик")),
    ("access", 8, ("Доступ к папке", "Доступ к CRM", "Права на сетевой диск")),
    ("hardware", 8, ("Сломалась мышь", "Не включается монитор", "Шумит ноутбук")),
    ("telephony", 5, ("Не работает телефон", "Настроить переадресацию", "Нет гудка")),
    ("purchases", 5, ("Купить монитор", "Закупить клавиатуры", "Нужен новый ноутбук")),
)
CHANNELS = (("email", 5), ("web", 3), ("phone", 2))
PRIORITIES = (("normal", 7), ("high", 2), ("low", 1))
EXECUTORS = ("executor", "executor2")


def _pick(rng: random.Random, weighted) -> object:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def history_rows(now: datetime, days: int = DAYS, seed: int = SEED) -> list[dict]:
    """The history's request rows (values for `Request`), oldest first; pure given the clock."""
    rng = random.Random(seed)
    ctx = MappingContext()
    first_day = (now.astimezone(MSK) - timedelta(days=days)).date()
    rows: list[dict] = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        weekend = day.weekday() >= 5
        # Busier on Mondays, a slow trickle at weekends, a slight growth over the quarter.
        count = rng.randint(0, 3) if weekend else rng.randint(10, 18) + (5 if day.weekday() == 0 else 0)
        count += offset // 30
        for _ in range(count):
            hour = rng.uniform(8.0, 19.0) if not weekend else rng.uniform(10.0, 17.0)
            created = datetime.combine(day, time(0), tzinfo=MSK) + timedelta(hours=hour)
            if created >= now - timedelta(hours=2):
                continue
            category, _weight, subjects = CATEGORIES[
                rng.choices(range(len(CATEGORIES)), weights=[c[1] for c in CATEGORIES])[0]
            ]
            priority = str(_pick(rng, PRIORITIES))
            late_pickup = rng.random() < 0.12
            taken = created + timedelta(minutes=rng.uniform(20, 240) if late_pickup else rng.uniform(1, 14))
            # Working time to resolve: most within hours, a tail of days (waiting for parts, approvals).
            effort = rng.lognormvariate(4.6, 1.0) * (0.6 if priority == "high" else 1.0)
            if rng.random() < 0.08:  # stuck: waiting for a part, a vendor, an approval
                effort = rng.lognormvariate(7.2, 0.5)
            done = taken + timedelta(minutes=effort if effort < 240 else effort * 3)
            if done >= now:
                continue
            facts = derive_request(created.astimezone(MSK), taken, done, category, priority, ctx)
            rows.append(
                {
                    "channel": str(_pick(rng, CHANNELS)),
                    "subject": rng.choice(subjects),
                    "body": "",
                    "category": category,
                    "priority": priority,
                    "status": "closed",
                    "assignee": rng.choice(EXECUTORS),
                    "created_at": created,
                    "closed_at": done,
                    **facts,
                }
            )
    return rows


def seed_history(session: Session, now: datetime) -> int:
    """Store the history once (a second run adds nothing); returns how many requests were added."""
    present = session.scalar(
        select(func.count()).select_from(Request).where(Request.external_id.like(f"{PREFIX}%"))
    )
    if present:
        return 0
    added = []
    for i, values in enumerate(history_rows(now)):
        row = Request(external_id=f"{PREFIX}{i}", **values)
        session.add(row)
        added.append(row)
    session.flush()
    for row in added:
        row.number = crm.request_number(row.id)
    return len(added)
