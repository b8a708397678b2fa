"""Phone numbers as one canonical string (E.164), whatever way people typed them.

Contacts, CRM imports and the PBX all write the same number differently
(`8 (916) 123-45-67`, `+7 916 1234567`, `9161234567`). Caller lookup only
works if every one of them is stored and compared as E.164, so this module
is the single place where raw text becomes a number. The parsing rules are
Google's libphonenumber metadata (the `phonenumbers` package), never our own.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

from desk.errors import DeskError

__all__ = [
    "DEFAULT_REGION",
    "InvalidPhoneError",
    "Phone",
    "UnknownRegionError",
    "format_phone",
    "normalize_phone",
    "parse_phone",
    "try_normalize_phone",
]

DEFAULT_REGION = "RU"

_EXAMPLE = "+7 916 123-45-67"

_PARSE_REASONS = {
    NumberParseException.NOT_A_NUMBER: "is not a phone number",
    NumberParseException.INVALID_COUNTRY_CODE: "starts with an unknown country code",
    NumberParseException.TOO_SHORT_AFTER_IDD: "is too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "is too short",
    NumberParseException.TOO_LONG: "is too long",
}

_LENGTH_REASONS = {
    ValidationResult.TOO_SHORT: "is too short",
    ValidationResult.TOO_LONG: "is too long",
    ValidationResult.INVALID_LENGTH: "has the wrong number of digits",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "is a local number without an area code",
    ValidationResult.INVALID_COUNTRY_CODE: "starts with an unknown country code",
}


class InvalidPhoneError(DeskError, ValueError):
    """Raised when text cannot be read as a valid phone number."""

    def __init__(self, raw: str | None, region: str, reason: str) -> None:
        self.raw, self.region, self.reason = raw, region, reason
        shown = raw if raw is None or len(raw) <= 40 else raw[:40] + "…"
        super().__init__(
            f"Phone number {shown!r} {reason} (read with default region {region}). "
            f"Enter the full number with its area code, e.g. {_EXAMPLE}."
        )


class UnknownRegionError(DeskError, ValueError):
    """Raised when the default region is not an ISO 3166 code libphonenumber knows."""

    def __init__(self, region: str) -> None:
        self.region = region
        super().__init__(
            f"Unknown phone region {region!r}; use a two-letter country code such as 'RU' or 'KZ'."
        )


@dataclass(frozen=True)
class Phone:
    """A number in E.164 plus the extension typed after it, kept apart.

    The extension is not part of the number's identity (two contacts at one
    switchboard share the E.164), but an operator calling back needs it.
    """

    e164: str
    extension: str | None = None


def parse_phone(raw: str, region: str = DEFAULT_REGION) -> Phone:
    """Read `raw` as a phone number, returning its E.164 form and extension.

    `region` decides how numbers without `+` are read: under RU a leading
    8 is the trunk prefix and a bare ten-digit number is national. Only
    numbers valid in libphonenumber's metadata pass, so a typo is refused
    here instead of becoming a contact nobody can match.
    """
    number = _parse(raw, region)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return Phone(e164=e164, extension=number.extension or None)


def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """Return `raw` in E.164 (`+79161234567`), dropping any extension.

    E.164 is the key contacts are matched on, so every way of writing one
    number must give the same string.
    """
    return parse_phone(raw, region).e164


def try_normalize_phone(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """Return `raw` in E.164, or None when it is empty or not a valid number.

    Imports and PBX webhooks carry junk ("anonymous", internal "101", blank
    cells) that must not stop a batch or a call; they simply match nobody.
    A wrong `region` is still raised, because it is a configuration error.
    """
    if raw is None:
        return None
    try:
        return normalize_phone(raw, region)
    except InvalidPhoneError:
        return None


def format_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """Return a number written for people (`+7 916 123-45-67`), without extension.

    Subjects and task titles are read by operators who dial by hand; the
    international format is readable and still unambiguous across countries.
    """
    number = _parse(raw, region)
    number.extension = None
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


def _parse(raw: str, region: str) -> phonenumbers.PhoneNumber:
    region_code = _region(region)
    try:
        number = phonenumbers.parse(raw, region_code)
    except NumberParseException as err:
        reason = _PARSE_REASONS.get(err.error_type, "is not a phone number")
        raise InvalidPhoneError(raw, region_code, reason) from err
    length = phonenumbers.is_possible_number_with_reason(number)
    if length != ValidationResult.IS_POSSIBLE:
        raise InvalidPhoneError(raw, region_code, _LENGTH_REASONS.get(length, "is not a phone number"))
    if not phonenumbers.is_valid_number(number):
        regions = "/".join(phonenumbers.region_codes_for_country_code(number.country_code))
        where = f"+{number.country_code} ({regions})" if regions else f"+{number.country_code}"
        raise InvalidPhoneError(raw, region_code, f"is not a number in use under {where}")
    return number


def _region(region: str) -> str:
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise UnknownRegionError(region)
    return code
