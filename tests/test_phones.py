"""Phone numbers: every way people write one number is one E.164 string."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desk.errors import DeskError
from desk.phones import (
    InvalidPhoneError,
    Phone,
    UnknownRegionError,
    format_phone,
    normalize_phone,
    parse_phone,
    try_normalize_phone,
)

MOBILE = "+79161234567"


@pytest.mark.parametrize(
    "raw",
    [
        "8 (916) 123-45-67",
        "+7 916 1234567",
        "79161234567",
        "8-916-123-45-67",
        "9161234567",
        "+7 (916) 123-45-67",
        "  8 916 123 45 67  ",
        "tel:+79161234567",
    ],
)
def test_russian_mobile_in_any_common_format_is_one_e164_number(raw):
    assert normalize_phone(raw) == MOBILE


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("8 (495) 123-45-67", "+74951234567"),
        ("8 800 555-35-35", "+78005553535"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+380 44 123 4567", "+380441234567"),
    ],
)
def test_landlines_toll_free_and_foreign_numbers_normalise(raw, e164):
    assert normalize_phone(raw) == e164


def test_region_decides_how_a_number_without_plus_is_read():
    assert normalize_phone("020 7946 0958", region="GB") == "+442079460958"
    assert normalize_phone("9161234567", region="ru") == MOBILE


@given(st.integers(min_value=0, max_value=9_999_999))
def test_every_format_of_a_mts_mobile_number_agrees(subscriber):
    digits = f"916{subscriber:07d}"
    a, b, c, d, e = digits[:3], digits[3:6], digits[6:8], digits[8:], digits[3:]
    formats = [f"8 ({a}) {b}-{c}-{d}", f"+7 {a} {e}", f"7{digits}", f"8-{a}-{b}-{c}-{d}", digits]
    assert {normalize_phone(raw) for raw in formats} == {f"+7{digits}"}


@pytest.mark.parametrize(
    ("raw", "extension"),
    [
        ("+7 495 123-45-67 доб. 123", "123"),
        ("8 (495) 123-45-67, доб. 5", "5"),
        ("8 (495) 123-45-67 доб.123", "123"),
        ("8 495 123 45 67 ext 12", "12"),
        ("84951234567 ext. 12", "12"),
        ("+74951234567;ext=12", "12"),
    ],
)
def test_extension_is_kept_apart_from_the_number(raw, extension):
    assert parse_phone(raw) == Phone("+74951234567", extension)
    assert normalize_phone(raw) == "+74951234567"


def test_number_without_extension_has_none():
    assert parse_phone("8 (916) 123-45-67") == Phone(MOBILE, None)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("12", "is too short"),
        ("1", "is not a phone number"),
        ("", "is not a phone number"),
        ("unknown", "is not a phone number"),
        ("anonymous", "is not a phone number"),
        ("+7 916 123 45 67 (мобильный)", "is not a phone number"),
        ("8 916 1234 5678", "has the wrong number of digits"),
        ("123-45-67", "is a local number without an area code"),
        ("+7 000 000-00-00", "is not a number in use under +7 (RU/KZ)"),
        ("+999 123 456", "starts with an unknown country code"),
        ("9" * 300, "is too long"),
    ],
)
def test_invalid_number_error_names_the_input_and_why(raw, why):
    with pytest.raises(InvalidPhoneError) as caught:
        normalize_phone(raw)
    err = caught.value
    assert (err.raw, err.region, err.reason) == (raw, "RU", why)
    assert why in str(err)
    assert repr(raw[:40]).rstrip("'") in str(err)
    assert "+7 916 123-45-67" in str(err), "the message shows what a good number looks like"


def test_invalid_phone_error_is_a_desk_error_and_a_value_error():
    with pytest.raises(DeskError):
        normalize_phone("12")
    with pytest.raises(ValueError):
        normalize_phone("12")


def test_try_normalize_turns_junk_into_none_for_bulk_imports():
    rows = ["8 (916) 123-45-67", "", None, "anonymous", "101", "+7 916 123-45-67 доб. 1"]
    assert [try_normalize_phone(raw) for raw in rows] == [MOBILE, None, None, None, None, MOBILE]


def test_unknown_region_is_a_configuration_error_even_in_bulk_paths():
    with pytest.raises(UnknownRegionError, match="'XX'"):
        try_normalize_phone("9161234567", region="XX")


def test_format_phone_writes_the_international_form_operators_dial():
    assert format_phone(MOBILE) == "+7 916 123-45-67"
    assert format_phone("8 (495) 123-45-67 доб. 5") == "+7 495 123-45-67"
