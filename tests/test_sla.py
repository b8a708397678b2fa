"""SLA rules: deadlines, pickup KPI, processing-time buckets, time in stage (DESIGN §4)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from desk.calendar import Calendar, get_calendar
from desk.errors import DeskError
from desk.sla import (
    DEFAULT_POLICIES,
    InvalidBucketsError,
    InvalidSlaPolicyError,
    NoSlaPolicyError,
    Pickup,
    SlaPolicy,
    StageTime,
    StageTotals,
    bucket,
    bucket_labels,
    find_policy,
    pickup,
    processing_minutes,
    record_status_change,
    resolve_by,
    working_minutes_left,
)

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")


def msk(*args: int) -> datetime:
    return datetime(*args, tzinfo=MSK)


# -- resolution deadlines ------------------------------------------------------------------------


def test_default_policies_resolve_high_normal_low_in_one_two_three_working_days():
    monday_10 = msk(2026, 11, 23, 10)
    assert resolve_by(monday_10, "network", "high") == msk(2026, 11, 24, 10)
    assert resolve_by(monday_10, "network", "normal") == msk(2026, 11, 25, 10)
    assert resolve_by(monday_10, "network", "low") == msk(2026, 11, 26, 10)


def test_request_created_on_saturday_is_due_after_the_following_working_days():
    saturday = msk(2026, 11, 21, 12)
    assert resolve_by(saturday, "printer", "high") == msk(2026, 11, 24, 0)  # all of Monday
    assert resolve_by(saturday, "printer", "normal") == msk(2026, 11, 25, 0)  # Monday and Tuesday


def test_friday_request_is_not_due_over_the_weekend():
    assert resolve_by(msk(2026, 11, 20, 10), "printer", "high") == msk(2026, 11, 23, 10)


def test_new_year_holidays_do_not_count_towards_the_deadline():
    # 30 Dec 2025 10:00 + 24 working hours: 14 h that day, then nothing until Monday 12 January.
    assert resolve_by(msk(2025, 12, 30, 10), "printer", "high") == msk(2026, 1, 12, 10)


def test_a_category_policy_overrides_the_default():
    policies = (*DEFAULT_POLICIES, SlaPolicy("network", "high", "4h", "support"))
    friday_17 = msk(2026, 11, 20, 17)
    assert resolve_by(friday_17, "network", "high", policies) == msk(2026, 11, 23, 12)
    assert resolve_by(friday_17, "network", "normal", policies) == msk(2026, 11, 24, 17)
    assert resolve_by(friday_17, "printer", "high", policies) == msk(2026, 11, 23, 17)


def test_policy_lookup_prefers_category_then_any_priority_then_default():
    own = SlaPolicy("network", "high", "4h")
    any_priority = SlaPolicy("network", "*", "8h")
    policies = (*DEFAULT_POLICIES, own, any_priority)
    assert find_policy("network", "high", policies) is own
    assert find_policy("network", "low", policies) is any_priority
    assert find_policy("printer", "low", policies).resolve_within == "72h"
    assert find_policy(None, "high", policies).resolve_within == "24h"


def test_a_later_policy_replaces_an_earlier_one():
    override = SlaPolicy("*", "high", "8h")
    assert find_policy("printer", "high", (*DEFAULT_POLICIES, override)) is override


def test_policy_calendars_come_from_the_callers_registry():
    berlin = Calendar("support", "Europe/Berlin", get_calendar("support").intervals, country="DE")
    policies = (SlaPolicy("*", "*", "2h", "support"),)
    friday_17 = datetime(2026, 11, 20, 17, tzinfo=BERLIN)
    due = resolve_by(friday_17, "printer", "high", policies, calendars={"support": berlin})
    assert due == datetime(2026, 11, 23, 10, tzinfo=BERLIN)


def test_unknown_priority_without_default_names_what_exists():
    with pytest.raises(NoSlaPolicyError, match="'urgent'.*\\*/high") as caught:
        resolve_by(msk(2026, 11, 23, 10), "network", "urgent")
    assert isinstance(caught.value, DeskError)


def test_a_policy_with_a_bad_duration_fails_when_defined():
    with pytest.raises(InvalidSlaPolicyError, match="'24x'"):
        SlaPolicy("network", "high", "24x")
    with pytest.raises(InvalidSlaPolicyError, match="category"):
        SlaPolicy("", "high", "24h")


# -- pickup --------------------------------------------------------------------------------------


def test_pickup_over_the_weekend_is_not_late_when_taken_monday_at_ten_past_nine():
    result = pickup(msk(2026, 11, 21, 14), msk(2026, 11, 23, 9, 10))
    assert result == Pickup(minutes=10.0, late=False, overrun_minutes=0.0)


def test_pickup_counts_the_end_of_friday_and_the_start_of_monday():
    result = pickup(msk(2026, 11, 20, 17, 50), msk(2026, 11, 23, 9, 10))
    assert result == Pickup(minutes=20.0, late=True, overrun_minutes=5.0)


def test_pickup_of_exactly_fifteen_minutes_is_on_time():
    assert not pickup(msk(2026, 11, 23, 10), msk(2026, 11, 23, 10, 15)).late
    assert pickup(msk(2026, 11, 23, 10), msk(2026, 11, 23, 10, 16)) == Pickup(16.0, True, 1.0)


def test_pickup_target_is_configurable():
    assert pickup(msk(2026, 11, 23, 10), msk(2026, 11, 23, 10, 16), target_minutes=30).late is False


def test_pickup_taken_before_creation_counts_as_zero():
    assert pickup(msk(2026, 11, 23, 10), msk(2026, 11, 23, 9, 59)) == Pickup(0.0, False, 0.0)


def test_pickup_uses_naive_times_as_moscow_time():
    assert pickup(datetime(2026, 11, 21, 14), datetime(2026, 11, 23, 9, 10)).minutes == 10.0


# -- processing time and buckets -----------------------------------------------------------------


def test_processing_time_counts_support_working_minutes():
    assert processing_minutes(msk(2026, 11, 20, 17), msk(2026, 11, 23, 10)) == 120.0
    assert processing_minutes(msk(2026, 11, 23, 10), msk(2026, 11, 23, 10, 0, 30)) == 0.5


def test_default_bucket_labels_are_the_report_columns():
    assert bucket_labels() == ("< 30 min", "30 min – 1 h", "1 – 3 h", "3 – 8 h", "8 – 24 h", "> 24 h")


@pytest.mark.parametrize(
    ("minutes", "label"),
    [
        (0, "< 30 min"),
        (29.99, "< 30 min"),
        (30, "30 min – 1 h"),
        (59.5, "30 min – 1 h"),
        (60, "1 – 3 h"),
        (180, "3 – 8 h"),
        (479, "3 – 8 h"),
        (480, "8 – 24 h"),
        (1440, "> 24 h"),
        (100_000, "> 24 h"),
    ],
)
def test_buckets_are_half_open(minutes, label):
    assert bucket(minutes) == label


def test_bucket_boundaries_and_labels_are_configurable():
    assert bucket_labels((15, 90, 120)) == ("< 15 min", "15 – 90 min", "90 min – 2 h", "> 2 h")
    assert bucket(100, (15, 90, 120)) == "90 min – 2 h"
    assert bucket(5, (15,), labels=("fast", "slow")) == "fast"


@pytest.mark.parametrize(
    ("boundaries", "labels", "problem"),
    [
        ((), None, "empty"),
        ((60, 30), None, "increase strictly"),
        ((30, 30), None, "increase strictly"),
        ((-5,), None, "-5"),
        ((30, 60), ("a", "b"), "need 3 labels"),
    ],
)
def test_inconsistent_buckets_are_rejected(boundaries, labels, problem):
    with pytest.raises(InvalidBucketsError, match=problem):
        bucket(10, boundaries, labels)


# -- time in stage -------------------------------------------------------------------------------


def test_status_change_adds_working_and_wall_time_to_the_previous_status():
    support = get_calendar("support")
    totals = record_status_change({}, "new", msk(2026, 11, 20, 17), msk(2026, 11, 23, 10), support)
    assert totals == {"new": StageTime(working_minutes=120.0, wall_minutes=65 * 60.0)}
    totals = record_status_change(
        totals, "in_progress", msk(2026, 11, 23, 10), msk(2026, 11, 23, 12, 30), support
    )
    totals = record_status_change(totals, "new", msk(2026, 11, 23, 12, 30), msk(2026, 11, 23, 13), support)
    assert totals == {"new": (150.0, 65 * 60.0 + 30), "in_progress": (150.0, 150.0)}


def test_recording_a_status_change_leaves_the_old_totals_alone():
    before = StageTotals({"new": (10.0, 20.0)})
    after = record_status_change(
        before, "new", msk(2026, 11, 23, 10), msk(2026, 11, 23, 11), get_calendar("support")
    )
    assert before == {"new": (10.0, 20.0)}
    assert after["new"] == (70.0, 80.0)
    with pytest.raises(TypeError):
        after["new"] = (0.0, 0.0)  # type: ignore[index]


def test_stage_totals_round_trip_through_plain_data():
    totals = StageTotals({"new": [1, 2.5]})
    assert StageTotals(totals.to_dict()) == totals
    assert totals.to_dict() == {"new": [1.0, 2.5]}


def test_wall_time_in_stage_is_real_elapsed_time_across_dst():
    berlin = Calendar("berlin", "Europe/Berlin", (((0, 1440),),) * 7, country=None)
    totals = record_status_change({}, "new", datetime(2026, 3, 28, 12), datetime(2026, 3, 29, 12), berlin)
    assert totals["new"] == (23 * 60.0, 23 * 60.0)


def test_a_status_change_stamped_before_its_entry_adds_nothing():
    totals = record_status_change(
        {}, "new", msk(2026, 11, 23, 11), msk(2026, 11, 23, 10), get_calendar("support")
    )
    assert totals == {"new": (0.0, 0.0)}


# -- due in N working minutes --------------------------------------------------------------------


def test_working_minutes_left_before_the_deadline():
    support = get_calendar("support")
    assert working_minutes_left(msk(2026, 11, 20, 17), msk(2026, 11, 23, 10), support) == 120.0
    assert working_minutes_left(msk(2026, 11, 21, 12), msk(2026, 11, 23, 9), support) == 0.0


def test_working_minutes_left_is_negative_when_overdue():
    support = get_calendar("support")
    assert working_minutes_left(msk(2026, 11, 23, 11), msk(2026, 11, 23, 10), support) == -60.0
    assert working_minutes_left(datetime(2026, 11, 23, 11), msk(2026, 11, 20, 17, 30), support) == -150.0
