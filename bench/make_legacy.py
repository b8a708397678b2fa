"""Write a realistic legacy export of service requests, as an old help desk would have produced it.

Russian column names and people, companies, phones typed every way people type
them, categories and statuses in the old system's words, three years of dates
(nights, weekends and public holidays included) in mixed formats, and about 2%
bad rows: impossible dates, unknown categories, duplicate ids, lines in the
wrong encoding, a done date before creation. Seeded, so the same arguments give
the same bytes.

    .venv/bin/python bench/make_legacy.py --rows 290000 --out /tmp/legacy.csv
    .venv/bin/python bench/make_legacy.py --rows 1000 --encoding cp1251 --delimiter , --out x.csv
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

MSK = ZoneInfo("Europe/Moscow")
START = datetime(2023, 1, 1, tzinfo=MSK)
DAYS = 3 * 365
HEADER = [
    "Номер",
    "Дата создания",
    "Тема",
    "Описание",
    "Статус",
    "Категория",
    "Приоритет",
    "Канал",
    "Клиент",
    "E-mail",
    "Телефон",
    "Компания",
    "Исполнитель",
    "Взято в работу",
    "Решено",
    "Закрыто",
]
FIRST = (
    "Александр Алексей Андрей Дмитрий Сергей Иван Михаил Николай Ольга Елена Татьяна Наталья Анна Мария Ирина"
).split()
LAST = (
    "Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Фёдоров Морозов Волков Лебедев"
).split()
PATRONYMIC = "Александрович Сергеевич Иванович Петрович Андреевич Дмитриевич Николаевич".split()
LATIN = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        "a b v g d e e zh z i y k l m n o p r s t u f h ts ch sh sch  y  e yu ya".split(" "),
        strict=False,
    )
)  # noqa: E501
COMPANY_WORDS = (
    "Ромашка Вектор Альфа Сигма Гранит Восход Меридиан Прогресс Стройтех Инфосервис Северянин Техноком"
).split()
FORMS = ("ООО", "АО", "ИП", "ПАО")
EXECUTORS = [f"{last} {first[0]}." for last, first in zip(LAST[:12], FIRST[:12], strict=True)]
CATEGORIES = {
    "Принтеры и МФУ": ["Не печатает принтер", "Замятие бумаги в МФУ", "Не сканирует МФУ"],
    "Сеть и интернет": ["Нет интернета", "Не работает Wi-Fi", "Медленная сеть"],
    "Доступы": ["Нужен доступ к папке", "Доступ к CRM", "Права на сетевой диск"],
    "Учётные записи": ["Сбросить пароль", "Заблокирована учётная запись", "Новый сотрудник"],
    "Оборудование": ["Не включается компьютер", "Сломалась мышь", "Заменить монитор"],
    "Программы": ["Установить программу", "Ошибка в Excel", "Обновить антивирус"],
    "1С": ["1С не запускается", "Ошибка лицензии 1С", "Не проводится документ в 1С"],
    "Почта": ["Не приходит почта", "Переполнен ящик", "Настроить почту на телефоне"],
    "Телефония": ["Не работает телефон", "Настроить переадресацию", "Плохая связь"],
    "Закупки": ["Купить ноутбук", "Закупить картриджи", "Заказать гарнитуру"],
}
UNKNOWN_CATEGORIES = ["Бухгалтерия (старое)", "Прочее_2019", "ХОЗ. ЧАСТЬ"]
CHANNELS = ["E-mail", "Телефон", "Веб-форма", "Почта"]
PRIORITIES = ["Средний"] * 6 + ["Высокий"] * 2 + ["Низкий"] * 2
OPEN_STATUSES = ["Новая", "В работе", "Назначена", "Ожидает"]
HOLIDAYS = {(1, d) for d in range(1, 9)} | {(2, 23), (3, 8), (5, 1), (5, 9), (6, 12), (11, 4)}


def _translit(text: str) -> str:
    return "".join(LATIN.get(c, c) for c in text.lower())


def _phone(rng: random.Random, digits: str) -> str:
    a, b, c, d = digits[:3], digits[3:6], digits[6:8], digits[8:]
    style = rng.randrange(6)
    return [
        f"+7 ({a}) {b}-{c}-{d}",
        f"8 {a} {b}{c}{d}",
        f"8{a}{b}{c}{d}",
        f"+7{a}{b}{c}{d}",
        f"({a}) {b}-{c}-{d}",
        f"8-{a}-{b}-{c}-{d}",
    ][style]


def _people(rng: random.Random, count: int, companies: list[str]) -> list[tuple[str, str, str, str]]:
    people = []
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        patronymic = rng.choice(PATRONYMIC)
        if first.endswith(("а", "я")):
            last, patronymic = last + "а", patronymic.removesuffix("ич") + "на"
        name = f"{last} {first} {patronymic}"
        domain = rng.choice(["mail.ru", "yandex.ru", "corp.ru", "gmail.com"])
        email = f"{_translit(first)}.{_translit(last)}{i}@{domain}"
        digits = f"9{rng.randrange(10**9):09d}"
        people.append((name, email, digits, rng.choice(companies)))
    return people


def _when(rng: random.Random) -> datetime:
    """Mostly working hours on weekdays; some nights, weekends and holidays, as real traffic has."""
    day = START + timedelta(days=rng.randrange(DAYS))
    if rng.random() < 0.85:
        while day.weekday() >= 5 or (day.month, day.day) in HOLIDAYS:
            day += timedelta(days=1)
        minute = rng.randrange(9 * 60, 18 * 60)
    else:
        minute = rng.randrange(24 * 60)
    return day.replace(hour=minute // 60, minute=minute % 60, second=rng.randrange(60))


def _fmt(rng: random.Random, t: datetime) -> str:
    style = rng.random()
    if style < 0.55:
        return t.strftime("%d.%m.%Y %H:%M")
    if style < 0.75:
        return t.strftime("%d.%m.%Y %H:%M:%S")
    if style < 0.9:
        return t.isoformat(timespec="seconds")
    if style < 0.97:
        return t.strftime("%Y-%m-%d %H:%M:%S")
    months = "января февраля марта апреля мая июня июля августа сентября октября ноября декабря".split()
    return f"{t.day} {months[t.month - 1]} {t.year} г. {t:%H:%M}"


def rows(count: int, seed: int = 20261123, bad_share: float = 0.02) -> Iterator[tuple[list[str], str | None]]:
    """Yield (row, broken) where broken names the defect planted in a bad row (None for a good one)."""
    rng = random.Random(seed)
    companies = [
        f"{rng.choice(FORMS)} «{w}{'' if i < 12 else f'-{i}'}»" for i, w in enumerate(COMPANY_WORDS * 70)
    ]
    people = _people(rng, max(50, count // 15), companies)
    for n in range(1, count + 1):
        external = f"HD-{n:07d}"
        created = _when(rng)
        category = rng.choice(list(CATEGORIES))
        subject = rng.choice(CATEGORIES[category])
        name, email, digits, company = rng.choice(people)
        taken = created + timedelta(minutes=rng.choice([rng.randrange(1, 15)] * 3 + [rng.randrange(15, 600)]))
        done = taken + timedelta(minutes=rng.choice([rng.randrange(5, 120), rng.randrange(60, 3000)]))
        if rng.random() < 0.88:
            status = rng.choice(["Закрыта", "Закрыта", "Решена", "Отклонена"])
            done_text, closed_text = _fmt(rng, done), _fmt(rng, done + timedelta(hours=2))
            if status != "Закрыта":
                closed_text = ""
        else:
            status = rng.choice(OPEN_STATUSES)
            done_text = closed_text = ""
            if status == "Новая":
                taken = None
        row = [
            external,
            _fmt(rng, created),
            subject,
            f"{subject}. {name.split()[1]}, {company}, каб. {rng.randrange(100, 500)}.",
            status,
            category,
            rng.choice(PRIORITIES),
            rng.choice(CHANNELS),
            name,
            email if rng.random() < 0.8 else "",
            _phone(rng, digits) if rng.random() < 0.7 else "",
            company,
            rng.choice(EXECUTORS) if taken else "",
            _fmt(rng, taken) if taken else "",
            done_text,
            closed_text,
        ]
        broken = None
        if rng.random() < bad_share:
            broken = rng.choice(["date", "category", "duplicate", "encoding", "order"])
            if broken == "date":
                row[1] = rng.choice(
                    ["31.02.2024 10:00", "2024-13-05 09:00:00", "30.02.2023", "32.01.2025 12:00"]
                )
            elif broken == "category":
                row[5] = rng.choice(UNKNOWN_CATEGORIES)
            elif broken == "duplicate" and n > 1:
                row[0] = f"HD-{rng.randrange(1, n):07d}"
            elif broken == "order" and done_text:
                row[14] = _fmt(rng, created - timedelta(days=3))
            elif broken != "encoding":
                broken = None
        yield row, broken


def write(
    path: Path,
    count: int,
    *,
    encoding: str = "utf-8",
    delimiter: str = ";",
    fmt: str = "csv",
    seed: int = 20261123,
) -> dict[str, int]:  # noqa: E501
    """Write the export; returns how many bad rows of each defect it planted."""
    planted: dict[str, int] = {}
    other = "cp1251" if encoding == "utf-8" else "utf-8"
    with path.open("wb") as out:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
        if fmt == "csv":
            writer.writerow(HEADER)
        for row, broken in rows(count, seed):
            if broken:
                planted[broken] = planted.get(broken, 0) + 1
            if fmt == "csv":
                writer.writerow(row)
            else:
                buffer.write(json.dumps(dict(zip(HEADER, row, strict=True)), ensure_ascii=False) + "\n")
            if broken == "encoding":
                text = buffer.getvalue()
                last = text.rstrip("\n").rfind("\n") + 1
                out.write(text[:last].encode(encoding))
                out.write(text[last:].encode(other))
                buffer.seek(0)
                buffer.truncate()
            elif buffer.tell() > 1 << 20:
                out.write(buffer.getvalue().encode(encoding))
                buffer.seek(0)
                buffer.truncate()
        out.write(buffer.getvalue().encode(encoding))
    return planted


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=290_000)
    parser.add_argument("--out", type=Path, default=Path("legacy_requests.csv"))
    parser.add_argument("--encoding", choices=["utf-8", "cp1251"], default="utf-8")
    parser.add_argument("--delimiter", default=";")
    parser.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args()
    planted = write(
        args.out, args.rows, encoding=args.encoding, delimiter=args.delimiter, fmt=args.format, seed=args.seed
    )
    print(f"{args.out}: {args.rows} rows, bad rows planted: {sum(planted.values())} {planted}")


if __name__ == "__main__":
    main()
