"""The e-mail for a notification row: threaded into its request (DESIGN §5), with its stored Message-ID.

A row's Message-ID is fixed when the outbox first claims it and reused on every retry, so a
resend is recognisably the same message to the recipient's client and to our own inbound
threading. Mail about a request carries `[#REQ-…]` and replies to the request's latest
message; mail about nothing in particular (a staff member's own notice) is a plain message.
"""

from __future__ import annotations

import email.policy
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from desk.mail.headers import normalize_message_id
from desk.mail.outbound import OutboundMessageError, build_message

__all__ = ["compose", "new_message_id"]


def new_message_id(domain: str) -> str:
    """A fresh Message-ID on our domain, normalised (no angle brackets)."""
    value = normalize_message_id(make_msgid(idstring="desk", domain=domain))
    assert value is not None
    return value


def compose(
    *,
    mail_from: str,
    to: str,
    subject: str,
    body: str,
    message_id: str,
    date: datetime,
    request_number: str | None,
    thread_ids: Sequence[str],
    automatic: bool,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> EmailMessage:
    """The message to send; raises OutboundMessageError for an address no server would take."""
    domain = message_id.rsplit("@", 1)[-1]
    if request_number:
        message, _ = build_message(
            from_addr=mail_from,
            to=to,
            subject=subject,
            text=body,
            request_number=request_number,
            thread_message_ids=thread_ids,
            domain=domain,
            automatic=automatic,
            date=date,
            message_id=message_id,
            attachments=attachments,
        )
        return message
    message = EmailMessage(policy=email.policy.default.clone(cte_type="7bit"))
    try:
        message["From"] = mail_from
        message["To"] = to
    except (ValueError, TypeError, IndexError) as err:
        raise OutboundMessageError(f"bad address ({err})") from err
    addresses = getattr(message["To"], "addresses", ())
    if message["To"].defects or not addresses or any("@" not in a.addr_spec for a in addresses):
        raise OutboundMessageError(f"bad To address {to!r}")
    message["Subject"] = " ".join(subject.split())
    message["Message-ID"] = f"<{message_id}>"
    message["Date"] = format_datetime(date)
    if automatic:
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "All"
    message.set_content(body)
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=filename)
    return message
