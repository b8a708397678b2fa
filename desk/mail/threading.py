"""Which request an inbound e-mail belongs to: the threading decision (DESIGN §5), pure.

One client often has several open requests, and clients reuse subjects ("Re: проблема")
for unrelated problems, so the subject never merges threads. What does: the ids a mail
client puts in In-Reply-To/References, which name a message already on a request
(inbound, or a notification we sent); failing that, the `[#REQ-...]` token our
notifications put in the subject. Everything else is a new request.

Rules, in order:

1. A Message-ID already stored is a duplicate (IMAP re-delivery, a message sent to two
   of our addresses): nothing changes.
2. Auto-replies and bounces never open or reopen a request; they are filed with the
   request threading finds, if any.
3. In-Reply-To/References naming a stored message -> that message's request,
   whatever the subject says.
4. A `[#REQ-...]` token of a known request in the subject -> that request.
5. Otherwise a new request.

A matched request that is finished (`done`, `closed` or `rejected`, as
`desk.crm.CLOSED_STATUSES`) is reopened when the reply comes within the reopen window
of its closing time, else a new request linked to it is opened. `done` is treated like
`closed` on purpose: it is what a resolved request looks like to the client, and a reply
saying "it still doesn't work" must reach someone either way. A finished request with
no closing time recorded cannot be measured against the window and gets a linked new
request, which loses nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol

from desk.crm import CLOSED_STATUSES, request_number
from desk.mail.headers import normalize_message_id
from desk.mail.parse import InboundMessage

__all__ = [
    "Action",
    "DEFAULT_REOPEN_WINDOW",
    "DictThreadIndex",
    "KnownRequest",
    "ThreadDecision",
    "ThreadIndex",
    "decide",
    "thread_ids",
]

Action = Literal["new", "appended", "duplicate", "auto_reply", "reopened", "new_linked"]
DEFAULT_REOPEN_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class KnownRequest:
    """What threading needs to know about a stored request."""

    number: str
    status: str
    closed_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in CLOSED_STATUSES


class ThreadIndex(Protocol):
    """Read access to stored messages and requests; the ingest layer implements it over the database."""

    def request_for_message_ids(self, message_ids: Sequence[str]) -> KnownRequest | None:
        """The request of the first id in `message_ids` that is stored (inbound or sent by us), or None.

        `decide` passes the ids most recent first, so a thread that moved to a linked
        request follows its latest message.
        """
        ...

    def request_by_number(self, number: str) -> KnownRequest | None:
        """The request with this number (e.g. "REQ-000123"), or None."""
        ...

    def has_message(self, message_id: str) -> bool:
        """True if a message with this id is already stored, whatever became of it."""
        ...


@dataclass(frozen=True)
class ThreadDecision:
    """What to do with an inbound message, and why (the reason is shown on the message record)."""

    action: Action
    request: str | None
    linked_to: str | None
    reason: str


def thread_ids(msg: InboundMessage) -> list[str]:
    """The ids a message replies to, most recent first: In-Reply-To, then References from the end."""
    ids = [msg.in_reply_to] if msg.in_reply_to else []
    ids.extend(reversed(msg.references))
    return [i for i in dict.fromkeys(ids) if i != msg.message_id]


def decide(
    msg: InboundMessage,
    index: ThreadIndex,
    now: datetime,
    reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
) -> ThreadDecision:
    """Decide whether `msg` is a duplicate, an auto-reply, part of a stored request, or a new one.

    `now` is when the message is processed (not its Date header, which the sender's
    clock wrote); it is measured against a finished request's closing time.
    """
    if index.has_message(msg.message_id):
        found = index.request_for_message_ids([msg.message_id])
        return ThreadDecision(
            "duplicate", found.number if found else None, None, f"message {msg.message_id} is already stored"
        )
    match, how = _match(msg, index)
    if msg.auto_reply:
        where = f"; filed with {match.number} ({how})" if match else ""
        return ThreadDecision(
            "auto_reply", match.number if match else None, None, f"{msg.auto_reply_reason}{where}"
        )
    if match is None:
        return ThreadDecision("new", None, None, how)
    if not match.finished:
        return ThreadDecision("appended", match.number, None, how)
    if match.closed_at is not None and now - match.closed_at <= reopen_window:
        return ThreadDecision(
            "reopened", match.number, None, f"{how}; {match.status} {_age(now - match.closed_at)} ago"
        )
    age = f"{_age(now - match.closed_at)} ago" if match.closed_at else "at an unknown time"
    return ThreadDecision(
        "new_linked",
        None,
        match.number,
        f"{how}; {match.number} was {match.status} {age}, beyond the {_age(reopen_window)} reopen window",
    )


def _match(msg: InboundMessage, index: ThreadIndex) -> tuple[KnownRequest | None, str]:
    """The request threading finds and how, or (None, why not)."""
    ids = thread_ids(msg)
    if ids:
        found = index.request_for_message_ids(ids)
        if found is not None:
            return found, f"replies to a message of {found.number}"
    token = msg.request_token
    if token is not None:
        found = index.request_by_number(token)
        if found is not None:
            return found, f"subject names [#{found.number}]"
        return None, f"subject names [#{token}], which is not a known request"
    if ids:
        return None, "replies to messages that are not on any request"
    return None, "no reference to a known message or request"


def _age(delta: timedelta) -> str:
    delta = max(delta, timedelta(0))  # the sender's or our clock may be behind
    days, seconds = delta.days, delta.seconds
    if days >= 1:
        return f"{days} d {seconds // 3600} h" if seconds >= 3600 else f"{days} d"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


@dataclass
class DictThreadIndex:
    """An in-memory `ThreadIndex` for tests and benchmarks, with the bookkeeping ingest does.

    `apply` records a decision the way the ingest layer will: new and linked requests
    get the next number, reopened requests become "in_progress", and every non-duplicate
    message id is stored so a second delivery is a duplicate.
    """

    requests: dict[str, KnownRequest] = field(default_factory=dict)
    messages: dict[str, str | None] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    next_id: int = 1

    def request_for_message_ids(self, message_ids: Sequence[str]) -> KnownRequest | None:
        for message_id in message_ids:
            number = self.messages.get(message_id)
            if number is not None:
                return self.requests.get(number)
        return None

    def request_by_number(self, number: str) -> KnownRequest | None:
        return self.requests.get(number.upper())

    def has_message(self, message_id: str) -> bool:
        return message_id in self.messages

    def add_request(
        self,
        number: str | None = None,
        *,
        status: str = "new",
        closed_at: datetime | None = None,
        messages: Iterable[str] = (),
    ) -> str:
        """Store a request (the next number unless given) with the ids of its messages."""
        if number is None:
            while request_number(self.next_id) in self.requests:
                self.next_id += 1
            number = request_number(self.next_id)
            self.next_id += 1
        self.requests[number] = KnownRequest(number, status, closed_at)
        for message_id in messages:
            self.record(message_id, number)
        return number

    def record(self, message_id: str, number: str | None) -> None:
        """Store a message id (inbound, or one we sent) on a request, or on none."""
        normalized = normalize_message_id(message_id)
        if normalized is not None:
            self.messages[normalized] = number

    def close(self, number: str, at: datetime, status: str = "done") -> None:
        self.requests[number] = replace(self.requests[number], status=status, closed_at=at)

    def apply(self, msg: InboundMessage, decision: ThreadDecision) -> str | None:
        """Record `decision` for `msg`; returns the request the message is now on, if any."""
        if decision.action == "duplicate":
            return decision.request
        number = decision.request
        if decision.action in ("new", "new_linked"):
            number = self.add_request()
            if decision.linked_to:
                self.links[number] = decision.linked_to
        elif decision.action == "reopened" and number is not None:
            self.requests[number] = replace(self.requests[number], status="in_progress", closed_at=None)
        self.record(msg.message_id, number)
        return number
