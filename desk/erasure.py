"""Erasing a contact's personal data on request: what counts as theirs, and how text loses it.

A person may ask the desk to forget them (GDPR art. 17, 152-FZ art. 21). The requests they
opened stay, because reports count them, but without anything that says who they were:
subject, body and address go, and every place where their e-mail address or phone number
was copied (mail headers and bodies, call logs, notifications, process variables, import
rows) is found by value and overwritten. The record of the erasure says who erased which
contact and when, with row counts only.

Pure functions here; service.erasure runs them over the database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import phonenumbers
from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from desk.errors import DeskError
from desk.models import Base

# A request in one of these statuses is over; any other status means the contact is still served.
FINISHED_STATUSES = frozenset({"done", "closed", "rejected", "cancelled"})
ERASED = "[erased]"
MIN_PHONE_DIGITS = 7


class ErasureRecord(Base):
    """Who erased which contact, when, and how many rows each table had changed: no erased data."""

    __tablename__ = "erasure_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(Integer, index=True)
    erased_by: Mapped[str | None] = mapped_column(String(64))
    erased_at: Mapped[datetime]
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)


class ErasureError(DeskError):
    """Base of the erasure's refusals."""


class ContactNotFoundError(ErasureError):
    def __init__(self, contact_id: int) -> None:
        self.contact_id = contact_id
        super().__init__(f"No contact {contact_id}; look the id up on the request card or in /api/contacts.")


class ContactHasOpenRequestsError(ErasureError):
    """The contact still has requests in work: erasing now would break their handling."""

    def __init__(self, contact_id: int, numbers: Sequence[str]) -> None:
        self.contact_id, self.numbers = contact_id, list(numbers)
        super().__init__(
            f"Contact {contact_id} has {len(self.numbers)} open request(s): {', '.join(self.numbers)}. "
            "Close or cancel them first, then erase the contact."
        )


def phone_forms(phones: Iterable[str | None]) -> list[str]:
    """Every way a phone number is written in the desk's rows: as typed, digits only, E.164, and
    the Russian trunk form (8…) of a +7 number."""
    forms: set[str] = set()
    for raw in phones:
        if not raw:
            continue
        digits = re.sub(r"\D", "", raw)
        if len(digits) < MIN_PHONE_DIGITS:
            continue
        forms.update({raw.strip(), digits, f"+{digits}"})
        if digits.startswith("7") and len(digits) == 11:
            forms.update({f"8{digits[1:]}", digits[1:]})
        if digits.startswith("8") and len(digits) == 11:
            forms.update({f"+7{digits[1:]}", f"7{digits[1:]}", digits[1:]})
        forms.update(_written_forms(f"+7{digits[1:]}" if digits.startswith("8") else f"+{digits}"))
    return sorted(forms, key=lambda f: (-len(f), f))


def _written_forms(e164: str) -> set[str]:
    """How the desk writes a number for people (subjects, task titles): international and national."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return set()
    return {
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL),
    }


def needles(email: str | None, phones: Iterable[str | None]) -> list[str]:
    """What to look for: the address (lower case; matching ignores case) and the phone's forms,
    longest first, so a longer form is replaced before a shorter one inside it."""
    found = [email.strip().lower()] if email and email.strip() else []
    return sorted({*found, *phone_forms(phones)}, key=lambda f: (-len(f), f))


def _marker(index: int) -> str:
    # Distinct per needle: two unique keys that differed only by the erased value stay distinct.
    return f"[erased-{index}]"


def scrub_text(value: str, found: Sequence[str]) -> str:
    """`value` with every needle (case-insensitively) replaced by a marker."""
    for index, needle in enumerate(found):
        value = re.sub(re.escape(needle), _marker(index), value, flags=re.IGNORECASE)
    return value


def scrub_bytes(value: bytes, found: Sequence[str]) -> bytes:
    for index, needle in enumerate(found):
        value = re.sub(re.escape(needle.encode()), _marker(index).encode(), value, flags=re.IGNORECASE)
    return value


def scrub_json(value: Any, found: Sequence[str]) -> Any:
    """A JSON value with every string (keys included) scrubbed."""
    if isinstance(value, str):
        return scrub_text(value, found)
    if isinstance(value, list):
        return [scrub_json(v, found) for v in value]
    if isinstance(value, dict):
        return {scrub_text(str(k), found): scrub_json(v, found) for k, v in value.items()}
    return value


def contains(value: Any, found: Sequence[str]) -> bool:
    """Whether any needle is in a text, bytes or JSON value (ignoring case): the scan's test."""
    if value is None:
        return False
    if isinstance(value, bytes | bytearray | memoryview):
        text = bytes(value).decode("utf-8", "replace").lower()
    elif isinstance(value, str):
        text = value.lower()
    else:
        text = json.dumps(value, ensure_ascii=False).lower()
    return any(n.lower() in text for n in found)
