"""Outbound e-mail that threads back (DESIGN §5): own Message-ID, In-Reply-To, References, token.

A client's reply carries our message's id in In-Reply-To/References, which is how
`desk.mail.threading.decide` finds the request again; clients that drop those headers
still keep the subject, so it carries the `[#REQ-...]` token as the fallback. The
caller stores the returned Message-ID on the request before sending (the outbox row),
so the reply can be matched and a retried send reuses the same id.
"""

from __future__ import annotations

import email.policy
import re
from collections.abc import Sequence
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from desk.errors import DeskError
from desk.mail.headers import extract_request_token, normalize_message_id
from desk.mail.parse import Attachment

__all__ = ["MAX_REFERENCES", "OutboundMessageError", "build_message", "format_subject", "references_header"]

# RFC 5322 practice (and RFC 5537 for news): keep the thread's first id and its latest
# ones; very long References headers get truncated or rejected by some servers.
MAX_REFERENCES = 11

# 7-bit transfer encodings: the message survives any relay, 8BITMIME or not.
_POLICY = email.policy.default.clone(cte_type="7bit")
_TOKEN = re.compile(r"\s*\[#\s*REQ-\d{6,}\s*\]\s*", re.IGNORECASE)
_REPLY_PREFIX = re.compile(r"^(?:(?:re|fwd?|aw|wg|ответ|отв|пересл)(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)

AttachmentSpec = Attachment | tuple[str, str, bytes]


class OutboundMessageError(DeskError):
    """A notification cannot be built from the given values (no recipient, bad address, no domain)."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"Cannot build the e-mail: {problem}. Fix the notification's recipient or settings.")


def build_message(
    *,
    from_addr: str | Address,
    to: str | Address | Sequence[str | Address],
    subject: str,
    text: str,
    html: str | None = None,
    request_number: str,
    thread_message_ids: Sequence[str],
    domain: str,
    attachments: Sequence[AttachmentSpec] = (),
    automatic: bool = False,
    cc: Sequence[str | Address] = (),
    date: datetime | None = None,
    message_id: str | None = None,
) -> tuple[EmailMessage, str]:
    """Build a message on a request's thread; returns it and its Message-ID (normalised, no brackets).

    `thread_message_ids` are the request's stored message ids in order (inbound and
    sent); the last is the one replied to. `automatic` marks notifications no person
    wrote (RFC 3834 `Auto-Submitted: auto-generated`), so well-behaved responders do not
    answer them with out-of-office mail. Pass `message_id` to reuse an id stored with the
    outbox row (a retried send must not look like a new message); `date` is the send
    time, left to the mail server when None.
    """
    if not domain or any(ch in domain for ch in "<>@ \t\r\n"):
        raise OutboundMessageError(f"invalid Message-ID domain {domain!r}")
    recipients = [to] if isinstance(to, str | Address) else list(to)
    if not recipients:
        raise OutboundMessageError("no recipient")
    own_id = normalize_message_id(message_id if message_id is not None else make_msgid(domain=domain))
    if own_id is None:
        raise OutboundMessageError(f"invalid Message-ID {message_id!r}")
    thread = [
        i for i in dict.fromkeys(normalize_message_id(t) for t in thread_message_ids) if i and i != own_id
    ]

    msg = EmailMessage(policy=_POLICY)
    try:
        msg["From"] = str(from_addr)
        msg["To"] = ", ".join(str(r) for r in recipients)
        if cc:
            msg["Cc"] = ", ".join(str(r) for r in cc)
    except (ValueError, TypeError, IndexError) as err:
        raise OutboundMessageError(f"bad address ({err})") from err
    for name in ("From", "To", "Cc"):
        _check_addresses(msg, name)
    msg["Subject"] = format_subject(subject, request_number)
    msg["Message-ID"] = f"<{own_id}>"
    if date is not None:
        msg["Date"] = format_datetime(date)
    if thread:
        msg["In-Reply-To"] = f"<{thread[-1]}>"
        msg["References"] = references_header(thread)
    if automatic:
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for spec in attachments:
        filename, content_type, data = _attachment_values(spec)
        maintype, _, subtype = content_type.partition("/")
        msg.add_attachment(
            data, maintype=maintype or "application", subtype=subtype or "octet-stream", filename=filename
        )
    return msg, own_id


def format_subject(subject: str, request_number: str) -> str:
    """The subject with `[#REQ-...]` exactly once; other requests' tokens are dropped.

    A subject that already carries the token (a reply to our own notification) is left
    as it is; a foreign token (replying on an older, linked request's thread) would make
    the fallback hook pick the wrong request, so it goes. The token follows any
    "Re:"/"Fwd:" prefix, where clients expect the subject proper to start.
    """
    number = request_number.upper()
    subject = " ".join(subject.split())
    if extract_request_token(subject) == number and len(_TOKEN.findall(subject)) == 1:
        return subject
    bare = " ".join(_TOKEN.sub(" ", subject).split())
    prefix = _REPLY_PREFIX.match(bare)
    head, rest = (bare[: prefix.end()], bare[prefix.end() :]) if prefix else ("", bare)
    return f"{head}[#{number}] {rest}".rstrip()


def references_header(thread_ids: Sequence[str]) -> str:
    """A References value for a thread: its first id and the latest ones, within MAX_REFERENCES."""
    ids = list(thread_ids)
    if len(ids) > MAX_REFERENCES:
        ids = ids[:1] + ids[-(MAX_REFERENCES - 1) :]
    return " ".join(f"<{i}>" for i in ids)


def _check_addresses(msg: EmailMessage, name: str) -> None:
    """Refuse an address header that `email` could only read with defects: the send would bounce."""
    header = msg[name]
    if header is None:
        return
    addresses = getattr(header, "addresses", ())
    if header.defects or not addresses or any("@" not in a.addr_spec for a in addresses):
        raise OutboundMessageError(f"bad {name} address {str(header)!r}")


def _attachment_values(spec: AttachmentSpec) -> tuple[str, str, bytes]:
    if isinstance(spec, Attachment):
        if spec.data is None:
            raise OutboundMessageError(
                f"attachment {spec.filename!r} has no data (it was over the size limit)"
            )
        return spec.filename, spec.content_type, spec.data
    filename, content_type, data = spec
    return filename, content_type, data
