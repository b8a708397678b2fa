"""Inbound e-mail: raw RFC 822 bytes to the facts intake and threading need.

Mail arrives from every client there is, and much of it is slightly broken: Russian
clients still send cp1251 and koi8-r, some label them wrongly or not at all, some put
raw 8-bit bytes in headers, MIME boundaries go missing, base64 is cut short. A service
desk must still open the request, so `parse_message` decodes what it can, records each
problem in `InboundMessage.defects`, and never raises anything but
`MalformedMessageError` -- which it raises only when the input is not an e-mail at all,
so the ingest layer can store it as rejected and keep it for inspection.

MIME structure, transfer encodings, RFC 2047/2231 words and address lists are the
standard library's `email` package (policy `email.policy.default`); this module reads
the message's structure (body, attachments, a missing boundary) and assembles the
result from the package's other parts: the charset fallbacks (desk.mail.charset),
header reading (desk.mail.headers), auto-reply detection (desk.mail.autoreply),
HTML-to-text (desk.mail.html_text) and the split of fresh text from quoted history
(`desk.text.split_reply`).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage, Message

from desk.errors import DeskError
from desk.mail.autoreply import _auto_reply_reason
from desk.mail.charset import _decode_bytes, _repair
from desk.mail.headers import (
    READ_POLICY,
    _addresses,
    _date,
    _decode_words,
    _fold,
    _header,
    _in_reply_to,
    _references,
    extract_request_token,
    normalize_message_id,
)
from desk.mail.html_text import html_to_text
from desk.mail.mime import _leaves, _parts
from desk.text import split_reply

__all__ = [
    "Attachment",
    "DEFAULT_MAX_ATTACHMENT_BYTES",
    "HEADERS_OF_INTEREST",
    "InboundMessage",
    "MalformedMessageError",
    "parse_message",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024

# Headers kept on the message record: auto-reply evidence and what helps an operator
# see which client sent the mail. Keys appear in this spelling.
HEADERS_OF_INTEREST = (
    "Auto-Submitted",
    "Precedence",
    "X-Autoreply",
    "X-Autorespond",
    "X-Auto-Response-Suppress",
    "Return-Path",
    "Reply-To",
    "Sender",
    "List-Id",
    "List-Unsubscribe",
    "X-Mailer",
    "User-Agent",
    "Thread-Topic",
    "Thread-Index",
    "X-MS-Has-Attach",
    "Importance",
    "X-Priority",
    "Content-Language",
)

# A boundary line followed by a part header: "--token" then "Content-...:".
_BOUNDARY_LINE = re.compile(rb"^--([^\s]{1,70})[ \t]*\r?\n(?=content-[\w-]+:)", re.MULTILINE | re.IGNORECASE)
_CONTENT_TYPE_HEADER = re.compile(rb"(?im)^content-type:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Machine-readable parts of delivery and read reports, kept as attachments under these names.
_REPORT_PART_NAMES = {
    "message/delivery-status": "delivery-status.txt",
    "message/global-delivery-status": "delivery-status.txt",
    "message/disposition-notification": "disposition-notification.txt",
    "text/rfc822-headers": "returned-headers.txt",
}


class MalformedMessageError(DeskError):
    """The input is not an RFC 822 message at all (no headers, binary data, no sender)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"Not an e-mail message: {reason}. Store the raw input as rejected and inspect it; "
            "it cannot open or join a request."
        )


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message; `data` is None when it exceeded the size limit (`truncated`)."""

    filename: str
    content_type: str
    size: int
    data: bytes | None
    truncated: bool = False
    inline: bool = False
    content_id: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """What intake and threading need from one inbound e-mail, decoded once.

    Message ids are normalised (no angle brackets, no whitespace) so that ids read from
    Message-ID, In-Reply-To and References, and ids we generate, compare equal.
    `text` is the fresh request text; `quoted` keeps the quoted history and signature
    for the message record. `defects` lists what was wrong with the input but recovered.
    """

    message_id: str
    synthetic_id: bool
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    from_address: str
    from_name: str
    reply_to: tuple[str, ...]
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None
    text: str
    quoted: str
    html: str | None
    attachments: tuple[Attachment, ...]
    auto_reply: bool
    auto_reply_reason: str | None
    headers: dict[str, str] = field(default_factory=dict, hash=False)
    defects: tuple[str, ...] = ()

    @property
    def request_token(self) -> str | None:
        """The `[#REQ-...]` number in the subject, the fallback threading hook."""
        return extract_request_token(self.subject)


def parse_message(raw: bytes, max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES) -> InboundMessage:
    """Decode one raw e-mail into an `InboundMessage`.

    Raises `MalformedMessageError` for input that is not a message (no headers, binary
    data, no sender address) and nothing else: every other problem is recovered from and
    listed in `defects`, because a client's request must not be lost to a broken MIME
    part. Attachments larger than `max_attachment_bytes` keep their name and size but not
    their data.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise MalformedMessageError(f"expected bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    try:
        return _parse(raw, max_attachment_bytes)
    except MalformedMessageError:
        raise
    except RecursionError as err:
        raise MalformedMessageError("MIME parts are nested too deeply to read") from err
    except Exception as err:  # a parser bug must not stop the ingest loop
        log.exception("mail parse failed on %s bytes", len(raw))
        raise MalformedMessageError(
            f"the message could not be decoded ({type(err).__name__}: {err})"
        ) from err


def _parse(raw: bytes, max_attachment_bytes: int) -> InboundMessage:
    if not raw.strip():
        raise MalformedMessageError("the input is empty")
    defects: list[str] = []
    msg = _read(raw, defects)
    if not msg.keys():
        raise MalformedMessageError("no header lines before the body")
    header_block = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    if b"\x00" in header_block:
        raise MalformedMessageError("binary data (NUL bytes) in the header block")

    from_header = _header(msg, "From")
    if not from_header:
        raise MalformedMessageError("no From header")
    senders = _addresses(msg, "From", defects)
    if not senders:
        raise MalformedMessageError(f"the From header names no address ({from_header[:80]!r})")
    from_name, from_address = senders[0]

    message_id = normalize_message_id(_header(msg, "Message-ID"))
    synthetic = message_id is None
    if message_id is None:
        message_id = f"synthetic-{hashlib.sha256(raw).hexdigest()[:32]}@desk.invalid"
        defects.append("no Message-ID; a synthetic id was derived from the message bytes")

    subject = _fold(_header(msg, "Subject") or "")
    for part in _parts(msg):
        defects.extend(f"{type(d).__name__} in a {part.get_content_type()} part" for d in part.defects)
    body_text, html, attachments = _content(msg, max_attachment_bytes, defects)
    fresh, quoted = split_reply(body_text)
    reason = _auto_reply_reason(msg, from_address, subject)
    headers = {
        name: _fold(value) for name in HEADERS_OF_INTEREST if (value := _header(msg, name)) is not None
    }

    return InboundMessage(
        message_id=message_id,
        synthetic_id=synthetic,
        in_reply_to=_in_reply_to(_header(msg, "In-Reply-To")),
        references=_references(_header(msg, "References")),
        subject=subject,
        from_address=from_address,
        from_name=from_name,
        reply_to=tuple(address for _, address in _addresses(msg, "Reply-To", defects)),
        to=tuple(address for _, address in _addresses(msg, "To", defects)),
        cc=tuple(address for _, address in _addresses(msg, "Cc", defects)),
        date=_date(_header(msg, "Date"), defects),
        text=fresh,
        quoted=quoted,
        html=html,
        attachments=tuple(attachments),
        auto_reply=reason is not None,
        auto_reply_reason=reason,
        headers=headers,
        defects=tuple(dict.fromkeys(defects)),
    )


# ---------------------------------------------------------------------------
# Structure
# ---------------------------------------------------------------------------


def _read(raw: bytes, defects: list[str]) -> EmailMessage:
    """Parse the bytes, recovering a multipart whose boundary parameter is missing.

    The boundary is taken from the first "--token" line of the body that a part header
    follows, and kept only if the message then splits into parts; otherwise the body is
    read as plain text.
    """
    msg = email.message_from_bytes(raw, policy=READ_POLICY)
    if msg.get_content_maintype() != "multipart" or msg.get_param("boundary"):
        return msg
    ends = [at + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (at := raw.find(sep)) >= 0]
    guess = _BOUNDARY_LINE.search(raw, min(ends)) if ends else None
    if guess is not None:
        boundary = guess.group(1).replace(b'"', b"")
        patched = _CONTENT_TYPE_HEADER.sub(
            lambda m: m.group(0) + b'; boundary="' + boundary + b'"', raw, count=1
        )
        recovered = email.message_from_bytes(patched, policy=READ_POLICY)
        if recovered.is_multipart() and recovered.get_payload():
            defects.append(f"multipart without a boundary parameter; used {boundary.decode('latin-1')!r}")
            return recovered
    defects.append("multipart without a boundary parameter; the body was read as plain text")
    return msg


def _content(
    msg: EmailMessage, max_attachment_bytes: int, defects: list[str]
) -> tuple[str, str | None, list[Attachment]]:
    """(readable body text, raw HTML or None, attachments) of a message."""
    if msg.get_content_maintype() == "multipart" and not msg.is_multipart():
        # Boundary could not be recovered: the whole body is all we have.
        return _part_text(msg, defects, force_plain=True), None, []
    plain = _body_part(msg, "plain")
    html_part = _body_part(msg, "html")
    html = _part_text(html_part, defects) if html_part is not None else None
    text = _part_text(plain, defects) if plain is not None else ""
    if not text.strip() and html:
        try:
            text = html_to_text(html)
        except Exception:  # lxml is foreign code; a bad HTML part must not lose the message
            log.exception("HTML to text failed")
            defects.append("the HTML part could not be converted to text")
    if (
        plain is None
        and html_part is None
        and msg.get_content_maintype() == "text"
        and not msg.is_attachment()
    ):
        text = _part_text(msg, defects, force_plain=True)
    body_parts = {id(part) for part in (plain, html_part) if part is not None}
    attachments = [
        _attachment(part, index, max_attachment_bytes, defects)
        for index, part in enumerate(_leaves(msg), start=1)
        if id(part) not in body_parts and _is_attachment(part)
    ]
    return text, html, attachments


def _body_part(msg: EmailMessage, subtype: str) -> EmailMessage | None:
    try:
        part = msg.get_body(preferencelist=(subtype,))
    except Exception:
        return None
    return part if isinstance(part, EmailMessage) else None


def _is_attachment(part: Message) -> bool:
    """Files, images and attached messages are attachments; unnamed alternative text parts are not."""
    if part.get_content_maintype() == "multipart":
        return False
    if part.get_content_maintype() != "text" or part.get_content_type() in _REPORT_PART_NAMES:
        return True
    return part.get_content_disposition() == "attachment" or bool(_filename(part))


def _attachment(part: Message, index: int, limit: int, defects: list[str]) -> Attachment:
    content_type = part.get_content_type()
    data = _payload_bytes(part, defects)
    name = _filename(part) or _default_filename(part, index)
    content_id = normalize_message_id(_header(part, "Content-ID"))
    inline = part.get_content_disposition() == "inline"
    if len(data) > limit:
        return Attachment(
            name, content_type, len(data), None, truncated=True, inline=inline, content_id=content_id
        )
    return Attachment(name, content_type, len(data), data, inline=inline, content_id=content_id)


def _filename(part: Message) -> str | None:
    """The decoded file name, without any directory part a hostile sender may add."""
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        return None
    name = _repair(name)
    if "=?" in name:
        name = _decode_words(name)
    name = _CONTROL.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return name or None


def _default_filename(part: Message, index: int) -> str:
    content_type = part.get_content_type()
    if content_type == "message/rfc822":
        inner = part.get_payload(0) if part.is_multipart() else None
        subject = _fold(_header(inner, "Subject") or "") if isinstance(inner, Message) else ""
        stem = re.sub(r"[\\/:*?\"<>|]+", "_", subject)[:80].strip() or f"message-{index}"
        return f"{stem}.eml"
    if content_type in _REPORT_PART_NAMES:
        return _REPORT_PART_NAMES[content_type]
    extension = mimetypes.guess_extension(content_type) or ".bin"
    return f"part-{index}{extension}"


def _payload_bytes(part: Message, defects: list[str]) -> bytes:
    """The transfer-decoded bytes of a part (an attached message is its full source)."""
    if part.get_content_maintype() == "message" and part.is_multipart():
        try:
            return part.get_payload(0).as_bytes(policy=email.policy.SMTP)
        except Exception:
            defects.append("an attached message could not be re-serialised; its data is empty")
            return b""
    before = len(part.defects)
    data = part.get_payload(decode=True)
    for defect in part.defects[before:]:
        defects.append(f"{type(defect).__name__} in a {part.get_content_type()} part")
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    return payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""


def _part_text(part: Message, defects: list[str], *, force_plain: bool = False) -> str:
    """The decoded text of a text part, charset problems recovered (see `_decode_bytes`)."""
    data = _payload_bytes(part, defects)
    charset = part.get_content_charset()
    text, problem = _decode_bytes(data, charset)
    if problem:
        defects.append(problem)
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if (
        not force_plain
        and part.get_content_subtype() == "plain"
        and part.get_param("format", "").lower() == "flowed"
    ):
        text = _unflow(text, delsp=str(part.get_param("delsp", "")).lower() == "yes")
    return text


def _unflow(text: str, *, delsp: bool) -> str:
    """Join the soft line breaks of format=flowed text (RFC 3676), keeping each line's quote depth.

    Thunderbird and Apple clients wrap paragraphs at 72 columns this way; joined, an
    attribution line reads as one line again and a request as whole sentences.
    """
    out: list[str] = []
    current: str | None = None
    depth = -1
    for line in text.split("\n"):
        level = len(line) - len(line.lstrip(">"))
        content = line[level:]
        if content.startswith(" "):
            content = content[1:]
        if current is not None and level != depth:
            out.append(current)
            current = None
        if current is None:
            current, depth = ("> " * level + content) if level else content, level
        else:
            current += content
        if content.endswith(" ") and content != "-- ":
            if delsp:
                current = current[:-1]
        else:
            out.append(current)
            current, depth = None, -1
    if current is not None:
        out.append(current)
    return "\n".join(out)
