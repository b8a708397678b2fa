"""Per-row mapping of legacy exports: pure functions from a row's text values to the desk's values.

Everything a run decides about one row is here and takes plain values: the
column names the export used (Russian or English), dates in the formats people
and old systems write ("31.12.2024 14:05", "5 марта 2024 г.", ISO 8601), legacy
statuses and categories through the mapping table, e-mails and phones (E.164)
for contact matching, and the derived SLA facts of a historical request
(arrival, pickup, processing minutes and bucket on the `support` calendar,
resolve-by and whether it was met). A row that cannot be mapped raises
`RowError` naming the field, the value and what to do, which becomes the
staging row's FAILED message.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from desk import sla
from desk.calendar import DEFAULT_CALENDARS, Calendar
from desk.legacy.errors import InvalidMappingError, RowError
from desk.models import STATUSES
from desk.phones import try_normalize_phone

__all__ = [
    "DEFAULT_MAPPINGS",
    "ContactRef",
    "MappedRequest",
    "MappingContext",
    "Mappings",
    "canonical",
    "derive_request",
    "digest",
    "header_fields",
    "map_company",
    "map_contact",
    "map_deal",
    "map_request",
    "normalize_key",
    "parse_datetime",
]

MOSCOW = ZoneInfo("Europe/Moscow")
CLOSED = frozenset(("done", "closed", "rejected"))
PRIORITIES = ("high", "normal", "low")
MAPPED_FIELDS = ("status", "category", "priority", "channel", "assignee")

ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "requests": {
        "external_id": ("id", "external_id", "номер", "№", "номер обращения", "ид", "код"),
        "created_at": ("created", "created_at", "дата создания", "создано", "создана", "дата"),
        "subject": ("subject", "title", "тема", "заголовок"),
        "body": ("body", "description", "описание", "текст", "текст обращения"),
        "status": ("status", "статус", "состояние"),
        "category": ("category", "категория", "тип"),
        "priority": ("priority", "приоритет", "важность"),
        "channel": ("channel", "source", "канал", "источник"),
        "client_name": ("client", "client_name", "contact", "клиент", "контакт", "фио", "заявитель"),
        "email": ("email", "e-mail", "почта", "эл. почта", "электронная почта"),
        "phone": ("phone", "телефон", "тел."),
        "company": ("company", "компания", "организация", "контрагент"),
        "assignee": ("assignee", "executor", "исполнитель", "ответственный"),
        "taken_at": ("taken", "taken_at", "взято в работу", "дата взятия в работу", "взята в работу"),
        "done_at": ("done", "done_at", "resolved", "решено", "дата решения", "выполнено"),
        "closed_at": ("closed", "closed_at", "закрыто", "дата закрытия"),
    },
    "contacts": {
        "external_id": ("id", "external_id", "ид", "код"),
        "name": ("name", "fio", "фио", "имя", "контакт"),
        "email": ("email", "e-mail", "почта", "эл. почта"),
        "phone": ("phone", "phones", "телефон", "телефоны"),
        "company": ("company", "компания", "организация", "контрагент"),
        "responsible": ("responsible", "ответственный", "менеджер"),
        "created_at": ("created", "created_at", "дата создания", "создан"),
    },
    "companies": {
        "external_id": ("id", "external_id", "ид", "код"),
        "name": ("name", "название", "наименование", "компания"),
        "inn": ("inn", "инн"),
    },
    "deals": {
        "external_id": ("id", "external_id", "ид", "код"),
        "title": ("title", "name", "название", "сделка"),
        "amount": ("amount", "sum", "сумма"),
        "responsible": ("responsible", "ответственный", "менеджер"),
        "status": ("status", "статус", "стадия"),
        "updated_at": ("updated", "updated_at", "изменено", "дата изменения"),
        "contacts": ("contacts", "contact_ids", "контакты"),
    },
}

DEFAULT_MAPPINGS: dict[str, dict[str, str]] = {
    "status": {
        "new": "new",
        "новая": "new",
        "новое": "new",
        "открыта": "new",
        "зарегистрирована": "new",
        "triage": "triage",
        "на разборе": "triage",
        "assigned": "assigned",
        "назначена": "assigned",
        "назначено": "assigned",
        "in_progress": "in_progress",
        "в работе": "in_progress",
        "выполняется": "in_progress",
        "waiting": "waiting",
        "ожидает": "waiting",
        "ожидание": "waiting",
        "отложена": "waiting",
        "done": "done",
        "решена": "done",
        "решено": "done",
        "выполнена": "done",
        "выполнено": "done",
        "closed": "closed",
        "закрыта": "closed",
        "закрыто": "closed",
        "rejected": "rejected",
        "отклонена": "rejected",
        "отклонено": "rejected",
        "отменена": "rejected",
    },  # fmt: skip
    "category": {
        "printer": "printer",
        "принтеры": "printer",
        "принтеры и мфу": "printer",
        "печать": "printer",
        "network": "network",
        "сеть": "network",
        "сеть и интернет": "network",
        "интернет": "network",
        "access": "access",
        "доступ": "access",
        "доступы": "access",
        "права доступа": "access",
        "accounts": "accounts",
        "учетные записи": "accounts",
        "пароли": "accounts",
        "hardware": "hardware",
        "оборудование": "hardware",
        "железо": "hardware",
        "software": "software",
        "по": "software",
        "программы": "software",
        "программное обеспечение": "software",
        "1c": "1c",
        "1с": "1c",
        "1с:предприятие": "1c",
        "email": "email",
        "почта": "email",
        "электронная почта": "email",
        "telephony": "telephony",
        "телефония": "telephony",
        "связь": "telephony",
        "purchases": "purchases",
        "закупки": "purchases",
        "закупка": "purchases",
    },  # fmt: skip
    "priority": {
        "high": "high",
        "высокий": "high",
        "срочный": "high",
        "критичный": "high",
        "normal": "normal",
        "средний": "normal",
        "обычный": "normal",
        "нормальный": "normal",
        "low": "low",
        "низкий": "low",
    },  # fmt: skip
    "channel": {
        "email": "email",
        "e-mail": "email",
        "почта": "email",
        "электронная почта": "email",
        "phone": "phone",
        "телефон": "phone",
        "звонок": "phone",
        "web": "web",
        "веб-форма": "web",
        "сайт": "web",
        "портал": "web",
        "legacy": "legacy",
    },  # fmt: skip
}

_SPACES = re.compile(r"\s+")
_PLAIN_PHONE = re.compile(r"\+?[0-9 ()\-.]+")
_PUNCTUATION = re.compile(r"[ ()\-.]")
_RU_NUMERIC = re.compile(
    r"(\d{1,2})[./](\d{1,2})[./](\d{4}|\d{2})(?:[ T,]+(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?)?"
)
_RU_WORDS = re.compile(
    r"(\d{1,2})\s+([а-яё]+)\.?\s+(\d{4})(?:\s*г(?:ода|\.)?)?(?:[ ,]+(?:в\s+)?(\d{1,2}):(\d{2})(?::(\d{2}))?)?"
)
_MONTHS = {
    "январь": 1, "января": 1, "янв": 1, "февраль": 2, "февраля": 2, "фев": 2, "февр": 2,
    "март": 3, "марта": 3, "мар": 3, "апрель": 4, "апреля": 4, "апр": 4, "май": 5, "мая": 5,
    "июнь": 6, "июня": 6, "июн": 6, "июль": 7, "июля": 7, "июл": 7, "август": 8, "августа": 8,
    "авг": 8, "сентябрь": 9, "сентября": 9, "сен": 9, "сент": 9, "октябрь": 10, "октября": 10,
    "окт": 10, "ноябрь": 11, "ноября": 11, "ноя": 11, "нояб": 11, "декабрь": 12, "декабря": 12,
    "дек": 12,
}  # fmt: skip
_DATE_HINT = "write it as DD.MM.YYYY HH:MM, '5 марта 2024 14:05' or ISO 8601"


def normalize_key(text: str) -> str:
    """The form legacy values and column names are compared in: case, ё/е and spacing do not matter."""
    return _SPACES.sub(" ", text.strip().casefold().replace("ё", "е"))


def header_fields(headers: Iterable[str], kind: str, id_column: str | None = None) -> dict[str, str]:
    """Map the export's column names to the desk's field names; unknown columns are ignored."""
    lookup = {normalize_key(alias): name for name, aliases in ALIASES[kind].items() for alias in aliases}
    found: dict[str, str] = {}
    for header in headers:
        name = (
            "external_id"
            if id_column is not None and header == id_column
            else lookup.get(normalize_key(header))
        )
        if name is not None and name not in found.values():
            found[header] = name
    return found


def canonical(raw: Mapping[str, str], columns: Mapping[str, str]) -> dict[str, str]:
    """A raw row keyed by the desk's field names, values stripped (missing columns are empty)."""
    return {name: (raw.get(header) or "").strip() for header, name in columns.items()}


@dataclass(frozen=True)
class Mappings:
    """Legacy value -> desk value per field: the defaults, overridden by the admin's mapping table."""

    tables: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: DEFAULT_MAPPINGS)

    @classmethod
    def with_overrides(cls, rows: Iterable[tuple[str, str, str]]) -> Mappings:
        tables = {name: dict(values) for name, values in DEFAULT_MAPPINGS.items()}
        for name, source, target in rows:
            tables.setdefault(name, {})[normalize_key(source)] = target
        return cls(tables)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_seen", {})

    def lookup(self, name: str, value: str) -> str:
        """Translate `value` of field `name`, or say exactly which mapping to add."""
        seen: dict[tuple[str, str], str] = self._seen  # type: ignore[attr-defined]
        if (name, value) in seen:
            return seen[(name, value)]
        table = self.tables.get(name, {})
        found = table.get(normalize_key(value))
        if found is not None and len(seen) < 10_000:
            seen[(name, value)] = found
        if found is None:
            known = ", ".join(sorted(set(table.values())))
            raise RowError(
                name,
                f"{name} {value!r} has no mapping (known targets: {known}); add one with "
                f"`flask --app web import map {name} '{value}' TARGET`, then `import retry-failed`",
            )
        return found

    def get(self, name: str, value: str, default: str) -> str:
        return self.tables.get(name, {}).get(normalize_key(value), default)


def check_mapping(name: str, target: str) -> None:
    """Refuse a mapping entry whose target the desk would not accept (run it before saving one)."""
    allowed = {"status": STATUSES, "priority": PRIORITIES}.get(name)
    if name not in MAPPED_FIELDS:
        raise InvalidMappingError(f"Cannot map field {name!r}; mapped fields are {', '.join(MAPPED_FIELDS)}.")
    if allowed is not None and target not in allowed:
        raise InvalidMappingError(f"{name} target {target!r} is not one of {', '.join(allowed)}.")
    if not target or len(target) > (64 if name == "assignee" else 32):
        raise InvalidMappingError(f"{name} target {target!r} must be 1 to 32 characters.")


@dataclass(frozen=True)
class MappingContext:
    """What mapping needs besides the row: mappings, calendars, SLA policies and the export's time zone."""

    mappings: Mappings = field(default_factory=Mappings)
    calendars: Mapping[str, Calendar] = field(default_factory=lambda: DEFAULT_CALENDARS)
    policies: tuple[sla.SlaPolicy, ...] = sla.DEFAULT_POLICIES
    tz: tzinfo = MOSCOW


def parse_datetime(text: str, tz: tzinfo = MOSCOW, label: str = "date") -> datetime | None:
    """Read a date (and optional time) in ISO or common Russian formats; naive times are in `tz`.

    Empty means "not set" (None). An impossible date (31.02, month 13) raises
    `RowError` with the reason, never a silently shifted date.
    """
    value = text.strip()
    if not value:
        return None
    try:
        if len(value) >= 10 and value[4] == "-":
            parsed = datetime.fromisoformat(value)
        elif match := _RU_NUMERIC.fullmatch(value):
            parsed = _from_parts(match.group(1), match.group(2), match.group(3), *match.group(4, 5, 6))
        elif match := _RU_WORDS.fullmatch(value.casefold()):
            month = _MONTHS.get(match.group(2).replace("ё", "е"))
            if month is None:
                raise ValueError(f"{match.group(2)!r} is not a month name")
            parsed = _from_parts(match.group(1), str(month), match.group(3), *match.group(4, 5, 6))
        else:
            raise ValueError("unknown date format")
    except ValueError as err:
        raise RowError(label, f"{label} {value!r} is not a valid date ({err}); {_DATE_HINT}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def _from_parts(day: str, month: str, year: str, hour: str | None, minute: str | None, second: str | None):
    full_year = int(year) if len(year) == 4 else 2000 + int(year)
    return datetime(full_year, int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))


def parse_email(text: str, label: str = "email") -> str | None:
    """A bare lower-case address from "Name <a@b.ru>" or "a@b.ru"; None when empty."""
    value = text.strip()
    if not value:
        return None
    address = (parseaddr(value)[1] if "<" in value else value).strip().lower()
    local, _, domain = address.partition("@")
    if not local or "." not in domain or " " in address or len(address) > 255:
        raise RowError(label, f"{label} {text.strip()!r} is not an e-mail address; fix it or leave it empty")
    return address


def phone_e164(text: str) -> str | None:
    """E.164 of a phone as typed, or None for junk: a bad phone matches nobody but fails no row.

    Exports repeat the same numbers in a few spellings; spellings that differ
    only in spaces, brackets, dots and dashes read the same to libphonenumber,
    so they share one cached answer.
    """
    value = text.strip()
    if not value:
        return None
    return _cached_phone(_PUNCTUATION.sub("", value) if _PLAIN_PHONE.fullmatch(value) else value)


@functools.lru_cache(maxsize=65536)
def _cached_phone(text: str) -> str | None:
    return try_normalize_phone(text)


def phones_e164(text: str) -> list[str]:
    """Every valid number of a cell that may hold several (`,` or `;` separated)."""
    found: list[str] = []
    for part in re.split(r"[;,]", text):
        number = phone_e164(part)
        if number and number not in found:
            found.append(number)
    return found


def digest(values: Mapping[str, Any]) -> str:
    """A short fingerprint of mapped values: an unchanged row on a later run is skipped, not rewritten."""
    return hashlib.blake2b(orjson.dumps(values, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


@dataclass(frozen=True)
class ContactRef:
    """Who sent a request, as the export names them; matched to a contact by e-mail, then phone."""

    name: str
    email: str | None
    phone: str | None
    company: str


@dataclass(frozen=True)
class MappedRequest:
    """The `request` columns of one historical request (no id, number or contact yet) and its sender."""

    values: dict[str, Any]
    contact: ContactRef | None


def map_request(row: Mapping[str, str], ctx: MappingContext) -> MappedRequest:
    """Validate and map one request row, computing its SLA facts as if it had been handled live."""
    created = parse_datetime(row.get("created_at", ""), ctx.tz, "created")
    if created is None:
        raise RowError("created_at", "created date is empty; every request needs its creation date")
    taken = parse_datetime(row.get("taken_at", ""), ctx.tz, "taken")
    done = parse_datetime(row.get("done_at", ""), ctx.tz, "done")
    closed = parse_datetime(row.get("closed_at", ""), ctx.tz, "closed")
    raw_status = row.get("status", "")
    if not raw_status:
        raise RowError("status", "status is empty; give the request's status in the legacy system")
    status = ctx.mappings.lookup("status", raw_status)
    category = ctx.mappings.lookup("category", row["category"]) if row.get("category") else None
    priority = ctx.mappings.lookup("priority", row["priority"]) if row.get("priority") else "normal"
    channel = ctx.mappings.lookup("channel", row["channel"]) if row.get("channel") else "legacy"
    subject, body = row.get("subject", ""), row.get("body", "")
    if not subject and not body:
        raise RowError("subject", "subject and description are both empty; a request needs one of them")
    if status in CLOSED:
        done = done or closed
        if done is None:
            raise RowError(
                "done_at", f"status {raw_status!r} is closed but neither a done nor a closed date is given"
            )
    elif done is not None:
        raise RowError(
            "done_at",
            f"status {raw_status!r} is still open but a done date {row['done_at']!r} is given; "
            f"fix the row or map the status to done/closed",
        )
    _check_order(taken, created, "taken", row.get("taken_at", ""), "created", row["created_at"])
    if taken is not None:
        _check_order(
            done, taken, "done", row.get("done_at") or row.get("closed_at", ""), "taken", row["taken_at"]
        )
    _check_order(
        done, created, "done", row.get("done_at") or row.get("closed_at", ""), "created", row["created_at"]
    )
    email = parse_email(row.get("email", ""))
    phone = phone_e164(row.get("phone", ""))
    assignee_raw = row.get("assignee", "")
    values: dict[str, Any] = {
        "channel": channel,
        "subject": subject[:500],
        "body": body,
        "requester_email": email,
        "category": category,
        "priority": priority,
        "status": status,
        "assignee": ctx.mappings.get("assignee", assignee_raw, assignee_raw)[:64] or None,
        "created_at": created,
        "closed_at": (closed or done) if status == "closed" else None,
        **derive_request(created, taken, done if status in CLOSED else None, category, priority, ctx),
    }
    name = row.get("client_name", "")
    contact = ContactRef(name, email, phone, row.get("company", "")) if (email or phone) else None
    return MappedRequest(values, contact)


def _check_order(
    later: datetime | None, earlier: datetime, name: str, text: str, earlier_name: str, earlier_text: str
) -> None:
    if later is not None and later < earlier:
        raise RowError(f"{name}_at", f"{name} {text!r} is before {earlier_name} {earlier_text!r}")


def derive_request(
    created: datetime,
    taken: datetime | None,
    done: datetime | None,
    category: str | None,
    priority: str,
    ctx: MappingContext,
) -> dict[str, Any]:
    """The derived facts live handling records (desk.crm), computed at once from the history's times.

    Arrival and pickup are on `support`; processing runs from taken (or
    arrival, for a request closed without pickup) to done on `support`;
    resolve-by follows the SLA policy from creation; time in stage counts
    "new" until pickup (or closing) and "assigned" from pickup to done, in the
    shape of `sla.StageTotals.to_dict()`. The working minutes of those stages
    are the pickup and processing minutes themselves: nothing on `support`
    works between creation and arrival.
    """
    handled = sla.handling(created, taken, done, ctx.calendars)
    arrived = handled.arrival
    resolve_by = sla.resolve_by(created, category, priority, ctx.policies, ctx.calendars)
    facts: dict[str, Any] = {
        "arrived_at": arrived,
        "taken_at": taken,
        "done_at": done,
        "resolve_by": resolve_by,
        "pickup_minutes": None,
        "pickup_late": None,
        "pickup_overrun_minutes": None,
        "processing_minutes": None,
        "processing_bucket": None,
        "sla_met": None,
    }
    stages: dict[str, tuple[float, float]] = {}
    if handled.pickup is not None:
        measured = handled.pickup
        facts.update(
            pickup_minutes=round(measured.minutes, 2),
            pickup_late=measured.late,
            pickup_overrun_minutes=round(measured.overrun_minutes, 2),
        )
        stages["new"] = (measured.minutes, _wall_minutes(created, taken))
    if handled.processing_minutes is not None:
        minutes = handled.processing_minutes
        facts.update(
            processing_minutes=round(minutes, 2),
            processing_bucket=sla.bucket(minutes),
            sla_met=done <= resolve_by,
        )
        stages["assigned" if taken is not None else "new"] = (minutes, _wall_minutes(taken or created, done))
    facts["stage_totals"] = {status: [working, wall] for status, (working, wall) in stages.items()}
    facts["status_changed_at"] = done or taken or created
    return facts


def _wall_minutes(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() / 60)


def map_company(row: Mapping[str, str]) -> dict[str, Any]:
    """A company needs a name; an INN, when given, is 10 or 12 digits."""
    name = row.get("name", "")
    if not name:
        raise RowError("name", "company name is empty")
    inn = row.get("inn", "").replace(" ", "") or None
    if inn is not None and (not inn.isdigit() or len(inn) not in (10, 12)):
        raise RowError("inn", f"INN {row['inn']!r} must be 10 or 12 digits")
    return {"name": name[:255], "inn": inn}


def map_contact(row: Mapping[str, str], ctx: MappingContext) -> dict[str, Any]:
    """A contact with its e-mail and every valid phone in E.164 (the first is the lookup key)."""
    email = parse_email(row.get("email", ""))
    phones = phones_e164(row.get("phone", ""))
    name = row.get("name", "")
    if not (name or email or phones):
        raise RowError("name", "contact has no name, no e-mail and no valid phone")
    created = parse_datetime(row.get("created_at", ""), ctx.tz, "created")
    return {
        "name": (name or email or phones[0])[:255],
        "email": email,
        "phones": phones,
        "phone_e164": phones[0] if phones else None,
        "responsible": row.get("responsible", "")[:64] or None,
        "company": row.get("company", ""),
        "created_at": created,
    }


def map_deal(row: Mapping[str, str], ctx: MappingContext) -> dict[str, Any]:
    """A deal with its amount (spaces and a decimal comma allowed) and its contacts' external ids."""
    title = row.get("title", "")
    if not title:
        raise RowError("title", "deal title is empty")
    amount_text = row.get("amount", "").replace("\u00a0", "").replace(" ", "").replace(",", ".") or "0"
    try:
        amount = float(amount_text)
    except ValueError:
        raise RowError("amount", f"amount {row['amount']!r} is not a number") from None
    return {
        "title": title[:255],
        "amount": amount,
        "responsible": row.get("responsible", "")[:64] or None,
        "status": (row.get("status", "") or "open")[:16],
        "updated_at": parse_datetime(row.get("updated_at", ""), ctx.tz, "updated"),
        "contacts": [c.strip() for c in re.split(r"[;,|]", row.get("contacts", "")) if c.strip()],
    }
