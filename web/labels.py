"""Words for the codes the desk stores: one catalogue, Russian and English, for pages, e-mails and CSV.

The database keeps short codes (`in_progress`, `printer`, `Task_Dispatch`, `dispatcher`) because
queries, diagrams and integrations rely on them; people read words. Every place that shows a
code asks this module for its label, so a page, a CSV and an e-mail say the same thing:

* fixed vocabularies (statuses, priorities, channels, delivery states, history kinds) are tables here;
* categories come from the classification dictionary's own labels (desk.classify_dictionary);
* notification events are the outbox templates, with their label beside the template text;
* process and element names are the diagrams' `name` attributes, read from the deployed XML;
* people are named by their full name, not their login.

An unknown code is shown as it is (never hidden), so a new status is visible before it is named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from lxml import etree

from desk.classify_dictionary import CATEGORY_LABELS

Labels = dict[str, dict[str, str]]

STATUS: Labels = {
    "new": {"ru": "Новое", "en": "New"},
    "triage": {"ru": "Разбор", "en": "Triage"},
    "assigned": {"ru": "Назначено", "en": "Assigned"},
    "in_progress": {"ru": "В работе", "en": "In progress"},
    "waiting": {"ru": "Ожидает ответа", "en": "Waiting"},
    "done": {"ru": "Решено", "en": "Resolved"},
    "closed": {"ru": "Закрыто", "en": "Closed"},
    "rejected": {"ru": "Отклонено", "en": "Rejected"},
    # process instances, tasks, incidents, deals, invoices
    "running": {"ru": "Выполняется", "en": "Running"},
    "completed": {"ru": "Завершён", "en": "Completed"},
    "cancelled": {"ru": "Отменён", "en": "Cancelled"},
    "failed": {"ru": "С ошибкой", "en": "Failed"},
    "open": {"ru": "Открыта", "en": "Open"},
    "resolved": {"ru": "Устранён", "en": "Resolved"},
    "started": {"ru": "Начата", "en": "Started"},
    "finished": {"ru": "Завершена", "en": "Finished"},
    "paid": {"ru": "Оплачен", "en": "Paid"},
    "issued": {"ru": "Выставлен", "en": "Issued"},
    "won": {"ru": "Выиграна", "en": "Won"},
    "lost": {"ru": "Проиграна", "en": "Lost"},
}

PRIORITY: Labels = {
    "high": {"ru": "Высокий", "en": "High"},
    "normal": {"ru": "Обычный", "en": "Normal"},
    "low": {"ru": "Низкий", "en": "Low"},
    "*": {"ru": "Любой", "en": "Any"},
}
# A request's priority as the engine's task priority (higher is more urgent), so the task list
# sorts by what the request says and not by the engine's default 50.
PRIORITY_RANK = {"high": 80, "normal": 50, "low": 20}

CHANNEL: Labels = {
    "email": {"ru": "E-mail", "en": "E-mail"},
    "web": {"ru": "Веб-форма", "en": "Web form"},
    "phone": {"ru": "Телефон", "en": "Phone"},
    "walk_in": {"ru": "Лично", "en": "Walk-in"},
    "legacy": {"ru": "Старая система", "en": "Legacy system"},
    "api": {"ru": "API", "en": "API"},
    "in_app": {"ru": "В приложении", "en": "In the app"},
    "sms": {"ru": "SMS", "en": "SMS"},
}

DELIVERY: Labels = {
    "pending": {"ru": "В очереди", "en": "Queued"},
    "sending": {"ru": "Отправляется", "en": "Sending"},
    "sent": {"ru": "Отправлено", "en": "Sent"},
    "failed": {"ru": "Ошибка, повторим", "en": "Failed, will retry"},
    "dead": {"ru": "Не доставлено", "en": "Not delivered"},
    "unconfirmed": {"ru": "Не подтверждено", "en": "Unconfirmed"},
    "skipped": {"ru": "Пропущено", "en": "Skipped"},
}

EVENT: Labels = {
    "request_received": {"ru": "Обращение зарегистрировано", "en": "A request is registered"},
    "web_request_received": {"ru": "Обращение с сайта зарегистрировано", "en": "A web request is registered"},
    "missed_call": {"ru": "Пропущенный звонок", "en": "A call was missed"},
    "task_assigned": {"ru": "Обращению назначен исполнитель", "en": "A request is assigned to an executor"},
    "request_rejected": {"ru": "Обращение отклонено", "en": "A request is rejected"},
    "request_resolved": {"ru": "Обращение решено", "en": "A request is resolved"},
    "task_external": {"ru": "Задача подрядчику", "en": "A task for a contractor"},
    "staff_reply": {"ru": "Ответ сотрудника", "en": "A reply from staff"},
    "request_overdue": {"ru": "Обращение просрочено", "en": "A request is overdue"},
    "owner_changed": {"ru": "Сменился ответственный по сделке", "en": "A deal's owner changed"},
    "field_task_assigned": {"ru": "Назначен выезд", "en": "A field task is assigned"},
    "field_task_started": {"ru": "Выезд начат", "en": "A field task has started"},
    "field_payment_reminder": {"ru": "Напоминание об оплате", "en": "A payment reminder"},
    "field_payment_received": {"ru": "Оплата получена", "en": "A payment is received"},
    "field_task_finished": {"ru": "Выезд завершён", "en": "A field task is finished"},
    "invoice_sent": {"ru": "Счёт отправлен", "en": "An invoice is sent"},
    "mail_received": {"ru": "Получено письмо", "en": "An e-mail is received"},
    "request_reopened": {"ru": "Обращение открыто снова", "en": "A request is reopened"},
    "task_mail_received": {"ru": "Письмо по задаче", "en": "An e-mail about a task"},
    "owner_sync_summary": {"ru": "Синхронизация ответственных завершена", "en": "Owner sync finished"},
}

ROLE: Labels = {
    "operator": {"ru": "Оператор", "en": "Operator"},
    "dispatcher": {"ru": "Диспетчер", "en": "Dispatcher"},
    "manager": {"ru": "Руководитель", "en": "Manager"},
    "executor": {"ru": "Исполнитель", "en": "Executor"},
    "approver": {"ru": "Согласующий", "en": "Approver"},
    "analyst": {"ru": "Аналитик", "en": "Analyst"},
    "admin": {"ru": "Администратор", "en": "Administrator"},
}

GROUP: Labels = {
    "operators": {"ru": "Операторы", "en": "Operators"},
    "dispatchers": {"ru": "Диспетчеры", "en": "Dispatchers"},
    "managers": {"ru": "Руководители", "en": "Managers"},
    "executors": {"ru": "Исполнители", "en": "Executors"},
    "approvers": {"ru": "Согласующие", "en": "Approvers"},
    "analysts": {"ru": "Аналитики", "en": "Analysts"},
    "admins": {"ru": "Администраторы", "en": "Administrators"},
}

CALENDAR: Labels = {
    "support": {"ru": "часы поддержки", "en": "support hours"},
    "workdays": {"ru": "рабочие дни", "en": "working days"},
}

ABSENCE_KIND: Labels = {
    "leave": {"ru": "отпуск", "en": "leave"},
    "sick": {"ru": "больничный", "en": "sick leave"},
    "business_trip": {"ru": "командировка", "en": "business trip"},
}

CATEGORY: Labels = {**CATEGORY_LABELS, None: {"ru": "не определена", "en": "unclassified"}}  # type: ignore[dict-item]

# History sentences: {task} is the element's name in quotes, {who} the person, {extra} a detail.
HISTORY: Labels = {
    "instance_started": {"ru": "Процесс запущен", "en": "Process started"},
    "instance_ended": {"ru": "Процесс завершён", "en": "Process finished"},
    "instance_cancelled": {"ru": "Процесс отменён", "en": "Process cancelled"},
    "variables_changed": {"ru": "Изменены переменные", "en": "Variables changed"},
    "task_created": {"ru": "Задача {task} создана", "en": "Task {task} created"},
    "task_completed": {"ru": "Задача {task} выполнена", "en": "Task {task} completed"},
    "task_cancelled": {"ru": "Задача {task} отменена", "en": "Task {task} cancelled"},
    "task_claimed": {"ru": "Задача {task} взята в работу", "en": "Task {task} claimed"},
    "task_unclaimed": {"ru": "Задача {task} возвращена в группу", "en": "Task {task} returned to the group"},
    "task_delegated": {"ru": "Задача {task} передана: {extra}", "en": "Task {task} delegated to {extra}"},
    "service_task_called": {"ru": "Шаг {task} выполнен", "en": "Step {task} done"},
    "decision_evaluated": {"ru": "Таблица решений {task}: {extra}", "en": "Decision table {task}: {extra}"},
    "timer_scheduled": {"ru": "Таймер {task} запущен", "en": "Timer {task} set"},
    "timer_fired": {"ru": "Сработал таймер {task}", "en": "Timer {task} fired"},
    "message_correlated": {"ru": "Получено сообщение {extra}", "en": "Message {extra} received"},
    "bpmn_error": {"ru": "Ошибка процесса на шаге {task}", "en": "Process error at {task}"},
    "job_failed": {"ru": "Шаг {task} не удался", "en": "Step {task} failed"},
    "incident_raised": {"ru": "Инцидент на шаге {task}", "en": "Incident at {task}"},
    "incident_resolved": {"ru": "Инцидент на шаге {task} устранён", "en": "Incident at {task} resolved"},
}

VOCABULARIES: dict[str, Labels] = {
    "status": STATUS,
    "priority": PRIORITY,
    "channel": CHANNEL,
    "delivery": DELIVERY,
    "event": EVENT,
    "role": ROLE,
    "group": GROUP,
    "category": CATEGORY,
    "calendar": CALENDAR,
    "history": HISTORY,
    "absence_kind": ABSENCE_KIND,
}


def label(vocabulary: str, code: Any, lang: str) -> str:
    """The word for `code` in `lang`; the code itself when it has no label yet (never blank)."""
    entry = VOCABULARIES[vocabulary].get(code)
    if entry is None:
        return "" if code is None else str(code)
    return entry.get(lang) or entry.get("en") or str(code)


def yes_no(value: bool | None, lang: str) -> str:
    """A boolean as a word for CSV and pages ("да"/"нет", "yes"/"no"; empty for unknown)."""
    if value is None:
        return ""
    words = {"ru": ("да", "нет"), "en": ("yes", "no")}.get(lang, ("yes", "no"))
    return words[0] if value else words[1]


# ------------------------------------------------------------------------------ diagram names


@lru_cache(maxsize=64)
def element_names(xml: bytes) -> dict[str, str]:
    """Every named BPMN element's id -> name in a diagram (processes, tasks, events, lanes).

    Cached by content: a deployed resource never changes, so each is parsed once per process.
    """
    try:
        root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return {}
    names: dict[str, str] = {}
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        ident, name = el.get("id"), el.get("name")
        if ident and name and "/BPMN/20100524/MODEL" in el.tag:
            names[ident] = " ".join(name.split())
    return names


def history_sentence(
    kind: str,
    element_name: str | None,
    who: str | None,
    lang: str,
    extra: str | None = None,
) -> str:
    """One history line as people say it: "Задача «Назначить исполнителя» выполнена — Дмитрий Диспетчеров"."""
    quoted = f"«{element_name}»" if lang == "ru" else f"“{element_name}”"
    template = HISTORY.get(kind, {}).get(lang) or HISTORY.get(kind, {}).get("en")
    if template is None:
        text = f"{kind} {element_name or ''}".strip()
    else:
        text = template.format(task=quoted if element_name else "", extra=extra or "")
        text = " ".join(text.split())
    return f"{text} — {who}" if who else text


def people_names(rows: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """Login -> full name (the login when no name is recorded)."""
    return {login: (name or login) for login, name in rows}


def person(login: str | None, names: Mapping[str, str]) -> str:
    """A person's full name for a login; the login for someone not (or no longer) on the staff list."""
    if not login:
        return ""
    return names.get(login, login)


# ------------------------------------------------------------------------------ in the web app


def _lang() -> str:
    from web.i18n import language

    return language()


def _people() -> dict[str, str]:
    """Login -> full name for the current request (one query per request, cached in `g`)."""
    from flask import current_app, g
    from sqlalchemy import select

    from desk.models import User

    names = getattr(g, "_people_names", None)
    if names is None:
        with current_app.extensions["sessions"]() as session:
            names = people_names(session.execute(select(User.username, User.full_name)).all())
        g._people_names = names
    return names


def _process_names() -> dict[str, dict[str, str]]:
    """Process key -> {element id -> name} from the newest deployed version of each process (per request)."""
    from flask import current_app, g
    from sqlalchemy import func, select

    from engine.store import ProcessDefinition, Resource

    cached = getattr(g, "_process_names", None)
    if cached is not None:
        return cached
    newest = (
        select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("version"))
        .group_by(ProcessDefinition.key)
        .subquery()
    )
    with current_app.extensions["sessions"]() as session:
        rows = session.execute(
            select(ProcessDefinition.key, ProcessDefinition.name, Resource.content)
            .join(
                newest,
                (newest.c.key == ProcessDefinition.key) & (newest.c.version == ProcessDefinition.version),
            )
            .join(
                Resource,
                (Resource.deployment_id == ProcessDefinition.deployment_id)
                & (Resource.name == ProcessDefinition.resource_name),
            )
        ).all()
    cached = {}
    for key, name, content in rows:
        names = dict(element_names(bytes(content))) if content else {}
        names[key] = name or names.get(key) or key
        cached[key] = names
    g._process_names = cached
    return cached


def process_label(key: str | None) -> str:
    """A process key as its diagram's name ("service_request" -> "Обработка обращения")."""
    if not key:
        return ""
    return _process_names().get(key, {}).get(key, key)


def element_label(element_id: str | None, process_key: str | None = None) -> str:
    """A diagram element's name (the element id when the diagram does not name it)."""
    if not element_id:
        return ""
    names = _process_names()
    if process_key and element_id in names.get(process_key, {}):
        return names[process_key][element_id]
    for table in names.values():
        if element_id in table:
            return table[element_id]
    return element_id


def person_label(login: str | None) -> str:
    return person(login, _people())


def code_label(code: Any, vocabulary: str) -> str:
    return label(vocabulary, code, _lang())


def history_line(event: Any, process_key: str | None = None) -> str:
    """A HistoryEvent row as a sentence in the reader's language."""
    data = event.data or {}
    extra = None
    if event.kind == "task_delegated":
        extra = person_label(data.get("to"))
    elif event.kind == "message_correlated":
        extra = data.get("message")
    elif event.kind == "decision_evaluated":
        extra = f"{data.get('decision')} v{data.get('version')} → {', '.join(data.get('rules') or ()) or '—'}"
    name = element_label(event.element_id, process_key) if event.element_id else None
    return history_sentence(event.kind, name, person_label(event.user) or None, _lang(), extra)


def init_app(app: Any) -> None:
    """Template filters `code|label('status')`, `login|person`, `key|process_name`, `id|element_name(key)`."""
    app.add_template_filter(code_label, "label")
    app.add_template_filter(person_label, "person")
    app.add_template_filter(process_label, "process_name")
    app.add_template_filter(element_label, "element_name")
    app.add_template_filter(lambda v: yes_no(v, _lang()), "yes_no")
    app.add_template_global(history_line, "history_line")
    app.add_template_filter(lambda v: bucket_label(v, _lang()), "bucket")
    app.add_template_filter(lambda v, by: group_value_label(v, by, _lang()), "group_value")


_UNITS = {
    "ru": {"min": "мин", "m": "мин", "h": "ч", "d": "дн"},
    "en": {"min": "min", "m": "min", "h": "h", "d": "d"},
}
_SPEC = re.compile(r"(\d+(?:\.\d+)?)(min|m|h|d)\b")


def bucket_label(text: str, lang: str) -> str:
    """A bucket ("< 30 min", "1 – 4 h") or a duration spec ("24h", "3d") in the reader's units."""
    units = _UNITS.get(lang, _UNITS["en"])
    text = _SPEC.sub(lambda m: f"{m.group(1)} {units[m.group(2)]}", text)
    return " ".join(units.get(word, word) for word in text.split(" "))


GROUP_BY: Labels = {
    "category": {"ru": "Категория", "en": "Category"},
    "executor": {"ru": "Исполнитель", "en": "Executor"},
    "channel": {"ru": "Канал", "en": "Channel"},
    "priority": {"ru": "Приоритет", "en": "Priority"},
}
VOCABULARIES["group_by"] = GROUP_BY


def group_value_label(value: Any, by: str, lang: str) -> str:
    """A report group's value as a word: a category's label, an executor's name, a channel's label."""
    if by == "executor":
        return person_label(value) if value and value != "—" else "—"
    vocabulary = {"category": "category", "channel": "channel", "priority": "priority"}.get(by)
    if vocabulary is None or value == "—":
        return str(value)
    return label(vocabulary, value, lang)
