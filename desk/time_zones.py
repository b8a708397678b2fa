"""Which time zones a staff user may read times in: the IANA names Python's zoneinfo knows.

Pure values: the web's profile page offers `ZONES` and saves only what `check_zone` accepts.
"""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from desk.errors import DeskError


class UnknownTimeZoneError(DeskError, ValueError):
    """A zone name zoneinfo does not know (a typo, an abbreviation like MSK, an offset)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.say(
            "Unknown time zone %(name)r; choose one from the list, written like Europe/Moscow "
            "or Asia/Yekaterinburg.",
            name=name,
        )


@cache
def zones() -> tuple[str, ...]:
    """Region/City names, sorted (the legacy aliases like 'W-SU' and bare 'UTC' left out but UTC kept)."""
    names = {n for n in available_timezones() if "/" in n and not n.startswith(("Etc/", "SystemV/"))}
    return tuple(sorted(names | {"UTC"}))


def check_zone(name: str) -> str:
    """The zone name, stripped, when zoneinfo knows it; UnknownTimeZoneError otherwise."""
    cleaned = (name or "").strip()
    if cleaned not in zones():
        raise UnknownTimeZoneError(cleaned)
    ZoneInfo(cleaned)  # present in the tz database of this machine
    return cleaned
