"""Call routing: extension, then the contact's responsible, then a fair queue; else a missed call."""

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desk.telephony import (
    CallContext,
    Employee,
    RouteDecision,
    RouteReason,
    missed_call_request,
    route_call,
)

MSK = ZoneInfo("Europe/Moscow")
OFFICE = "+7 (495) 123-45-67"
QUEUE = "support"

STAFF = (
    Employee("operator", "101", on_duty=True, groups=frozenset({"support"})),
    Employee("dispatcher", "102", on_duty=True, groups=frozenset({"support"})),
    Employee("executor", "103", on_duty=True, groups=frozenset({"support", "field"})),
    Employee("executor2", "104", on_duty=False, groups=frozenset({"support"})),
    Employee("manager", "110", on_duty=True, groups=frozenset({"managers"})),
    Employee("approver", "120", on_duty=False, groups=frozenset({"managers"})),
)
ON_DUTY_QUEUE = ("dispatcher", "executor", "operator")

# Contact's E.164 -> responsible username, as the CRM would answer.
RESPONSIBLE = {
    "+79161234567": "manager",  # key account, manager is not in the queue
    "+79031112233": "dispatcher",  # small client, responsible sits in the queue
    "+74957654321": "approver",  # responsible is off duty today
    "+78123334455": "former.employee",  # responsible left; PBX no longer knows them
}


def route(caller="+7 916 123-45-67", *, extension=None, employees=STAFF, rotation=0) -> RouteDecision:
    return route_call(
        CallContext(caller=caller, called=OFFICE, extension=extension),
        employees=employees,
        responsible_for=RESPONSIBLE.get,
        queue_group=QUEUE,
        rotation=rotation,
    )


def unknown_caller(e164: str) -> None:
    return None


# --- rule 1: dialled extension -------------------------------------------------


def test_dialled_extension_rings_that_employee_only():
    decision = route("+7 999 000-11-22", extension="103", rotation=7)
    assert decision == RouteDecision(
        ring=("executor",),
        reason=RouteReason.EXTENSION,
        caller_e164="+79990001122",
        queue=None,
        next_rotation=None,
    )


def test_dialled_extension_wins_over_the_callers_responsible():
    decision = route("8 (916) 123-45-67", extension=" 101 ")
    assert (decision.ring, decision.reason) == (("operator",), "extension")


def test_dialled_extension_of_off_duty_employee_falls_through_to_responsible_then_queue():
    decision = route("8 (916) 123-45-67", extension="104", rotation=0)
    assert decision.reason == "responsible"
    assert decision.ring == ("manager", *ON_DUTY_QUEUE)
    assert "executor2" not in decision.ring


def test_unknown_extension_falls_through_to_the_queue():
    decision = route("+7 999 000-11-22", extension="555", rotation=1)
    assert decision.reason == "queue"
    assert decision.ring == ("executor", "operator", "dispatcher")


def test_empty_extension_from_the_pbx_means_none_was_dialled():
    assert route("+7 999 000-11-22", extension="").reason == "queue"


def test_extension_call_leaves_the_queue_rotation_untouched():
    assert route(extension="102", rotation=41).next_rotation is None


# --- rule 2: the contact's responsible -----------------------------------------


def test_known_callers_responsible_rings_first_then_the_queue():
    decision = route("+7 916 123-45-67", rotation=0)
    assert decision == RouteDecision(
        ring=("manager", "dispatcher", "executor", "operator"),
        reason=RouteReason.RESPONSIBLE,
        caller_e164="+79161234567",
        queue=QUEUE,
        next_rotation=1,
    )


@pytest.mark.parametrize("raw", ["8 (916) 123-45-67", "79161234567", "9161234567", "+7 916 1234567"])
def test_caller_is_looked_up_in_e164_whatever_format_the_pbx_sends(raw):
    asked = []

    def responsible_for(e164):
        asked.append(e164)
        return RESPONSIBLE.get(e164)

    decision = route_call(
        CallContext(caller=raw, called=OFFICE, extension=None),
        employees=STAFF,
        responsible_for=responsible_for,
        queue_group=QUEUE,
        rotation=0,
    )
    assert asked == ["+79161234567"]
    assert decision.ring[0] == "manager"


def test_responsible_who_is_in_the_queue_is_not_rung_twice():
    decision = route("+7 903 111-22-33", rotation=0)
    assert decision.ring == ("dispatcher", "executor", "operator")
    assert decision.reason == "responsible"


def test_queue_part_after_the_responsible_keeps_its_rotation():
    decision = route("+7 903 111-22-33", rotation=2)
    assert decision.ring == ("dispatcher", "operator", "executor")


def test_off_duty_responsible_is_skipped_and_the_queue_answers():
    decision = route("+7 495 765-43-21", rotation=0)
    assert (decision.ring, decision.reason) == (ON_DUTY_QUEUE, "queue")


def test_responsible_the_pbx_does_not_know_is_skipped():
    decision = route("+7 812 333-44-55", rotation=0)
    assert (decision.ring, decision.reason) == (ON_DUTY_QUEUE, "queue")


def test_new_caller_without_contact_goes_to_the_queue():
    decision = route_call(
        CallContext(caller="+7 926 555-00-11", called=OFFICE, extension=None),
        employees=STAFF,
        responsible_for=unknown_caller,
        queue_group=QUEUE,
        rotation=0,
    )
    assert (decision.ring, decision.reason, decision.caller_e164) == (ON_DUTY_QUEUE, "queue", "+79265550011")


@pytest.mark.parametrize("caller", ["anonymous", "unknown", "101", "", "Restricted"])
def test_unparseable_caller_skips_the_responsible_step(caller):
    def responsible_for(e164):
        raise AssertionError(f"looked up {e164!r} for caller {caller!r}")

    decision = route_call(
        CallContext(caller=caller, called=OFFICE, extension=None),
        employees=STAFF,
        responsible_for=responsible_for,
        queue_group=QUEUE,
        rotation=0,
    )
    assert (decision.ring, decision.reason, decision.caller_e164) == (ON_DUTY_QUEUE, "queue", None)


def test_responsible_led_call_moves_the_queue_pointer():
    assert route("+7 916 123-45-67", rotation=5).next_rotation == 6


# --- rule 3: the round-robin queue ---------------------------------------------


@pytest.mark.parametrize(
    ("rotation", "ring"),
    [
        (0, ("dispatcher", "executor", "operator")),
        (1, ("executor", "operator", "dispatcher")),
        (2, ("operator", "dispatcher", "executor")),
        (3, ("dispatcher", "executor", "operator")),
        (1001, ("operator", "dispatcher", "executor")),
    ],
)
def test_queue_is_on_duty_members_by_username_starting_at_rotation_mod_n(rotation, ring):
    decision = route("+7 999 000-11-22", rotation=rotation)
    assert decision.ring == ring
    assert decision.next_rotation == rotation + 1
    assert decision.queue == QUEUE


def test_queue_order_does_not_depend_on_the_order_employees_are_listed():
    assert route("+7 999 000-11-22", employees=STAFF[::-1]).ring == ON_DUTY_QUEUE


def test_off_duty_and_other_group_members_are_not_in_the_queue():
    ring = route("+7 999 000-11-22").ring
    assert "executor2" not in ring
    assert "manager" not in ring


# --- rule 4: nobody ------------------------------------------------------------


def test_nobody_on_duty_rings_nobody_and_is_a_missed_call():
    night = tuple(Employee(e.username, e.extension, False, e.groups) for e in STAFF)
    decision = route("+7 916 123-45-67", employees=night, rotation=4)
    assert decision == RouteDecision(
        ring=(),
        reason=RouteReason.NOBODY,
        caller_e164="+79161234567",
        queue=QUEUE,
        next_rotation=None,
    )


def test_empty_queue_still_rings_an_on_duty_responsible():
    only_manager = (Employee("manager", "110", True, frozenset({"managers"})),)
    decision = route("+7 916 123-45-67", employees=only_manager, rotation=4)
    assert (decision.ring, decision.reason, decision.next_rotation) == (("manager",), "responsible", None)


# --- fairness ------------------------------------------------------------------

usernames = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._", min_size=1, max_size=12)


@given(
    members=st.lists(usernames, min_size=1, max_size=8, unique=True),
    others=st.lists(usernames, max_size=5),
    k=st.integers(min_value=1, max_value=5),
    start=st.integers(min_value=0, max_value=10**9),
    order=st.randoms(use_true_random=False),
)
def test_over_k_times_n_calls_each_queue_member_is_first_exactly_k_times(members, others, k, start, order):
    staff = [Employee(u, None, True, frozenset({QUEUE})) for u in members]
    staff += [Employee(u, None, False, frozenset({QUEUE})) for u in others if u not in members]
    staff += [Employee(f"{u}-field", None, True, frozenset({"field"})) for u in others]
    order.shuffle(staff)

    rotation, firsts = start, Counter()
    for _ in range(k * len(members)):
        decision = route_call(
            CallContext(caller="anonymous", called=OFFICE, extension=None),
            employees=staff,
            responsible_for=unknown_caller,
            queue_group=QUEUE,
            rotation=rotation,
        )
        assert sorted(decision.ring) == sorted(members)
        firsts[decision.ring[0]] += 1
        rotation = decision.next_rotation

    assert rotation == start + k * len(members)
    assert firsts == dict.fromkeys(members, k)


@given(
    staff=st.lists(
        st.builds(
            Employee,
            username=st.sampled_from(["operator", "dispatcher", "executor", "executor2", "manager"]),
            extension=st.sampled_from([None, "", "101", "102", "103"]),
            on_duty=st.booleans(),
            groups=st.frozensets(st.sampled_from(["support", "field", "managers"])),
        ),
        max_size=8,
    ),
    caller=st.sampled_from(["+7 916 123-45-67", "+7 903 111-22-33", "anonymous", "101"]),
    extension=st.sampled_from([None, "101", "102", "999"]),
    rotation=st.integers(min_value=0, max_value=10**6),
)
def test_ring_order_never_repeats_anyone_and_holds_only_on_duty_staff(staff, caller, extension, rotation):
    decision = route(caller, extension=extension, employees=staff, rotation=rotation)
    on_duty = {e.username for e in staff if e.on_duty}
    assert len(set(decision.ring)) == len(decision.ring)
    assert set(decision.ring) <= on_duty
    assert (decision.reason == "nobody") == (decision.ring == ())


# --- missed call -> request + callback task ------------------------------------

FRIDAY_EVENING = datetime(2026, 11, 20, 18, 42, tzinfo=MSK)


def test_missed_call_becomes_a_phone_request_titled_with_the_international_number():
    call = CallContext(caller="8 (916) 123-45-67", called="84951234567", extension=None)
    decision = route("8 (916) 123-45-67")
    data = missed_call_request(call, decision, FRIDAY_EVENING)

    request = data["request"]
    assert request["channel"] == "phone"
    assert request["subject"] == "Пропущенный звонок от +7 916 123-45-67"
    assert request["caller_phone"] == "+79161234567"
    assert request["received_at"] == FRIDAY_EVENING
    assert "20.11.2026 18:42 MSK" in request["body"]
    assert "+7 495 123-45-67" in request["body"]
    assert "manager, dispatcher, executor, operator" in request["body"]


def test_callback_task_goes_to_the_first_employee_rung():
    call = CallContext(caller="+7 916 123-45-67", called=OFFICE, extension=None)
    task = missed_call_request(call, route("+7 916 123-45-67"), FRIDAY_EVENING)["callback_task"]
    assert task == {
        "title": "Перезвонить +7 916 123-45-67",
        "phone": "+79161234567",
        "assignee": "manager",
        "candidate_group": None,
    }
    assert "deadline" not in task, "the caller sets the deadline from the SLA policy"


def test_callback_after_an_extension_call_goes_to_that_employee():
    call = CallContext(caller="+7 926 555-00-11", called=OFFICE, extension="103")
    data = missed_call_request(call, route("+7 926 555-00-11", extension="103"), FRIDAY_EVENING)
    assert data["callback_task"]["assignee"] == "executor"
    assert "+7 495 123-45-67, доб. 103" in data["request"]["body"]
    assert data["request"]["extension"] == "103"


def test_callback_goes_to_the_queue_group_when_nobody_was_on_duty():
    night = tuple(Employee(e.username, e.extension, False, e.groups) for e in STAFF)
    call = CallContext(caller="+7 926 555-00-11", called=OFFICE, extension=None)
    data = missed_call_request(call, route("+7 926 555-00-11", employees=night), FRIDAY_EVENING)
    assert data["callback_task"]["assignee"] is None
    assert data["callback_task"]["candidate_group"] == QUEUE
    assert "никого не было на смене" in data["request"]["body"]
    assert data["request"]["route_reason"] == "nobody"


def test_hidden_number_gives_a_request_but_no_callback_task():
    call = CallContext(caller="anonymous", called=OFFICE, extension=None)
    data = missed_call_request(call, route("anonymous"), FRIDAY_EVENING)
    assert data["request"]["subject"] == "Пропущенный звонок со скрытого номера"
    assert data["request"]["caller_phone"] is None
    assert data["callback_task"] is None


def test_internal_short_number_is_shown_as_dialled_and_can_be_called_back():
    call = CallContext(caller="101", called=OFFICE, extension=None)
    data = missed_call_request(call, route("101"), FRIDAY_EVENING)
    assert data["request"]["subject"] == "Пропущенный звонок от 101"
    assert data["callback_task"]["title"] == "Перезвонить 101"
    assert data["callback_task"]["phone"] == "101"
