"""`sla.handling` (one pass over the support calendar, used by the legacy import) gives exactly the
figures of `next_working_moment`, `sla.pickup` and `sla.processing_minutes` taken one by one."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from desk import sla
from desk.calendar import (
    Calendar,
    get_calendar,
    next_working_moment,
    working_time_between,
    working_times_from_arrival,
)

MSK = ZoneInfo("Europe/Moscow")
SHIFT = Calendar(
    "support",
    "Asia/Yekaterinburg",
    [[(8 * 60, 12 * 60), (13 * 60, 17 * 60)]] * 5 + [[], []],
    extra_holidays=[date(2025, 3, 3)],
    extra_working_days=[date(2025, 3, 8)],
)

moments = st.datetimes(
    min_value=datetime(2023, 12, 20), max_value=datetime(2026, 1, 10), timezones=st.just(MSK)
)
legs = st.integers(min_value=-600, max_value=20 * 1440)


def separately(created, taken, done, calendars):
    """The three figures as live handling computes them, one function each."""
    arrival = next_working_moment(created, get_calendar(sla.PICKUP_CALENDAR, calendars))
    pickup = sla.pickup(created, taken, calendars) if taken is not None else None
    processing = sla.processing_minutes(taken or arrival, done, calendars) if done is not None else None
    return sla.Handling(arrival, pickup, processing)


@settings(max_examples=300, deadline=None)
@given(
    created=moments,
    to_taken=st.none() | legs,
    to_done=st.none() | legs,
    own_calendar=st.booleans(),
)
def test_handling_in_one_pass_equals_the_three_figures_one_by_one(created, to_taken, to_done, own_calendar):
    calendars = {"support": SHIFT} if own_calendar else None
    taken = created + timedelta(minutes=to_taken) if to_taken is not None else None
    done = (taken or created) + timedelta(minutes=to_done) if to_done is not None else None

    assert sla.handling(created, taken, done, calendars) == separately(created, taken, done, calendars)


def test_a_night_request_taken_next_morning_and_done_by_noon():
    created = datetime(2026, 11, 19, 23, 40, tzinfo=MSK)  # Thursday night
    taken = datetime(2026, 11, 20, 9, 30, tzinfo=MSK)
    done = datetime(2026, 11, 20, 12, 0, tzinfo=MSK)

    handled = sla.handling(created, taken, done)

    assert handled.arrival == datetime(2026, 11, 20, 9, 0, tzinfo=MSK)
    assert handled.pickup == sla.Pickup(30.0, True, 15.0)
    assert handled.processing_minutes == 150.0


def test_legs_that_run_backwards_count_zero_as_working_time_between_does():
    cal = get_calendar("support")
    created = datetime(2026, 11, 20, 10, 0, tzinfo=MSK)
    earlier = created - timedelta(hours=3)

    arrival, (leg,) = working_times_from_arrival(created, [earlier], cal)

    assert arrival == created
    assert leg == timedelta(0) == working_time_between(created, earlier, cal)
