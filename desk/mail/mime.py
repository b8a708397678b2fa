"""Walking a message's MIME tree: which parts belong to the message itself.

Both the parser (body, attachments, defects) and auto-reply detection (report
structure) need the same answer: an attached message is one part, its insides are
not this message's.
"""

from __future__ import annotations

from email.message import Message


def _parts(msg: Message) -> list[Message]:
    """Every part in order, containers included; an attached message (message/*) is one part.

    Its insides belong to the attached message: a bounce forwarded by a person is that
    person's request, not a bounce.
    """
    parts: list[Message] = []
    stack = [msg]
    while stack:
        part = stack.pop()
        parts.append(part)
        if part.get_content_maintype() == "multipart" and part.is_multipart():
            stack.extend(reversed(part.get_payload()))
    return parts


def _leaves(msg: Message) -> list[Message]:
    return [
        part
        for part in _parts(msg)
        if not (part.get_content_maintype() == "multipart" and part.is_multipart())
    ]
