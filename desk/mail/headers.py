"""Header reading: decoded values, address lists, dates and the message ids threading compares.

Headers come folded, RFC 2047-encoded in any charset, with raw 8-bit bytes, and with
message ids written every way clients write them; threading (desk.mail.threading) and
the outbound side (desk.mail.outbound) must see one spelling of an id, so
`normalize_message_id` and the `[#REQ-...]` subject token live here beside the
readers that use them.
"""

from __future__ import annotations

import email.policy
import email.utils
import re
from datetime import UTC, datetime
from email.header import decode_header
from email.message import Message
from email.policy import EmailPolicy
from functools import lru_cache
from typing import Any

from desk.mail.charset import _decode_bytes, _repair

_REQUEST_TOKEN = re.compile(r"\[#\s*(REQ-\d{6,})\s*\]", re.IGNORECASE)
_ANGLE_ID = re.compile(r"<([^<>]*)>")
_WHITESPACE = re.compile(r"\s+")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


class _ReadPolicy(EmailPolicy):
    """`email.policy.default`, whose parsed headers are reused for equal (name, value) pairs.

    The default policy parses a header anew on every access, and reading one message asks
    for its Content-Type about seventeen times (structure, body, attachments, auto-reply
    checks): that parsing took a fifth of a reply's ingest. Parsed headers are immutable,
    and most values (content types, our own addresses) recur from message to message.
    """

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if hasattr(value, "name") or not isinstance(value, str):
            return super().header_fetch_parse(name, value)
        return _parsed_header(name, value)


@lru_cache(maxsize=4096)
def _parsed_header(name: str, value: str) -> Any:
    return email.policy.default.header_fetch_parse(name, value)


#: The policy inbound messages are read with (desk.mail.parse).
READ_POLICY = _ReadPolicy()


def extract_request_token(subject: str) -> str | None:
    """The request number of the first `[#REQ-000123]` token in a subject, upper-cased, or None.

    Our notifications put the token in the subject so that a reply from a client that
    drops In-Reply-To/References (or a new message with the token pasted) still finds
    its request. The first token wins: it is the one added last when subjects nest.
    """
    found = _REQUEST_TOKEN.search(subject or "")
    return found.group(1).upper() if found else None


def normalize_message_id(value: str | None) -> str | None:
    """A message id without angle brackets and whitespace, or None if nothing is left.

    Clients fold long ids and some drop the brackets; stored ids and ids read from
    In-Reply-To/References must compare equal regardless.
    """
    if not value:
        return None
    found = _ANGLE_ID.search(value)
    candidate = found.group(1) if found else value
    candidate = _WHITESPACE.sub("", candidate).strip("<>")
    return candidate or None


def _raw_header(msg: Message, name: str) -> str | None:
    """The first `name` header as it came in (unfolded; raw 8-bit bytes as surrogates), or None."""
    wanted = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == wanted:
            return _FOLD.sub("", str(value))
    return None


def _header(msg: Message | None, name: str) -> str | None:
    """A header's decoded value (RFC 2047 words and raw 8-bit text), or None if absent."""
    if msg is None:
        return None
    value = _raw_header(msg, name)
    if value is None:
        return None
    return _decode_words(_repair(value)).strip()


def _decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words, guessing when their charset is unknown or wrong."""
    if "=?" not in value:
        return value
    try:
        chunks = decode_header(value)
    except Exception:
        return value
    parts: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            parts.append(chunk)
        elif charset is None:
            parts.append(chunk.decode("raw-unicode-escape" if not value.isascii() else "ascii", "replace"))
        else:
            parts.append(_decode_bytes(chunk, charset)[0])
    return "".join(parts)


def _fold(value: str) -> str:
    return _WHITESPACE.sub(" ", value).strip()


def _addresses(msg: Message, name: str, defects: list[str]) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs of an address header, best effort."""
    value = _raw_header(msg, name)
    if value is None:
        return []
    value = _repair(value)
    pairs: list[tuple[str, str]] = []
    try:
        header: Any = READ_POLICY.header_fetch_parse(name, value)
        for address in header.addresses:
            if address.addr_spec and address.addr_spec != "<>":
                pairs.append((_fold(address.display_name or ""), address.addr_spec.lower()))
    except Exception:
        defects.append(f"unparsable {name} header; read leniently")
        pairs = [
            (_fold(_decode_words(display)), address.lower())
            for display, address in email.utils.getaddresses([value])
            if address
        ]
    return pairs


def _in_reply_to(value: str | None) -> str | None:
    """The replied-to id; old clients write `In-Reply-To: Your message of ... <id>`."""
    if not value:
        return None
    ids = _id_list(value)
    return ids[0] if ids else normalize_message_id(value)


def _references(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    ids = _id_list(value)
    if not ids:
        ids = [i for token in re.split(r"[\s,]+", value) if (i := normalize_message_id(token))]
    return tuple(dict.fromkeys(ids))


def _id_list(value: str) -> list[str]:
    return [i for found in _ANGLE_ID.findall(value) if (i := normalize_message_id(found))]


def _date(value: str | None, defects: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append(f"unparsable Date header {value[:60]!r}")
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
