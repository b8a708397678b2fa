"""Whom to ring when the PBX asks, and what to record when nobody answers.

The PBX webhook hands us one incoming call and must get an answer at once,
so the routing rule is a pure function of plain data: the call, who is on
duty, who is responsible for which contact, and the queue's rotation
pointer. The caller (the webhook view) loads that state and persists the
returned pointer; the database makes the pointer increment atomic, so two
simultaneous calls never start at the same queue member.

Rules, first match wins:

1. A dialled extension rings that employee only, if they are on duty. If
   they are off duty, or no employee has that extension, the call is not
   dropped: it falls through to rules 2-3, exactly as if it had come in on
   the main line (the missed-call request still records the extension).
2. The caller's number, normalised to E.164, finds the contact's
   responsible, who rings first if on duty; if they are absent and named a
   substitute who is on duty, the substitute rings first instead. Numbers
   that are not valid phone numbers (anonymous, "unknown", short internal
   numbers) skip this.
3. The on-duty members of the queue group follow, ordered by username and
   rotated round-robin, without repeating the responsible.
4. Nobody on duty: ring nobody; the call becomes a missed call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from desk.phones import DEFAULT_REGION, format_phone, try_normalize_phone

__all__ = [
    "CallContext",
    "Employee",
    "RouteDecision",
    "RouteReason",
    "missed_call_request",
    "route_call",
]


class RouteReason(StrEnum):
    """Which rule chose the ring order; stored with the call for reports."""

    EXTENSION = "extension"
    RESPONSIBLE = "responsible"
    SUBSTITUTE = "substitute"
    QUEUE = "queue"
    NOBODY = "nobody"


@dataclass(frozen=True)
class Employee:
    """One person the PBX can ring, as the router needs to see them.

    `on_duty` is already "flag set and not absent now" (desk.absence.on_duty); `substitute`
    is who stands in for them while they are absent (None when present or nobody named).
    """

    username: str
    extension: str | None
    on_duty: bool
    groups: frozenset[str]
    substitute: str | None = None


@dataclass(frozen=True)
class CallContext:
    """An incoming call as the PBX reports it: raw numbers, optional extension."""

    caller: str
    called: str
    extension: str | None = None


@dataclass(frozen=True)
class RouteDecision:
    """The answer to the PBX, plus what the caller must persist.

    `next_rotation` is the queue pointer to store for the next call, or None
    when the queue was not consulted (an extension call, or nobody in the
    queue is on duty) and the stored pointer must stay as it is.
    """

    ring: tuple[str, ...]
    reason: RouteReason
    caller_e164: str | None
    queue: str | None
    next_rotation: int | None


def route_call(
    call: CallContext,
    *,
    employees: Sequence[Employee],
    responsible_for: Callable[[str], str | None],
    queue_group: str,
    rotation: int,
    region: str = DEFAULT_REGION,
) -> RouteDecision:
    """Decide whom the PBX rings for `call`, in order.

    A client is best served by the person who already knows them, then by
    whoever in the queue is next in turn; the rotation keeps the queue's
    first ring fair across members. Any call that consults the queue moves
    the pointer, including calls where the responsible rings first: the
    queue's head is then the fallback, and not moving on would make the
    same member the head of the next call too.
    """
    caller_e164 = try_normalize_phone(call.caller, region)
    dialled = _dialled(call.extension, employees)
    if dialled:
        return RouteDecision(
            ring=dialled,
            reason=RouteReason.EXTENSION,
            caller_e164=caller_e164,
            queue=None,
            next_rotation=None,
        )

    on_duty = {e.username for e in employees if e.on_duty}
    responsible = responsible_for(caller_e164) if caller_e164 else None
    substitute = next((e.substitute for e in employees if e.username == responsible), None)
    if responsible in on_duty:
        first: tuple[str, ...] = (responsible,)
    elif substitute in on_duty:
        first = (substitute,)
    else:
        first = ()

    members = sorted({e.username for e in employees if e.on_duty and queue_group in e.groups})
    if members:
        start = rotation % len(members)
        rotated = members[start:] + members[:start]
        next_rotation: int | None = rotation + 1
    else:
        rotated, next_rotation = [], None
    ring = first + tuple(u for u in rotated if u not in first)

    if first:
        reason = RouteReason.RESPONSIBLE if first == (responsible,) else RouteReason.SUBSTITUTE
    elif ring:
        reason = RouteReason.QUEUE
    else:
        reason = RouteReason.NOBODY
    return RouteDecision(
        ring=ring,
        reason=reason,
        caller_e164=caller_e164,
        queue=queue_group,
        next_rotation=next_rotation,
    )


def missed_call_request(
    call: CallContext,
    decision: RouteDecision,
    now: datetime,
    *,
    region: str = DEFAULT_REGION,
) -> dict[str, Any]:
    """Describe the request and callback task a missed call should create.

    A missed call is a client waiting, so it becomes a request like any
    email, and a callback task goes to whoever the call reached first: that
    person saw it ring and the client may already have talked to them. When
    nobody was rung the task goes to the queue's group instead. A caller
    who hid their number gets a request (the attempt is worth reporting)
    but no callback task, since nobody could complete it. The deadline is
    the caller's to set from the SLA policy.
    """
    caller = _display(call.caller, decision.caller_e164)
    called = _display(call.called, try_normalize_phone(call.called, region))
    subject = f"Пропущенный звонок от {caller}" if caller else "Пропущенный звонок со скрытого номера"

    when = now.strftime("%d.%m.%Y %H:%M") + (f" {now.tzname()}" if now.tzinfo else "")
    line = called or "номер не передан"
    if extension := _text(call.extension):
        line += f", доб. {extension}"
    rung = ", ".join(decision.ring) if decision.ring else "никого не было на смене"
    body = "\n".join(
        [
            f"Пропущенный звонок {when}.",
            f"Кто звонил: {caller or 'номер скрыт'}",
            f"Куда звонили: {line}",
            f"Кого вызывали: {rung}",
        ]
    )

    assignee = decision.ring[0] if decision.ring else None
    callback = None
    if caller:
        callback = {
            "title": f"Перезвонить {caller}",
            "phone": decision.caller_e164 or call.caller.strip(),
            "assignee": assignee,
            "candidate_group": None if assignee else decision.queue,
        }
    return {
        "request": {
            "channel": "phone",
            "subject": subject,
            "body": body,
            "caller_phone": decision.caller_e164,
            "caller_raw": call.caller,
            "called": call.called,
            "extension": extension,
            "received_at": now,
            "route_reason": str(decision.reason),
        },
        "callback_task": callback,
    }


def _dialled(extension: str | None, employees: Sequence[Employee]) -> tuple[str, ...]:
    """On-duty employees with the dialled extension (normally one; a shared one rings all)."""
    wanted = _text(extension)
    if wanted is None:
        return ()
    return tuple(sorted({e.username for e in employees if e.on_duty and _text(e.extension) == wanted}))


def _display(raw: str, e164: str | None) -> str | None:
    """A number as people read it; raw digits if it is not a valid number, None if it has none."""
    if e164:
        return format_phone(e164)
    text = raw.strip()
    return text if any(ch.isdigit() for ch in text) else None


def _text(value: str | None) -> str | None:
    stripped = value.strip() if value else ""
    return stripped or None
