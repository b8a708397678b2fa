"""Notifications: an outbox written with the change it reports, rendered from Jinja templates.

A notification row is added in the caller's transaction with an idempotency key, so a
job that runs twice cannot notify twice, and a crash before commit notifies nobody.
Delivery happens after commit: in-app rows here; e-mail and SMS by their channels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from jinja2 import Environment, StrictUndefined
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from desk.errors import DeskError
from desk.models import Notification

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
    "task_assigned": {
        "ru": (
            "{{ number }}: назначен исполнитель",
            "Обращение «{{ subject }}» взято в работу, исполнитель "
            "{{ assignee }}. Срок: {{ resolve_by_text }}.",
        ),
        "en": (
            "{{ number }}: executor assigned",
            "Request “{{ subject }}” is in work, executor {{ assignee }}. Due: {{ resolve_by_text }}.",
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
    "request_overdue": {
        "ru": (
            "{{ number }}: просрочено",
            "Обращение «{{ subject }}» не решено к сроку {{ resolve_by_text }}, исполнитель {{ assignee }}.",
        ),
        "en": (
            "{{ number }}: overdue",
            "Request “{{ subject }}” missed its deadline {{ resolve_by_text }}, executor {{ assignee }}.",
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
    "owner_sync_summary": {
        "ru": (
            "Синхронизация ответственных завершена",
            "Вам передано контактов: {{ gained }}, передано другим: {{ lost }}.",
        ),
        "en": ("Owner sync finished", "Contacts given to you: {{ gained }}, moved to others: {{ lost }}."),
    },
}

_ENV = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


class UnknownTemplateError(DeskError, KeyError):
    """A notification names a template that does not exist."""

    def __init__(self, template: str) -> None:
        self.template = template
        super().__init__(f"No notification template {template!r}; known: {', '.join(sorted(TEMPLATES))}.")


def render(template: str, language: str, payload: Mapping[str, Any]) -> tuple[str, str]:
    """Subject and body in the recipient's language (Russian when theirs is missing)."""
    if template not in TEMPLATES:
        raise UnknownTemplateError(template)
    texts = TEMPLATES[template].get(language) or TEMPLATES[template]["ru"]
    data = {"resolve_by_text": _human_time(payload.get("resolve_by")), **payload}
    return _ENV.from_string(texts[0]).render(data), _ENV.from_string(texts[1]).render(data)


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
    subject, body = render(template, language, payload)
    row = Notification(
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
    session.add(row)
    session.flush()
    return row


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
