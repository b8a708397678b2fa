"""Per-user channel preferences per event: which of in-app, e-mail and SMS a staff member wants.

A diagram or handler decides *who* hears about an event and on its default channel (staff:
in-app). The person decides *how*: a preference row for (user, event) replaces that default
with the ticked channels, applied when the notification is written, in the same transaction.
No row means the default stands.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Set
from typing import Any, NamedTuple

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint, and_, bindparam, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from desk.models import Base, Notification, User
from desk.outbox import Status, check_channels
from desk.phones import try_normalize_phone
from desk.session_reads import core_rows, per_process

__all__ = [
    "NotificationPreference",
    "Reach",
    "apply_preferences",
    "derived_keys",
    "preferences_of",
    "reach",
    "reshape",
    "save_preferences",
    "wants",
]

log = logging.getLogger(__name__)


class NotificationPreference(Base):
    """The channels one user ticked for one event (a notification template name)."""

    __tablename__ = "notification_preference"
    __table_args__ = (UniqueConstraint("user_id", "event", name="uq_notification_preference_user_event"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("desk_user.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(64))
    channels: Mapped[list[Any]] = mapped_column(JSON, default=list)


def preferences_of(session: Session, user: User) -> dict[str, list[str]]:
    """Event -> ticked channels for the events this user has set (others keep their default)."""
    rows = session.scalars(select(NotificationPreference).where(NotificationPreference.user_id == user.id))
    return {row.event: list(row.channels) for row in rows}


def save_preferences(session: Session, user: User, choices: Mapping[str, Iterable[str]]) -> None:
    """Store the ticked channels per event (an empty list means: tell me nothing about it)."""
    current = {
        row.event: row
        for row in session.scalars(
            select(NotificationPreference).where(NotificationPreference.user_id == user.id)
        )
    }
    for event, channels in choices.items():
        wanted = check_channels(list(channels))
        row = current.get(event)
        if row is None:
            session.add(NotificationPreference(user_id=user.id, event=event, channels=wanted))
        else:
            row.channels = wanted
    session.flush()


def wants(session: Session, username: str, event: str, channel: str) -> bool | None:
    """Whether the user ticked `channel` for `event`; None when they have no preference for it."""
    row = session.execute(
        select(NotificationPreference.channels)
        .join(User, User.id == NotificationPreference.user_id)
        .where(User.username == username, NotificationPreference.event == event)
    ).first()
    return None if row is None else channel in row[0]


class Reach(NamedTuple):
    """What notifying one staff member needs: their language and name, their addresses, and the
    channels they ticked for one event (None: no choice, the default channel stands)."""

    username: str
    full_name: str
    language: str
    email: str | None
    phone: str | None
    channels: list[str] | None


_REACH = (
    select(
        User.username,
        User.full_name,
        User.language,
        User.email,
        User.phone,
        NotificationPreference.channels,
    )
    .outerjoin(
        NotificationPreference,
        and_(NotificationPreference.user_id == User.id, NotificationPreference.event == bindparam("event")),
    )
    .where(User.username.in_(bindparam("names", expanding=True)))
)


def reach(session: Session, usernames: Iterable[str], event: str) -> dict[str, Reach]:
    """Username -> Reach for the staff among `usernames`, with their choice for `event`.

    One statement for a notification's whole recipient list (and the request's assignee, whose
    name templates show): a lookup per recipient plus a preference read per row cost more than
    the notification itself. Kept while the two tables' read tokens stay (per_process): the
    same people are notified of the same events all day, and an edit counts from the next
    transaction.
    """
    names = tuple(sorted({n for n in usernames if n}))
    if not names:
        return {}
    found = per_process(
        session,
        ("preferences.reach", names, event),
        (User, NotificationPreference),
        lambda: {
            row.username: Reach(*row) for row in core_rows(session, _REACH, {"names": names, "event": event})
        },
    )
    return dict(found)


def apply_preferences(session: Session, row: Notification) -> list[Notification]:
    """Reshape a just-written notification to its recipient's ticked channels; returns the added rows.

    The default row is skipped (kept, with the reason, for the request card) when its channel
    is not ticked; each other ticked channel gets its own row with a derived idempotency key,
    so a re-run job adds nothing twice.
    """
    check_channels([row.channel])
    who = reach(session, [row.recipient], row.template).get(row.recipient)
    if who is None or who.channels is None:  # no such user, or no choice for this event
        return []
    keys = derived_keys(row.idempotency_key, row.channel, who)
    taken = (
        set(
            session.scalars(
                select(Notification.idempotency_key).where(Notification.idempotency_key.in_(keys))
            )
        )
        if keys
        else set()
    )
    added = reshape(row, who, taken)
    session.add_all(added)
    if added or row.status == Status.SKIPPED.value:
        session.flush()
    return added


def derived_keys(key: str, channel: str, who: Reach | None) -> list[str]:
    """The idempotency keys of the extra rows `who`'s choice adds to a row on `channel`, to read first."""
    if who is None or who.channels is None:
        return []
    return [_derived_key(key, c) for c in check_channels(list(who.channels)) if c != channel]


def reshape(row: Notification, who: Reach | None, taken: Set[str]) -> list[Notification]:
    """Apply `who`'s choice to an unwritten or just-written row; the extra rows it needs (not yet added).

    `taken` holds the derived keys that exist already (derived_keys, read by the caller), so a
    re-run job adds nothing twice. No choice for the event: the row stands as it is.
    """
    check_channels([row.channel])
    if who is None or who.channels is None:
        return []
    wanted = check_channels(list(who.channels))
    if row.channel not in wanted:
        row.status = Status.SKIPPED.value
        row.dead_reason = f"{who.username} turned {row.channel} off for {row.template!r}"
    added = []
    for channel in (c for c in wanted if c != row.channel):
        address = _address(who, channel)
        if address is None:
            log.info("notification %s: %s has no address for %s", row.id, who.username, channel)
            continue
        key = _derived_key(row.idempotency_key, channel)
        if key in taken:
            continue
        added.append(
            Notification(
                recipient=address,
                channel=channel,
                template=row.template,
                payload=dict(row.payload or {}),
                subject=row.subject,
                body=row.body,
                idempotency_key=key,
                status=Status.PENDING.value,
                attempts=0,
                request_id=row.request_id,
                task_id=row.task_id,
                created_at=row.created_at,
            )
        )
    return added


def _address(user: Reach, channel: str) -> str | None:
    if channel == "in_app":
        return user.username
    if channel == "email":
        return user.email or None
    return try_normalize_phone(user.phone)


def _derived_key(key: str, channel: str) -> str:
    derived = f"{key}:{channel}"
    if len(derived) <= 255:
        return derived
    return f"{hashlib.sha256(key.encode()).hexdigest()}:{channel}"
