"""Notifications: an outbox written with the change it reports, rendered from Jinja templates.

A notification row is added in the caller's transaction with an idempotency key, so a
job that runs twice cannot notify twice, and a crash before commit notifies nobody.
Delivery happens after commit: in-app rows here; e-mail and SMS by their channels.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Container, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from desk.errors import DeskError
from desk.models import Notification
from desk.preferences import Reach, derived_keys, reshape
from desk.session_reads import core_rows, flush_for
from desk.template_sandbox import BoundedSandbox

TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "request_received": {
        "ru": (
            "Обращение {{ number }} зарегистрировано",
            "Мы получили ваше обращение «{{ subject }}». Номер: {{ number }}.",
        ),
        "en": (
            "Request {{ number }} registered",
            "We received your request “{{ subject }}”. Number: {{ number }}.",
        ),
    },
    "web_request_received": {
        "ru": (
            "Обращение {{ number }} зарегистрировано",
            "Здравствуйте{% if name %}, {{ name }}{% endif %}! Мы получили ваше обращение "
            "«{{ subject }}» с сайта. Номер: {{ number }}. Ответьте на это письмо, чтобы дополнить его.",
        ),
        "en": (
            "Request {{ number }} registered",
            "Hello{% if name %}, {{ name }}{% endif %}! We received your request “{{ subject }}” "
            "from our website. Number: {{ number }}. Reply to this e-mail to add to it.",
        ),
    },
    "missed_call": {
        "ru": (
            "Пропущенный звонок: перезвоните {{ caller }}",
            "{{ number }}: {{ subject }}. Перезвоните по номеру {{ phone }}.",
        ),
        "en": (
            "Missed call: call {{ caller }} back",
            "{{ number }}: {{ subject }}. Call back on {{ phone }}.",
        ),
    },
    "task_assigned": {
        "ru": (
            "{{ number }}: назначен исполнитель",
            "Обращение «{{ subject }}» взято в работу, исполнитель "
            "{{ assignee_name | default(assignee) }}. Срок: {{ resolve_by_text }}.",
        ),
        "en": (
            "{{ number }}: executor assigned",
            "Request “{{ subject }}” is in work, executor {{ assignee_name | default(assignee) }}. "
            "Due: {{ resolve_by_text }}.",
        ),
    },
    "request_rejected": {
        "ru": (
            "{{ number }}: обращение отклонено",
            "Обращение «{{ subject }}» отклонено.{% if comment %} Причина: {{ comment }}{% endif %}",
        ),
        "en": (
            "{{ number }}: request rejected",
            "Request “{{ subject }}” was rejected.{% if comment %} Reason: {{ comment }}{% endif %}",
        ),
    },
    "request_resolved": {
        "ru": (
            "{{ number }}: обращение решено",
            "Обращение «{{ subject }}» решено.{% if resolution %} {{ resolution }}{% endif %}",
        ),
        "en": (
            "{{ number }}: request resolved",
            "Request “{{ subject }}” is resolved.{% if resolution %} {{ resolution }}{% endif %}",
        ),
    },
    "task_external": {
        "ru": (
            "{{ number }}: задача для вас — {{ title }}",
            "Вам назначена задача «{{ title }}» по обращению {{ number }}.{% if deadline %} "
            "Срок: {{ deadline }}.{% endif %}\n\n{{ description }}\n\nОтветьте на это письмо, "
            "чтобы написать по задаче.",
        ),
        "en": (
            "{{ number }}: a task for you — {{ title }}",
            "You have been given the task “{{ title }}” on request {{ number }}.{% if deadline %} "
            "Due: {{ deadline }}.{% endif %}\n\n{{ description }}\n\nReply to this e-mail to write about it.",
        ),
    },
    "staff_reply": {
        "ru": ("{{ subject }}", "{{ text }}"),
        "en": ("{{ subject }}", "{{ text }}"),
    },
    "request_overdue": {
        "ru": (
            "{{ number }}: просрочено",
            "Обращение «{{ subject }}» не решено к сроку {{ resolve_by_text }}, "
            "исполнитель {{ assignee_name | default(assignee) }}.",
        ),
        "en": (
            "{{ number }}: overdue",
            "Request “{{ subject }}” missed its deadline {{ resolve_by_text }}, "
            "executor {{ assignee_name | default(assignee) }}.",
        ),
    },
    "owner_changed": {
        "ru": (
            "Ответственный по сделке изменён",
            "Сделка «{{ deal_title }}»: ответственный {{ old_responsible }} → "
            "{{ new_responsible }}; контактов передано: {{ contacts_changed }}.",
        ),
        "en": (
            "Deal owner changed",
            "Deal “{{ deal_title }}”: owner {{ old_responsible }} → {{ new_responsible }}; "
            "contacts moved: {{ contacts_changed }}.",
        ),
    },
    "field_task_assigned": {
        "ru": ("{{ number }}: новая задача", "Вам поставлена задача «{{ task_title }}»."),
        "en": ("{{ number }}: new task", "You have a new task “{{ task_title }}”."),
    },
    "field_task_started": {
        "ru": (
            "{{ number }}: специалист начал задачу",
            "{{ specialist }} начал задачу по обращению «{{ subject }}».",
        ),
        "en": ("{{ number }}: task started", "{{ specialist }} started the task for “{{ subject }}”."),
    },
    "field_payment_reminder": {
        "ru": (
            "{{ number }}: счёт не оплачен",
            "Счёт {{ invoice_number }} на {{ invoice_total }} руб. не оплачен три рабочих дня.",
        ),
        "en": (
            "{{ number }}: invoice unpaid",
            "Invoice {{ invoice_number }} ({{ invoice_total }} RUB) is unpaid for three working days.",
        ),
    },
    "field_payment_received": {
        "ru": ("{{ number }}: счёт оплачен", "Счёт {{ invoice_number }} оплачен, можно выполнять работы."),
        "en": ("{{ number }}: invoice paid", "Invoice {{ invoice_number }} is paid; the work can start."),
    },
    "field_task_finished": {
        "ru": (
            "{{ number }}: работы выполнены",
            "{{ specialist }} завершил работы по обращению «{{ subject }}».",
        ),
        "en": ("{{ number }}: work finished", "{{ specialist }} finished the work for “{{ subject }}”."),
    },
    "invoice_sent": {
        "ru": (
            "Счёт {{ invoice_number }} на оплату",
            "Здравствуйте! Направляем счёт {{ invoice_number }} на {{ invoice_total }} руб. по обращению "
            "«{{ subject }}». Счёт во вложении; работы начнутся после оплаты.",
        ),
        "en": (
            "Invoice {{ invoice_number }}",
            "Hello, please find attached invoice {{ invoice_number }} for {{ invoice_total }} RUB for "
            "your request “{{ subject }}”. Work starts once it is paid.",
        ),
    },
    # E-mail in (desk.mail.ingest): a message on a request or task, a reopened request.
    "mail_received": {
        "ru": (
            "{{ number }}: новое письмо",
            "{{ sender }} написал(а) по обращению «{{ subject }}»: {{ excerpt }}",
        ),
        "en": ("{{ number }}: new e-mail", "{{ sender }} wrote on request “{{ subject }}”: {{ excerpt }}"),
    },
    "request_reopened": {
        "ru": (
            "{{ number }}: обращение открыто снова",
            "{{ sender }} ответил(а) на закрытое обращение «{{ subject }}», "
            "оно снова в работе: {{ excerpt }}",
        ),
        "en": (
            "{{ number }}: request reopened",
            "{{ sender }} replied to the closed request “{{ subject }}”; it is open again: {{ excerpt }}",
        ),
    },
    "task_mail_received": {
        "ru": (
            "Ответ исполнителя по задаче «{{ task_title }}»",
            "{{ sender }} ответил(а) по задаче «{{ task_title }}»{% if number %} ({{ number }}){% endif %}: "
            "{{ excerpt }}",
        ),
        "en": (
            "Executor replied on task “{{ task_title }}”",
            "{{ sender }} replied on task “{{ task_title }}”{% if number %} ({{ number }}){% endif %}: "
            "{{ excerpt }}",
        ),
    },
    "owner_sync_summary": {
        "ru": (
            "Синхронизация ответственных завершена",
            "Вам передано контактов: {{ gained }}, передано другим: {{ lost }}.",
        ),
        "en": ("Owner sync finished", "Contacts given to you: {{ gained }}, moved to others: {{ lost }}."),
    },
}

# Sandboxed: admins edit template overrides in the browser, and a template must not reach Python internals.
_ENV = BoundedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
log = logging.getLogger(__name__)
Overrides = Mapping[tuple[str, str], tuple[str, str]]


@functools.lru_cache(maxsize=512)
def _compiled(source: str) -> Template:
    """Templates are compiled once per text: compiling costs more than rendering, on every notification."""
    return _ENV.from_string(source)


class UnknownTemplateError(DeskError, KeyError):
    """A notification names a template that does not exist."""

    def __init__(self, template: str) -> None:
        self.template = template
        super().__init__(f"No notification template {template!r}; known: {', '.join(sorted(TEMPLATES))}.")


def render(
    template: str, language: str, payload: Mapping[str, Any], overrides: Overrides | None = None
) -> tuple[str, str]:
    """Subject and body in the recipient's language (Russian when theirs is missing).

    `overrides` ((template, language) -> (subject, body), desk.staff.template_overrides) are the
    admins' wording and win over the shipped one; an override that fails to render (a variable
    this payload lacks) falls back to the shipped text, so a wording slip never fails a process.
    """
    if template not in TEMPLATES:
        raise UnknownTemplateError(template)
    for lang in dict.fromkeys((language, "ru")):
        custom = (overrides or {}).get((template, lang))
        if custom is not None:
            data = _in_words(payload, lang)
            try:
                return _compiled(custom[0]).render(data), _compiled(custom[1]).render(data)
            except TemplateError as err:
                log.warning(
                    "template override %s/%s does not render (%s); using the shipped text",
                    template,
                    lang,
                    err,
                )
        if lang in TEMPLATES[template]:
            break
    lang = language if language in TEMPLATES[template] else "ru"
    texts = TEMPLATES[template][lang]
    data = _in_words(payload, lang)
    return _compiled(texts[0]).render(data), _compiled(texts[1]).render(data)


WORDED = ("status", "category", "priority", "channel")


def _in_words(payload: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """The payload as a template sees it: status, category, priority and channel as words in `lang`.

    Handlers and the outbox row keep the codes (integrations and retries rely on them); only the
    text a person reads says "Высокий", not "high". The codes stay available as `<name>_code`.
    """
    from web.labels import label  # the one catalogue; imported late as web imports desk

    data = {"resolve_by_text": _human_time(payload.get("resolve_by")), **payload}
    for name in WORDED:
        if name in payload:
            data[f"{name}_code"] = payload[name]
            data[name] = label(name, payload[name], lang)
    return data


def _human_time(value: Any) -> str:
    if not value:
        return "—"
    try:
        return datetime.fromisoformat(str(value)).strftime("%d.%m.%Y %H:%M")
    except ValueError:
        return str(value)


def enqueue(
    session: Session,
    *,
    now: datetime,
    recipient: str,
    channel: str,
    template: str,
    payload: Mapping[str, Any],
    idempotency_key: str,
    language: str = "ru",
    request_id: int | None = None,
) -> Notification:
    """Add one notification to the outbox unless one with this key exists already."""
    existing = session.scalars(
        select(Notification).where(Notification.idempotency_key == idempotency_key)
    ).first()
    if existing is not None:
        return existing
    from desk.staff import template_overrides

    subject, body = render(template, language, payload, template_overrides(session, template))
    row = _pending(recipient, channel, template, payload, (subject, body), idempotency_key, request_id, now)
    session.add(row)
    session.flush()
    from desk.preferences import apply_preferences

    apply_preferences(session, row)  # the recipient's ticked channels replace the default one
    return row


def _pending(
    recipient: str,
    channel: str,
    template: str,
    payload: Mapping[str, Any],
    wording: tuple[str, str],
    idempotency_key: str,
    request_id: int | None,
    now: datetime,
) -> Notification:
    """A new outbox row, waiting for its delivery."""
    subject, body = wording
    return Notification(
        recipient=recipient,
        channel=channel,
        template=template,
        payload=dict(payload),
        subject=subject,
        body=body,
        idempotency_key=idempotency_key,
        status="pending",
        attempts=0,
        request_id=request_id,
        created_at=now,
    )


_TAKEN = select(Notification.idempotency_key).where(
    Notification.idempotency_key.in_(bindparam("keys", expanding=True))
)


def enqueue_all(
    session: Session,
    *,
    now: datetime,
    template: str,
    payload: Mapping[str, Any],
    to: Sequence[tuple[str, str, str]],
    staff: Mapping[str, Reach],
    request_id: int | None = None,
    delivered_to: Container[str] = (),
) -> list[Notification]:
    """Add one notification per (recipient, channel, idempotency key) in `to`, skipping keys that exist.

    What `enqueue` does per row, for a whole recipient list at once: `staff` (desk.preferences.reach,
    read by the caller, who also needs the names) gives each recipient's language and ticked
    channels, one statement finds which keys (and derived keys) exist, the admins' wording is read
    once, and the rows are only added: they go to the database with the caller's next flush.
    In-app rows to the recipients in `delivered_to` are written delivered: being in the inbox is
    the delivery, which otherwise took an UPDATE right after the INSERT (or the outbox's own
    transaction after the commit). Returns the rows added.
    """
    from desk.staff import template_overrides

    keys = [key for _, _, key in to]
    for recipient, channel, key in to:
        keys += derived_keys(key, channel, staff.get(recipient))
    if not keys:
        return []
    flush_for(session, Notification)  # the request's pending changes need no flush for this read
    taken = {key for (key,) in core_rows(session, _TAKEN, {"keys": keys})}
    if all(key in taken for _, _, key in to):
        return []
    overrides = template_overrides(session, template)
    rendered: dict[str, tuple[str, str]] = {}
    added: list[Notification] = []
    for recipient, channel, key in to:
        if key in taken:
            continue
        who = staff.get(recipient)
        language = (who.language if who is not None else None) or "ru"
        if language not in rendered:
            rendered[language] = render(template, language, payload, overrides)
        row = _pending(recipient, channel, template, payload, rendered[language], key, request_id, now)
        for written in (row, *reshape(row, who, taken)):
            if (
                written.channel == "in_app"
                and written.status == "pending"
                and written.recipient in delivered_to
            ):
                written.status, written.sent_at = "sent", now
            taken.add(written.idempotency_key)
            added.append(written)
    session.add_all(added)
    return added


def deliver_in_app(session: Session, *, now: datetime, ids: Iterable[int] | None = None) -> int:
    """In-app notifications are delivered by being visible in the inbox; mark them sent."""
    stmt = update(Notification).where(Notification.channel == "in_app", Notification.status == "pending")
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(list(ids)))
    return session.execute(stmt.values(status="sent", sent_at=now)).rowcount


def inbox(session: Session, username: str, limit: int = 50) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.recipient == username, Notification.channel == "in_app")
            .order_by(Notification.id.desc())
            .limit(limit)
        )
    )


def resolve_recipients(
    roles: Iterable[str],
    *,
    requester_email: str | None,
    assignee: str | None,
    group_members: Mapping[str, list[str]],
    named: Mapping[str, Any],
) -> list[tuple[str, str]]:
    """Turn role names from a diagram ("requester, executor, managers") into (recipient, channel) pairs.

    Staff get in-app notifications; the requester, who has no account, gets e-mail.
    `named` resolves roles that are process variables (approvers, old_responsible…).
    """
    out: list[tuple[str, str]] = []
    for role in (r.strip() for r in roles if r and r.strip()):
        if role == "requester":
            if requester_email:
                out.append((requester_email, "email"))
        elif role == "executor":
            if assignee or named.get("executor"):
                out.append((assignee or named["executor"], "in_app"))
        elif role in group_members:
            out.extend((user, "in_app") for user in group_members[role])
        elif named.get(role):
            value = named[role]
            for user in value if isinstance(value, list) else [value]:
                out.append((str(user), "in_app"))
    return list(dict.fromkeys(out))
