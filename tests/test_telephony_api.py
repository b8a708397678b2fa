"""PBX webhooks: routing by extension, responsible and a fair persisted queue; call events; missed calls."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from desk.absence import add_absence
from desk.calls import Call, CallEvent, CallRotation
from desk.models import ApiToken, Contact, Notification, Request, Task, User
from engine.store import UserTask
from tests.conftest import MONDAY_10, PROJECT, make_app
from web.auth import issue_token
from web.cli import deploy_paths

IVAN = "+79161234567"  # contact Иван Петров, responsible "executor"
QUEUE = ("operator", "queue1", "queue2", "queue3")  # the "operators" group answers the main line
STAFF = {
    # username: (full name, groups, extension, phone)
    "operator": ("Ольга Операторова", ["operators"], None, None),
    "queue1": ("Queue One", ["operators"], None, None),
    "queue2": ("Queue Two", ["operators"], None, None),
    "queue3": ("Queue Three", ["operators"], None, None),
    "executor": ("Евгений Исполнителев", ["executors"], "103", "+74951234503"),
    "executor2": ("Елена Исполнителева", ["executors"], "104", None),
    "manager": ("Мария Менеджерова", ["managers"], "110", None),
    "admin": ("Админ Админов", ["admins"], None, None),
}


@pytest.fixture
def pbx(any_app):
    """Staff with extensions, a phone queue, a known client, the shipped diagrams, and a PBX token."""
    any_app.extensions["runtime"].clock = lambda: MONDAY_10
    with any_app.app_context():
        deploy_paths([PROJECT / "bpmn"])
    with any_app.extensions["sessions"]() as session, session.begin():
        for username, (name, groups, extension, phone) in STAFF.items():
            session.add(
                User(username=username, full_name=name, groups=groups, extension=extension, phone=phone)
            )
        session.add(
            Contact(
                name="Иван Петров",
                email="ivan.petrov@romashka.example.ru",
                phones=[IVAN],
                phone_e164=IVAN,
                responsible="executor",
                created_at=MONDAY_10,
                updated_at=MONDAY_10,
            )
        )
        session.flush()
        token = issue_token(
            session, name="PBX webhook", username="admin", now=MONDAY_10, scopes=["telephony"]
        )
    return any_app, Pbx(any_app.test_client(), token)


class Pbx:
    def __init__(self, client, token: str) -> None:
        self.client, self.token = client, token

    def post(self, path: str, body, token: str | None = "default", **kwargs):
        headers = (
            {}
            if token is None
            else {"Authorization": f"Bearer {self.token if token == 'default' else token}"}
        )
        if isinstance(body, str | bytes):
            return self.client.post(
                f"/api/telephony/{path}", data=body, headers=headers, content_type="application/json"
            )
        return self.client.post(f"/api/telephony/{path}", json=body, headers=headers, **kwargs)

    def route(self, caller: str, extension=None, **extra):
        response = self.post(
            "route", {"caller": caller, "called": "+7 495 123-45-67", "extension": extension, **extra}
        )
        assert response.status_code == 200, response.json
        return response.json

    def event(self, call_id: str, event: str, **extra):
        return self.post("event", {"call_id": call_id, "event": event, **extra})


def set_on_duty(app, on_duty: bool, *usernames: str) -> None:
    with app.extensions["sessions"]() as session, session.begin():
        for user in session.scalars(select(User).where(User.username.in_(usernames))):
            user.on_duty = on_duty


def count(app, model, *where) -> int:
    with app.extensions["sessions"]() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def ring(answer) -> list[str]:
    return [person["username"] for person in answer["ring"]]


# --- routing -------------------------------------------------------------------------


def test_dialled_extension_rings_that_employee_with_their_phone(pbx):
    _, api = pbx
    answer = api.route("+7 903 000-00-01", extension="103")
    assert answer["reason"] == "extension"
    assert answer["ring"] == [
        {"username": "executor", "name": "Евгений Исполнителев", "extension": "103", "phone": "+74951234503"}
    ]


@pytest.mark.parametrize("written", ["8 (916) 123-45-67", "+7 916 1234567", "79161234567"])
def test_known_caller_in_any_format_rings_the_contacts_responsible_first(pbx, written):
    _, api = pbx
    answer = api.route(written)
    assert answer["caller_e164"] == IVAN
    assert answer["reason"] == "responsible"
    assert ring(answer)[0] == "executor"
    assert sorted(ring(answer)[1:]) == sorted(QUEUE)


def test_responsible_off_duty_hands_the_call_to_the_queue(pbx):
    app, api = pbx
    set_on_duty(app, False, "executor")
    answer = api.route("+7 916 123-45-67")
    assert answer["reason"] == "queue"
    assert "executor" not in ring(answer)


def absent(app, username: str, substitute: str | None = None) -> None:
    """`username` on leave around MONDAY_10 (the fixture's clock), through the absence rules."""
    with app.extensions["sessions"]() as session, session.begin():
        add_absence(
            session,
            username=username,
            kind="leave",
            starts_at=MONDAY_10 - timedelta(days=1),
            ends_at=MONDAY_10 + timedelta(days=1),
            substitute=substitute,
            created_by="manager",
            now=MONDAY_10,
        )


def test_an_absent_responsible_is_not_rung_their_substitute_rings_first(pbx):
    app, api = pbx
    absent(app, "executor", substitute="queue2")
    answer = api.route("8 (916) 123-45-67")
    assert answer["reason"] == "substitute"
    assert ring(answer)[0] == "queue2" and "executor" not in ring(answer)
    assert sorted(ring(answer)) == sorted(QUEUE)


def test_an_absent_responsible_without_a_substitute_hands_the_call_to_the_queue(pbx):
    app, api = pbx
    absent(app, "executor")
    answer = api.route("+7 916 123-45-67")
    assert answer["reason"] == "queue" and "executor" not in ring(answer)


def test_an_absent_queue_member_is_not_rung_nor_is_their_extension(pbx):
    app, api = pbx
    absent(app, "queue1")
    for _ in range(len(QUEUE)):
        assert "queue1" not in ring(api.route("+7 903 000-00-02"))
    absent(app, "executor")
    assert api.route("+7 903 000-00-01", extension="103")["reason"] != "extension"


def test_queue_takes_turns_and_the_rotation_survives_another_web_node(pbx):
    app, api = pbx
    heads = [ring(api.route("+7 903 000-00-0" + str(i)))[0] for i in range(3)]
    other_node = make_app(app.config["DATABASE_URL"])
    other_node.extensions["runtime"].clock = lambda: MONDAY_10
    try:
        heads.append(ring(Pbx(other_node.test_client(), api.token).route("+7 903 000-00-09"))[0])
    finally:
        other_node.extensions["db_engine"].dispose()
    assert heads == sorted(QUEUE)  # one full turn, members in username order
    with app.extensions["sessions"]() as session:
        assert session.get(CallRotation, "operators").position == 4


def test_routing_the_same_call_id_again_gives_the_same_answer_and_keeps_the_turn(pbx):
    app, api = pbx
    first = api.route("+7 903 000-00-01", call_id="asterisk-1700000000.17")
    again = api.route("+7 903 000-00-01", call_id="asterisk-1700000000.17")
    assert again == first and first["call_id"] == "asterisk-1700000000.17"
    assert ring(api.route("+7 903 000-00-02"))[0] == sorted(QUEUE)[1]


def test_concurrent_calls_share_the_queue_fairly(pbx):
    """N calls at once: every rotation position is taken exactly once, so heads go round evenly."""
    any_app, api = pbx
    token = api.token
    calls, results, errors = 24, [], []
    barrier = threading.Barrier(8)

    def caller(worker: int) -> None:
        api = Pbx(any_app.test_client(), token)
        try:
            barrier.wait()
            for i in range(worker, calls, 8):
                results.append(api.route(f"+7 903 100-00-{i:02d}"))
        except Exception as err:  # surfaced below with the worker number
            errors.append((worker, err))

    threads = [threading.Thread(target=caller, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    members = sorted(QUEUE)
    with any_app.extensions["sessions"]() as session:
        logged = session.execute(select(Call.rotation, Call.ring).order_by(Call.rotation)).all()
    assert [position for position, _ in logged] == list(range(calls))
    heads = [ring_[0] for _, ring_ in logged]
    assert heads == [members[i % len(members)] for i in range(calls)]  # no member skipped, none twice
    tally = Counter(ring(answer)[0] for answer in results)
    assert set(tally) == set(members)
    assert max(tally.values()) - min(tally.values()) <= 1


# --- events and missed calls ------------------------------------------------------------


def test_missed_call_opens_a_request_with_a_callback_task_for_the_responsible(pbx):
    app, api = pbx
    call = api.route("8 916 123 45 67")["call_id"]
    assert api.event(call, "started").status_code == 200
    response = api.event(call, "missed", at="2026-11-23T10:00:30+03:00")
    assert response.status_code == 201
    number = response.json["request"]
    with app.extensions["sessions"]() as session:
        request = session.scalars(select(Request).where(Request.number == number)).one()
        ivan = session.scalars(select(Contact).where(Contact.phone_e164 == IVAN)).one()
        task = session.get(Task, response.json["callback_task_id"])
        notes = session.scalars(select(Notification).where(Notification.request_id == request.id)).all()
        logged = session.scalars(select(Call).where(Call.call_id == call)).one()
    assert request.channel == "phone" and request.contact_id == ivan.id
    assert request.subject == "Пропущенный звонок от +7 916 123-45-67"
    assert request.instance_id is not None  # the service_request process runs for it
    assert task.assignee == "executor" and task.title == "Перезвонить +7 916 123-45-67"
    assert task.request_id == request.id and task.deadline is not None
    [note] = [n for n in notes if n.template == "missed_call"]
    assert (note.recipient, note.channel, note.status) == ("executor", "in_app", "sent")
    assert "+79161234567" in note.body and number in note.body
    assert logged.status == "missed" and logged.request_id == request.id


def test_a_missed_call_from_an_unknown_number_waits_for_a_managers_card_with_the_number_filled_in(pbx):
    app, api = pbx
    call = api.route("8 (903) 555-00-11")["call_id"]
    number = api.event(call, "missed", at="2026-11-23T10:00:30+03:00").json["request"]
    runtime = app.extensions["runtime"]
    with app.extensions["sessions"]() as session:
        request = session.scalars(select(Request).where(Request.number == number)).one()
        [card] = session.scalars(
            select(UserTask).where(UserTask.business_key == number, UserTask.status == "open")
        ).all()
    assert request.contact_id is None and card.element_id == "Task_ClientCard"
    fields = {f.id: f for f in runtime.task_form(card.id).fields}
    assert fields["client_phone"].default == "+79035550011"


def test_missed_call_with_nobody_on_duty_goes_to_the_whole_group(pbx):
    app, api = pbx
    set_on_duty(app, False, *QUEUE)
    call = api.route("+7 903 555-44-33")["call_id"]
    response = api.event(call, "missed")
    assert response.status_code == 201
    with app.extensions["sessions"]() as session:
        task = session.get(Task, response.json["callback_task_id"])
        recipients = set(
            session.scalars(select(Notification.recipient).where(Notification.template == "missed_call"))
        )
    assert task.assignee is None and "operators" in task.description
    assert recipients == set(QUEUE)


def test_missed_call_from_a_hidden_number_is_a_request_without_callback(pbx):
    app, api = pbx
    call = api.route("anonymous")["call_id"]
    response = api.event(call, "missed")
    assert response.status_code == 201 and response.json["callback_task_id"] is None
    assert count(app, Notification, Notification.template == "missed_call") == 0


def test_the_same_event_twice_opens_one_request(pbx):
    app, api = pbx
    call = api.route("+7 903 555-44-33")["call_id"]
    first = api.event(call, "missed")
    second = api.event(call, "missed")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json["duplicate"] is True and second.json["request"] == first.json["request"]
    assert count(app, Request, Request.external_id.like("call:%")) == 1
    assert count(app, Task, Task.title.like("Перезвонить%")) == 1
    assert count(app, CallEvent, CallEvent.call_id == call) == 1


def test_simultaneous_retries_of_a_missed_call_open_one_request(pbx):
    app, api = pbx
    call = api.route("+7 903 555-44-33")["call_id"]
    barrier, codes = threading.Barrier(4), []

    def retry() -> None:
        client = Pbx(app.test_client(), api.token)
        barrier.wait()
        codes.append(client.event(call, "missed").status_code)

    threads = [threading.Thread(target=retry) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200, 200, 200, 201]
    assert count(app, Request, Request.external_id.like("call:%")) == 1


def test_call_log_keeps_answer_hangup_and_recording_whatever_order_events_arrive(pbx):
    app, api = pbx
    call = api.route("+7 916 123-45-67", call_id="cloud-42")["call_id"]
    api.event(call, "answered", agent="executor", at=1795417230)
    api.event(call, "ended", duration=95, recording_url="https://pbx.example.ru/rec/cloud-42.mp3")
    api.event(call, "started", at="2026-11-23T10:00:00+03:00")  # late webhook
    with app.extensions["sessions"]() as session:
        logged = session.scalars(select(Call).where(Call.call_id == "cloud-42")).one()
    assert logged.status == "ended" and logged.answered_by == "executor"
    assert logged.duration_seconds == 95 and logged.recording_url.endswith("cloud-42.mp3")
    assert logged.started_at.isoformat() == "2026-11-23T07:00:00+00:00"
    assert count(app, Request, Request.external_id.like("call:%")) == 0


def test_a_call_the_pbx_routed_itself_is_logged_from_its_events(pbx):
    app, api = pbx
    response = api.event("own-7", "missed", caller="+7 916 123-45-67", called="+74951234567")
    assert response.status_code == 201
    with app.extensions["sessions"]() as session:
        task = session.get(Task, response.json["callback_task_id"])
    assert task.assignee == "executor"  # routed on the spot: the responsible calls back


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("route", "{not json", "(body)"),
        ("route", "[1, 2]", "(body)"),
        ("route", '{"caller": NaN, "called": "+74951234567"}', "(body)"),
        ("route", '{"caller": "\\udc00", "called": "+74951234567"}', "caller"),
        ("route", '{"caller": "1", "called": "2", "extension": 99999999999999999999}', "extension"),
        ("route", '{"caller": ' + "[" * 40 + "]" * 40 + "}", "caller" + "[0]" * 32),
        ("event", '{"call_id": "x1", "event": "ended", "caller": "1", "duration": Infinity}', "(body)"),
        ("route", {"called": "+74951234567"}, "caller"),
        ("route", {"caller": True, "called": "+74951234567"}, "caller"),
        ("route", {"caller": "+79161234567"}, "called"),
        ("event", {"call_id": "x1", "event": "hangup"}, "event"),
        ("event", {"call_id": "x1"}, "event"),
        ("event", {"event": "missed"}, "call_id"),
        ("event", {"call_id": "x1", "event": "missed"}, "caller"),
        ("event", {"call_id": "x1", "event": "ended", "caller": "1", "at": "yesterday"}, "at"),
        ("event", {"call_id": "x1", "event": "ended", "caller": "1", "at": "2026-11-23T10:00:00"}, "at"),
        (
            "event",
            {"call_id": "x1", "event": "ended", "caller": "1", "recording_url": "file:///etc"},
            "recording_url",
        ),
        ("event", {"call_id": "x1", "event": "ended", "caller": "1", "duration": -5}, "duration"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_stores_nothing(pbx, path, body, field):
    app, api = pbx
    response = api.post(path, body)
    assert response.status_code == 400
    assert response.json["field"] == field and repr(field) in response.json["message"]
    assert count(app, Call) == 0 and count(app, CallEvent) == 0


def test_unknown_event_message_lists_the_known_ones(pbx):
    _, api = pbx
    message = api.post("event", {"call_id": "x1", "event": "hangup"}).json["message"]
    assert "'hangup'" in message and "started, answered, ended, missed" in message


@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_without_a_valid_token_the_api_answers_401(pbx, token):
    app, api = pbx
    response = api.post("route", {"caller": "+79161234567", "called": "+74951234567"}, token=token)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "create-token" in response.json["message"]
    assert count(app, Call) == 0


def test_a_revoked_token_is_refused(pbx):
    app, api = pbx
    with app.extensions["sessions"]() as session, session.begin():
        session.scalars(select(ApiToken)).one().revoked_at = MONDAY_10
    assert api.post("route", {"caller": "1", "called": "2"}).status_code == 401
