"""Business calendars: working days, working hours and working-time arithmetic (DESIGN §4)."""

import functools
import pickle
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desk.calendar import (
    DEFAULT_CALENDARS,
    Calendar,
    InvalidCalendarError,
    InvalidDurationSpecError,
    UnknownCalendarError,
    add_working_time,
    get_calendar,
    is_working_day,
    next_working_moment,
    parse_spec,
    work_date_add,
    working_hours,
    working_time_between,
)
from desk.errors import DeskError

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
MIN = timedelta(minutes=1)


@pytest.fixture
def support() -> Calendar:
    return get_calendar("support")


@pytest.fixture
def workdays() -> Calendar:
    return get_calendar("workdays")


def msk(*args: int) -> datetime:
    return datetime(*args, tzinfo=MSK)


# -- the two shipped calendars ---------------------------------------------------------------------


def test_request_at_five_on_friday_is_due_monday_ten(support):
    assert work_date_add(msk(2026, 11, 20, 17, 0), "2h", support) == msk(2026, 11, 23, 10, 0)


def test_one_hour_from_five_ends_at_six_not_at_next_opening(support):
    assert work_date_add(msk(2026, 11, 23, 17, 0), "1h", support) == msk(2026, 11, 23, 18, 0)
    assert work_date_add(msk(2026, 11, 23, 17, 0), "2h", support) == msk(2026, 11, 24, 10, 0)


def test_support_works_nine_to_six_on_weekdays_only(support):
    assert working_hours(date(2026, 11, 23), support) == ((9 * 60, 18 * 60),)
    assert working_hours(date(2026, 11, 21), support) == ()
    assert working_time_between(msk(2026, 11, 16), msk(2026, 11, 23), support) == 45 * H


def test_workdays_counts_whole_working_days(workdays):
    assert working_time_between(msk(2026, 11, 20, 12), msk(2026, 11, 23, 12), workdays) == 24 * H
    assert work_date_add(msk(2026, 11, 20, 12), "24h", workdays) == msk(2026, 11, 23, 12)


def test_transferred_saturdays_of_2024_are_working_days_with_weekday_hours(support):
    for saturday in (date(2024, 4, 27), date(2024, 11, 2), date(2024, 12, 28)):
        assert saturday.weekday() == 5
        assert is_working_day(saturday, support)
        assert working_hours(saturday, support) == working_hours(date(2024, 4, 22), support)
    assert work_date_add(msk(2024, 4, 26, 17), "2h", support) == msk(2024, 4, 27, 10)
    assert work_date_add(msk(2024, 11, 1, 17), "2h", support) == msk(2024, 11, 2, 10)


def test_days_off_given_for_a_transferred_saturday_do_not_work(support):
    # 27 April 2024 was worked so that 29-30 April (and 1 May) were off.
    assert not is_working_day(date(2024, 4, 29), support)
    assert not is_working_day(date(2024, 4, 30), support)
    assert work_date_add(msk(2024, 4, 27, 17), "2h", support) == msk(2024, 5, 2, 10)


def test_new_year_holidays_push_a_deadline_into_january(support):
    # 31 Dec 2025 is a substituted day off, 1-8 Jan holidays, 9 Jan substituted, 10-11 weekend.
    assert not is_working_day(date(2025, 12, 31), support)
    assert not is_working_day(date(2026, 1, 9), support)
    assert work_date_add(msk(2025, 12, 30, 17), "2h", support) == msk(2026, 1, 12, 10)
    assert working_time_between(msk(2025, 12, 30, 17), msk(2026, 1, 12, 10), support) == 2 * H


def test_last_working_saturday_of_2024_leads_to_january_ninth(support):
    assert work_date_add(msk(2024, 12, 28, 12), "1d", support) == msk(2025, 1, 9, 12)


def test_calendars_count_russian_working_days_per_year(workdays):
    # Official production calendars: 247 (2023), 248 (2024), 247 (2025) working days.
    for year, days in ((2023, 247), (2024, 248), (2025, 247)):
        assert working_time_between(msk(year, 1, 1), msk(year + 1, 1, 1), workdays) == days * 24 * H


# -- input and output zones -----------------------------------------------------------------------


def test_naive_input_is_taken_in_the_calendar_zone(support):
    naive = work_date_add(datetime(2026, 11, 20, 17), "2h", support)
    assert naive == msk(2026, 11, 23, 10)
    assert naive.tzinfo == MSK


def test_aware_input_in_any_zone_gives_a_result_in_the_calendar_zone(support):
    five_pm_msk_in_utc = datetime(2026, 11, 20, 14, tzinfo=UTC)
    five_pm_msk_in_yekaterinburg = datetime(2026, 11, 20, 19, tzinfo=ZoneInfo("Asia/Yekaterinburg"))
    for start in (five_pm_msk_in_utc, five_pm_msk_in_yekaterinburg):
        result = work_date_add(start, "2h", support)
        assert result == msk(2026, 11, 23, 10)
        assert result.tzinfo == MSK
        assert (result.hour, result.minute) == (10, 0)


def test_working_time_between_mixes_zones(support):
    start = datetime(2026, 11, 23, 6, tzinfo=UTC)  # 09:00 MSK
    assert working_time_between(start, datetime(2026, 11, 23, 11), support) == 2 * H


def test_seconds_and_microseconds_survive(support):
    start = msk(2026, 11, 23, 10, 15, 30, 123456)
    assert work_date_add(start, "1h", support) == msk(2026, 11, 23, 11, 15, 30, 123456)
    assert work_date_add(start, "1d", support) == msk(2026, 11, 24, 10, 15, 30, 123456)


# -- half-open intervals and the "earliest moment" rule --------------------------------------------


def test_intervals_are_half_open(support):
    monday = (2026, 11, 23)
    assert working_time_between(msk(*monday, 9), msk(*monday, 9), support) == timedelta(0)
    assert working_time_between(msk(*monday, 17, 59), msk(*monday, 18), support) == MIN
    assert working_time_between(msk(*monday, 18), msk(2026, 11, 24, 9), support) == timedelta(0)
    assert next_working_moment(msk(*monday, 9), support) == msk(*monday, 9)
    assert next_working_moment(msk(*monday, 18), support) == msk(2026, 11, 24, 9)


def test_zero_days_snaps_off_hours_to_the_next_opening(support):
    assert work_date_add(msk(2026, 11, 21, 12), "0d", support) == msk(2026, 11, 23, 9)
    assert work_date_add(msk(2026, 11, 20, 18), "0d", support) == msk(2026, 11, 23, 9)
    assert work_date_add(msk(2026, 11, 23, 8, 59), "0d", support) == msk(2026, 11, 23, 9)
    assert work_date_add(msk(2026, 11, 23, 12, 30), "0d", support) == msk(2026, 11, 23, 12, 30)


def test_zero_hours_off_hours_returns_start_itself(support):
    saturday = msk(2026, 11, 21, 12)
    assert work_date_add(saturday, "0h", support) == saturday
    assert work_date_add(saturday, "0m", support) == saturday
    assert work_date_add(saturday, "0d 0h", support) == msk(2026, 11, 23, 9)


def test_one_minute_after_closing_is_one_minute_after_next_opening(support):
    assert work_date_add(msk(2026, 11, 20, 18), "1m", support) == msk(2026, 11, 23, 9, 1)


def test_working_time_between_is_zero_when_end_is_not_after_start(support):
    assert working_time_between(msk(2026, 11, 23, 12), msk(2026, 11, 23, 11), support) == timedelta(0)


# -- whole days ------------------------------------------------------------------------------------


def test_a_day_keeps_the_time_of_day(support):
    assert work_date_add(msk(2026, 11, 23, 17, 30), "1d", support) == msk(2026, 11, 24, 17, 30)
    assert work_date_add(msk(2026, 11, 20, 10), "1d", support) == msk(2026, 11, 23, 10)
    assert work_date_add(msk(2026, 11, 20, 10), "5d", support) == msk(2026, 11, 27, 10)


def test_days_start_from_the_snapped_arrival(support):
    assert work_date_add(msk(2026, 11, 21, 12), "1d", support) == msk(2026, 11, 24, 9)
    assert work_date_add(msk(2026, 11, 20, 18), "1d", support) == msk(2026, 11, 24, 9)


def test_hours_apply_after_days(support):
    assert work_date_add(msk(2026, 11, 20, 17), "1d 2h", support) == msk(2026, 11, 24, 10)
    assert work_date_add(msk(2026, 11, 20, 17), "2h 1d", support) == msk(2026, 11, 24, 10)


def test_day_landing_outside_that_days_hours_snaps_to_the_next_opening():
    short_friday = Calendar(
        "short-friday",
        "Europe/Moscow",
        (((9 * 60, 18 * 60),),) * 4 + (((10 * 60, 16 * 60),), (), ()),
    )
    thursday_17 = msk(2026, 11, 19, 17)
    assert work_date_add(thursday_17, "1d", short_friday) == msk(2026, 11, 23, 9)
    thursday_9 = msk(2026, 11, 19, 9)
    assert work_date_add(thursday_9, "1d", short_friday) == msk(2026, 11, 20, 10)


# -- spec grammar ----------------------------------------------------------------------------------


def test_spec_parts_may_come_in_any_order():
    assert parse_spec("1d 4h 30m") == (1, 270)
    assert parse_spec("30m 1d 4h") == (1, 270)
    assert parse_spec("2h") == (0, 120)
    assert parse_spec("0d") == (0, 0)
    assert parse_spec(" 90m ") == (0, 90)


@pytest.mark.parametrize(
    ("spec", "bad_part"),
    [
        ("2x", "2x"),
        ("1d4h", "1d4h"),
        ("-1h", "-1h"),
        ("1.5h", "1.5h"),
        ("2 h", "2"),
        ("1h 30", "30"),
        ("2H", "2H"),
        ("h", "h"),
        ("2h 3h", "3h"),
        ("1d 2h 1d", "1d"),
    ],
)
def test_bad_spec_names_the_bad_part(support, spec, bad_part):
    with pytest.raises(ValueError, match=f"'{bad_part}'") as caught:
        work_date_add(msk(2026, 11, 23, 10), spec, support)
    assert isinstance(caught.value, InvalidDurationSpecError)
    assert isinstance(caught.value, DeskError)
    assert caught.value.part == bad_part


def test_empty_spec_is_rejected():
    with pytest.raises(InvalidDurationSpecError, match="empty"):
        parse_spec("  ")


def test_negative_working_time_is_rejected(support):
    with pytest.raises(InvalidDurationSpecError, match="negative"):
        add_working_time(msk(2026, 11, 23, 10), -H, support)


def test_add_working_time_has_sub_minute_precision(support):
    start = msk(2026, 11, 23, 17, 59, 30)
    assert add_working_time(start, timedelta(seconds=45), support) == msk(2026, 11, 24, 9, 0, 15)


# -- calendars as data -----------------------------------------------------------------------------


def test_unknown_calendar_lists_the_known_names():
    with pytest.raises(UnknownCalendarError, match="support, workdays") as caught:
        get_calendar("suport")
    assert isinstance(caught.value, KeyError)
    assert isinstance(caught.value, DeskError)
    assert caught.value.known == ("support", "workdays")


def test_a_registry_replaces_the_defaults():
    night = Calendar("night", "Europe/Moscow", ((((0, 8 * 60),),) * 7))
    assert get_calendar("night", {"night": night}) is night
    with pytest.raises(UnknownCalendarError, match="night"):
        get_calendar("support", {"night": night})


def test_calendar_round_trips_through_plain_data():
    custom = Calendar(
        "custom",
        "Europe/Berlin",
        (((9 * 60, 13 * 60), (14 * 60, 18 * 60)),) * 5 + (((10 * 60, 14 * 60),), ()),
        country="DE",
        extra_holidays=frozenset({date(2026, 12, 24)}),
        extra_working_days=frozenset({date(2026, 12, 27)}),
        substitute_weekday=4,
    )
    for calendar in (*DEFAULT_CALENDARS.values(), custom):
        assert Calendar.from_dict(calendar.to_dict()) == calendar
        assert hash(Calendar.from_dict(calendar.to_dict())) == hash(calendar)
        assert pickle.loads(pickle.dumps(calendar)) == calendar


def test_intervals_may_be_given_per_weekday_number():
    by_weekday = Calendar("by-weekday", "Europe/Moscow", {w: ((540, 1080),) for w in range(5)})
    assert by_weekday.intervals == get_calendar("support").intervals


def test_admin_data_may_use_weekday_names_and_hh_mm():
    calendar = Calendar.from_dict(
        {
            "name": "admin",
            "tz": "Europe/Moscow",
            "intervals": {"mon": [["09:00", "18:00"]], "sat": [["10:00", "24:00"]]},
            "extra_holidays": ["2026-11-23"],
        }
    )
    assert calendar.intervals[0] == ((540, 1080),)
    assert calendar.intervals[1] == ()
    assert calendar.intervals[5] == ((600, 1440),)
    assert not is_working_day(date(2026, 11, 23), calendar)
    assert working_hours(date(2026, 11, 28), calendar) == ((600, 1440),)
    # A transferred working Saturday keeps the calendar's own Saturday hours when it has some.
    assert working_hours(date(2024, 4, 27), calendar) == ((600, 1440),)


@pytest.mark.parametrize(
    ("intervals", "problem"),
    [
        ((((540, 780), (720, 1080)),) + ((),) * 6, "overlap"),
        ((((1080, 540),),) + ((),) * 6, "does not end after it starts"),
        ((((540, 540),),) + ((),) * 6, "does not end after it starts"),
        ((((540, 1500),),) + ((),) * 6, "1500"),
        ((((540, 1080),),) * 5, "7 weekdays"),
        (((),) * 7, "no weekday has working intervals"),
    ],
)
def test_inconsistent_intervals_are_rejected(intervals, problem):
    with pytest.raises(InvalidCalendarError, match=problem):
        Calendar("broken", "Europe/Moscow", intervals)


def test_bad_time_zone_country_and_dates_are_rejected():
    week = (((540, 1080),),) * 5 + ((), ())
    with pytest.raises(InvalidCalendarError, match="time zone 'Mars/Olympus'"):
        Calendar("broken", "Mars/Olympus", week)
    with pytest.raises(InvalidCalendarError, match="country 'XX'"):
        Calendar("broken", "Europe/Moscow", week, country="XX")
    with pytest.raises(InvalidCalendarError, match="2026-12-31"):
        Calendar.from_dict(
            {"name": "broken", "tz": "UTC", "intervals": week, "extra_holidays": ["2026-12-31x"]}
        )
    with pytest.raises(InvalidCalendarError, match="both"):
        Calendar("b", "UTC", week, extra_holidays={date(2026, 1, 1)}, extra_working_days={date(2026, 1, 1)})
    with pytest.raises(InvalidCalendarError, match="substitute_weekday Saturday"):
        Calendar("broken", "Europe/Moscow", week, substitute_weekday=5)


def test_extra_holidays_and_working_days_override_the_country(support):
    office = Calendar(
        "office",
        "Europe/Moscow",
        support.intervals,
        extra_holidays=frozenset({date(2026, 11, 23)}),
        extra_working_days=frozenset({date(2026, 11, 21), date(2026, 11, 4)}),
    )
    assert not is_working_day(date(2026, 11, 23), office)
    assert is_working_day(date(2026, 11, 21), office)  # a Saturday
    assert is_working_day(date(2026, 11, 4), office)  # Unity Day
    assert work_date_add(msk(2026, 11, 20, 17), "2h", office) == msk(2026, 11, 21, 10)


def test_calendar_without_country_has_no_public_holidays():
    plain = Calendar("plain", "Europe/Moscow", get_calendar("support").intervals, country=None)
    assert is_working_day(date(2026, 1, 1), plain)


# -- daylight saving time --------------------------------------------------------------------------


def test_business_hours_survive_a_dst_change():
    berlin = Calendar("berlin", "Europe/Berlin", get_calendar("support").intervals, country="DE")
    friday_17 = datetime(2026, 3, 27, 17, tzinfo=BERLIN)
    monday_10 = datetime(2026, 3, 30, 10, tzinfo=BERLIN)  # clocks went forward on Sunday 29 March
    assert work_date_add(friday_17, "2h", berlin) == monday_10
    assert work_date_add(friday_17, "1d", berlin) == datetime(2026, 3, 30, 17, tzinfo=BERLIN)
    assert working_time_between(friday_17, monday_10, berlin) == 2 * H


def test_a_round_the_clock_day_lasts_as_long_as_the_clock_says():
    always = Calendar("always", "Europe/Berlin", (((0, 1440),),) * 7, country=None)
    spring = datetime(2026, 3, 29, tzinfo=BERLIN)
    autumn = datetime(2026, 10, 25, tzinfo=BERLIN)
    assert working_time_between(spring, spring + timedelta(days=1), always) == 23 * H
    assert working_time_between(autumn, autumn + timedelta(days=1), always) == 25 * H
    assert work_date_add(datetime(2026, 3, 28, 12, tzinfo=BERLIN), "1d", always) == datetime(
        2026, 3, 29, 12, tzinfo=BERLIN
    )
    assert work_date_add(datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN), "1h", always) == datetime(
        2026, 3, 29, 3, 30, tzinfo=BERLIN
    )


def test_an_interval_starting_in_the_dst_gap_starts_when_the_clock_jumps():
    gap = Calendar("gap", "Europe/Berlin", (((2 * 60 + 30, 4 * 60),),) * 7, country=None)
    spring = datetime(2026, 3, 29, tzinfo=BERLIN)
    assert working_time_between(spring, spring + timedelta(days=1), gap) == H
    assert next_working_moment(spring, gap) == datetime(2026, 3, 29, 3, tzinfo=BERLIN)


# -- properties against a minute-stepping reference -------------------------------------------------

RU = holidays.country_holidays("RU")
DE = holidays.country_holidays("DE")


@functools.cache
def reference_working_day(country: str, day: date) -> bool:
    return (RU if country == "RU" else DE).is_working_day(day)


def reference_minute_works(kind: str, local: datetime, country: str = "RU") -> bool:
    """Does the minute starting at `local` (wall time) work? Written from the rules, not the code."""
    if not reference_working_day(country, local.date()):
        return False
    return kind == "workdays" or 9 <= local.hour < 18


def reference_between(kind: str, a: datetime, b: datetime) -> timedelta:
    minutes, t = 0, a
    while t < b:
        minutes += reference_minute_works(kind, t)
        t += MIN
    return minutes * MIN


def reference_add_minutes(kind: str, a: datetime, n: int) -> datetime:
    t, done = a, 0
    while done < n:
        done += reference_minute_works(kind, t)
        t += MIN
    return t


def reference_snap(kind: str, a: datetime) -> datetime:
    while not reference_minute_works(kind, a):
        a += MIN
    return a


def reference_add_days(kind: str, a: datetime, n: int) -> datetime:
    s = reference_snap(kind, a)
    day = s.date()
    for _ in range(n):
        day += timedelta(days=1)
        while not reference_working_day("RU", day):
            day += timedelta(days=1)
    return reference_snap(kind, datetime.combine(day, s.time()))


# Moscow keeps UTC+3 all year, so naive wall minutes are the reference's clock.
starts = st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2026, 12, 15)).map(
    lambda t: t.replace(second=0, microsecond=0)
)
kinds = st.sampled_from(["support", "workdays"])
spans = st.integers(min_value=0, max_value=10 * 1440)


@settings(max_examples=150, deadline=None)
@given(kind=kinds, start=starts, minutes=spans)
def test_working_time_between_matches_minute_stepping(kind, start, minutes):
    end = start + minutes * MIN
    expected = reference_between(kind, start, end)
    assert working_time_between(start, end, get_calendar(kind)) == expected


@settings(max_examples=150, deadline=None)
@given(kind=kinds, start=starts, minutes=st.integers(min_value=0, max_value=3 * 1440))
def test_adding_minutes_matches_minute_stepping(kind, start, minutes):
    expected = reference_add_minutes(kind, start, minutes).replace(tzinfo=MSK)
    assert work_date_add(start, f"{minutes}m", get_calendar(kind)) == expected
    assert work_date_add(start, f"{minutes // 60}h {minutes % 60}m", get_calendar(kind)) == expected


@settings(max_examples=150, deadline=None)
@given(kind=kinds, start=starts, days=st.integers(min_value=0, max_value=10))
def test_adding_days_matches_day_stepping(kind, start, days):
    expected = reference_add_days(kind, start, days).replace(tzinfo=MSK)
    assert work_date_add(start, f"{days}d", get_calendar(kind)) == expected


@settings(max_examples=100, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2026, 3, 20), max_value=datetime(2026, 4, 3)),
    minutes=st.integers(min_value=0, max_value=4 * 1440),
)
def test_a_dst_zone_matches_stepping_through_real_minutes(start, minutes):
    """Berlin around the March change: step UTC minutes and look at the wall clock of each."""
    berlin = Calendar("berlin", "Europe/Berlin", get_calendar("support").intervals, country="DE")
    start = start.replace(second=0, microsecond=0, tzinfo=UTC)
    end = start + minutes * MIN
    worked, t = 0, start
    while t < end:
        worked += reference_minute_works("support", t.astimezone(BERLIN), country="DE")
        t += MIN
    assert working_time_between(start, end, berlin) == worked * MIN


@settings(max_examples=200, deadline=None)
@given(kind=kinds, start=starts, hours=st.integers(min_value=0, max_value=2000))
def test_adding_n_hours_yields_n_working_hours(kind, start, hours):
    calendar = get_calendar(kind)
    assert working_time_between(start, work_date_add(start, f"{hours}h", calendar), calendar) == hours * H


@settings(max_examples=200, deadline=None)
@given(kind=kinds, start=starts, first=spans, second=spans)
def test_working_time_is_additive(kind, start, first, second):
    calendar = get_calendar(kind)
    middle, end = start + first * MIN, start + (first + second) * MIN
    assert working_time_between(start, middle, calendar) + working_time_between(
        middle, end, calendar
    ) == working_time_between(start, end, calendar)


@settings(max_examples=200, deadline=None)
@given(kind=kinds, start=starts, first=st.integers(1, 5000), second=st.integers(1, 5000))
def test_adding_twice_equals_adding_the_sum(kind, start, first, second):
    calendar = get_calendar(kind)
    twice = work_date_add(work_date_add(start, f"{first}m", calendar), f"{second}m", calendar)
    assert twice == work_date_add(start, f"{first + second}m", calendar)


@settings(max_examples=200, deadline=None)
@given(kind=kinds, start=starts)
def test_zero_days_is_the_earliest_working_moment(kind, start):
    calendar = get_calendar(kind)
    snapped = work_date_add(start, "0d", calendar)
    assert snapped == next_working_moment(start, calendar)
    assert snapped >= start.replace(tzinfo=MSK)
    assert working_time_between(snapped, snapped + MIN, calendar) == MIN
    assert working_time_between(start, snapped, calendar) == timedelta(0)


def test_the_countries_a_calendar_accepts_are_those_the_holidays_package_supports():
    """desk.calendar reads the codes from the package's registry instead of importing every
    country module; the two must name the same codes (alpha-2, alpha-3 and aliases such as UK)."""
    import holidays

    from desk.calendar import _supported_countries

    assert _supported_countries() == frozenset(holidays.list_supported_countries())
