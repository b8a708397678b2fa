"""The outbox's delivery rules, pure: states, the backoff schedule, crash recovery, the e-mail fallback.

A notification row moves through these states (DESIGN §7):

    pending ──claim──> sending ──ok──> sent
       ^                  │ ├──transient error──> failed ──(due again)──> sending …
       │                  │ ├──permanent error / out of attempts──> dead
       │                  │ └──outcome unknown (connection lost after DATA)──> unconfirmed
       │                  └──sender killed, lease expired──> unconfirmed (e-mail, SMS) / pending (in-app)
       └──────────── an admin's "send again" (failed, dead, unconfirmed)

The claim ("sending" with a lease) is committed before any network call, so a sender that
dies between the call and the commit leaves evidence. E-mail and SMS are not sent again
blindly then: the other side may have the message, so the row waits as "unconfirmed" for a
person to decide. In-app delivery is a row update, idempotent by the row's key, so it is
simply retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from desk.errors import DeskError

__all__ = [
    "ATTENTION",
    "BACKOFF",
    "CHANNELS",
    "CLAIMABLE",
    "DEFAULT_MAX_ATTEMPTS",
    "Status",
    "Transition",
    "UnknownChannelError",
    "after_failure",
    "after_lease_expired",
    "backoff",
    "check_channels",
    "fallback_cutoff",
    "resend",
    "sms_text",
]

CHANNELS = ("in_app", "email", "sms")
DEFAULT_MAX_ATTEMPTS = 8
# Minutes to wait after the n-th failed attempt: quick for a blip, hours for an outage.
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
    timedelta(hours=12),
)


class Status(StrEnum):
    """Where a notification is on its way to the recipient."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"
    UNCONFIRMED = "unconfirmed"
    SKIPPED = "skipped"


CLAIMABLE = (Status.PENDING, Status.FAILED)
ATTENTION = (Status.FAILED, Status.DEAD, Status.UNCONFIRMED)


class UnknownChannelError(DeskError, ValueError):
    """A channel name that the outbox cannot deliver."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        super().__init__()
        self.say(
            "Unknown notification channel %(channel)r; use one of %(known)s.",
            channel=channel,
            known=", ".join(CHANNELS),
        )


@dataclass(frozen=True)
class Transition:
    """The state a row moves to, when it is due next (None: not automatically), and why."""

    status: Status
    next_attempt_at: datetime | None
    reason: str | None = None


def check_channels(channels: Sequence[str]) -> list[str]:
    """The channels in canonical order; an unknown name is refused rather than silently dropped."""
    for channel in channels:
        if channel not in CHANNELS:
            raise UnknownChannelError(channel)
    return [c for c in CHANNELS if c in channels]


def backoff(attempts: int, schedule: Sequence[timedelta] = BACKOFF) -> timedelta:
    """The wait after `attempts` failed attempts (1-based); the last step repeats."""
    if attempts < 1:
        raise ValueError(f"attempts counts failed tries and starts at 1, got {attempts}")
    return schedule[min(attempts, len(schedule)) - 1]


def after_failure(
    attempts: int,
    now: datetime,
    reason: str,
    *,
    permanent: bool = False,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    schedule: Sequence[timedelta] = BACKOFF,
) -> Transition:
    """A failed attempt: retry later with backoff, or dead when it can never work or tries ran out."""
    if permanent:
        return Transition(Status.DEAD, None, reason)
    if attempts >= max_attempts:
        return Transition(Status.DEAD, None, f"gave up after {attempts} attempts; last error: {reason}")
    return Transition(Status.FAILED, now + backoff(attempts, schedule), reason)


def after_lease_expired(channel: str, now: datetime) -> Transition:
    """A row left in "sending" by a sender that died: in-app is retried, e-mail and SMS wait for a person."""
    if channel == "in_app":
        return Transition(Status.PENDING, now, None)
    return Transition(
        Status.UNCONFIRMED,
        None,
        "the sender stopped between the send and recording it; the recipient may have the message. "
        "Check with them, then send again or leave it",
    )


def resend(status: str, now: datetime) -> Transition:
    """An admin's "send again": allowed for rows needing attention, never for one in flight or sent."""
    if status not in ATTENTION:
        raise ValueError(
            f"only {', '.join(ATTENTION)} notifications can be sent again; this one is {status!r}"
        )
    return Transition(Status.PENDING, now, None)


def fallback_cutoff(now: datetime, minutes: float) -> datetime:
    """In-app notifications written at or before this moment and still unread get the e-mail fallback."""
    if minutes <= 0:
        raise ValueError(f"NOTIFY_FALLBACK_MINUTES must be positive, got {minutes}")
    return now - timedelta(minutes=minutes)


def sms_text(subject: str, body: str, limit: int = 480) -> str:
    """One SMS text from a notification: the subject, then as much of the body as fits."""
    text = " ".join(f"{subject}. {body}".split()) if body else " ".join(subject.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
