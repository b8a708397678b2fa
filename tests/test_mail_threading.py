"""desk.mail.threading and outbound: which request a mail joins, and notifications that thread back."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from desk.mail.outbound import MAX_REFERENCES, OutboundMessageError, build_message, format_subject
from desk.mail.parse import Attachment, InboundMessage, parse_message
from desk.mail.threading import DictThreadIndex, decide

CORPUS = Path(__file__).parent / "data" / "mail"
MANIFEST = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
MSK = ZoneInfo("Europe/Moscow")
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=MSK)
DESK = "Служба поддержки <support@helpdesk.example.ru>"
DOMAIN = "helpdesk.example.ru"


def load(name: str) -> InboundMessage:
    return parse_message((CORPUS / name).read_bytes())


def receive(index: DictThreadIndex, msg: InboundMessage, now: datetime = MONDAY) -> tuple[str, str | None]:
    """Decide and record, as the ingest layer does; returns (action, request)."""
    decision = decide(msg, index, now)
    return decision.action, index.apply(msg, decision)


# ---------------------------------------------------------------------------
# The corpus sequences
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("sequence", MANIFEST["sequences"], ids=lambda s: s["name"])
def test_corpus_sequence_threads_as_expected(sequence):
    index = DictThreadIndex()
    for request in sequence.get("setup", []):
        closed_at = request.get("closed_at")
        index.add_request(
            request["number"],
            status=request["status"],
            closed_at=datetime.fromisoformat(closed_at) if closed_at else None,
            messages=request.get("messages", []),
        )
    for step in sequence["steps"]:
        if "outbound" in step:
            index.record(step["outbound"], step["request"])
            continue
        if "close" in step:
            index.close(step["close"], datetime.fromisoformat(step["at"]), status=step["status"])
            continue
        msg = load(step["file"])
        decision = decide(msg, index, datetime.fromisoformat(step["now"]))
        number = index.apply(msg, decision)
        assert (decision.action, number) == (step["action"], step["request"]), (
            f"{step['file']}: {decision.reason}"
        )
        assert decision.linked_to == step.get("linked_to")
        if "status_after" in step:
            assert index.requests[number].status == step["status_after"]


def test_sequences_cover_every_action():
    actions = {step.get("action") for seq in MANIFEST["sequences"] for step in seq["steps"]} - {None}
    assert actions == {"new", "appended", "duplicate", "auto_reply", "reopened", "new_linked"}
    assert len(MANIFEST["sequences"]) >= 3


# ---------------------------------------------------------------------------
# The rules, one by one
# ---------------------------------------------------------------------------


@pytest.fixture
def printer_request() -> tuple[DictThreadIndex, str]:
    """Ivan's printer request REQ-000001 with his first message and our acknowledgement stored."""
    index = DictThreadIndex()
    assert receive(index, load("a01_outlook_ru_cp1251_new_printer.eml")) == ("new", "REQ-000001")
    index.record("176590081234.4411.9183746521093847561@helpdesk.example.ru", "REQ-000001")
    return index, "REQ-000001"


def reply_to(number_of_days: int, index: DictThreadIndex) -> tuple[str, str | None]:
    index.close("REQ-000001", MONDAY, status="closed")
    msg = load("a02_outlook_ru_reply_changed_subject.eml")
    return receive(index, msg, MONDAY + timedelta(days=number_of_days))


def test_reply_with_changed_subject_joins_its_request(printer_request):
    index, number = printer_request
    msg = load("a02_outlook_ru_reply_changed_subject.eml")
    assert "REQ" not in msg.subject
    assert receive(index, msg) == ("appended", number)


def test_re_with_the_same_subject_from_the_same_client_opens_a_new_request():
    index = DictThreadIndex()
    first = load("b02_gmail_ru_re_problema_followup.eml")
    second = load("b03_gmail_ru_re_problema_unrelated.eml")
    assert (first.subject, first.from_address) == (second.subject, second.from_address)
    assert receive(index, first) == ("new", "REQ-000001")
    assert receive(index, second) == ("new", "REQ-000002")


def test_reply_to_closed_request_3_days_later_reopens(printer_request):
    index, number = printer_request
    assert reply_to(3, index) == ("reopened", number)
    assert index.requests[number].status == "in_progress"


def test_reply_to_closed_request_10_days_later_opens_a_linked_request(printer_request):
    index, number = printer_request
    decision = decide(load("a02_outlook_ru_reply_changed_subject.eml"), index, MONDAY + timedelta(days=10))
    assert decision.action == "appended"  # still open: the window only matters once closed
    action, new_number = reply_to(10, index)
    assert (action, new_number) == ("new_linked", "REQ-000002")
    assert index.links[new_number] == number
    assert index.requests[number].status == "closed"


def test_reopen_window_is_the_callers_choice(printer_request):
    index, _ = printer_request
    index.close("REQ-000001", MONDAY, status="done")
    msg = load("a02_outlook_ru_reply_changed_subject.eml")
    later = MONDAY + timedelta(days=10)
    assert decide(msg, index, later, reopen_window=timedelta(days=14)).action == "reopened"
    assert decide(msg, index, later, reopen_window=timedelta(days=7)).action == "new_linked"
    assert decide(msg, index, MONDAY + timedelta(days=7)).action == "reopened"


@pytest.mark.parametrize("status", ["done", "closed", "rejected"])
def test_done_closed_and_rejected_requests_are_finished(printer_request, status):
    index, number = printer_request
    index.close(number, MONDAY, status=status)
    msg = load("a02_outlook_ru_reply_changed_subject.eml")
    assert decide(msg, index, MONDAY + timedelta(days=1)).action == "reopened"


@pytest.mark.parametrize("status", ["new", "triage", "assigned", "in_progress", "waiting"])
def test_open_requests_take_replies_whatever_their_status(printer_request, status):
    index, number = printer_request
    index.add_request(number, status=status)
    assert decide(load("a02_outlook_ru_reply_changed_subject.eml"), index, MONDAY).action == "appended"


def test_finished_request_without_a_closing_time_gets_a_linked_request(printer_request):
    index, number = printer_request
    index.add_request(number, status="closed", closed_at=None)
    decision = decide(load("a02_outlook_ru_reply_changed_subject.eml"), index, MONDAY)
    assert (decision.action, decision.linked_to) == ("new_linked", number)


def test_auto_reply_never_reopens(printer_request):
    index, number = printer_request
    index.close(number, MONDAY, status="done")
    index.record("176590412077.4411.2650918837465102934@helpdesk.example.ru", number)
    oof = load("a03_exchange_oof_ru.eml")
    assert receive(index, oof, MONDAY + timedelta(hours=1)) == ("auto_reply", number)
    assert index.requests[number].status == "done"


@pytest.mark.parametrize(
    "name",
    [
        "c04_postfix_bounce_mailer_daemon.eml",
        "c06_newsletter_precedence_bulk.eml",
        "i02_autoreply_x_autorespond_hosting.eml",
    ],
)
def test_auto_reply_never_opens_a_request(name):
    index = DictThreadIndex()
    assert receive(index, load(name)) == ("auto_reply", None)
    assert index.requests == {}


def test_duplicate_id_changes_nothing(printer_request):
    index, number = printer_request
    first = load("a02_outlook_ru_reply_changed_subject.eml")
    again = load("a04_outlook_ru_reply_changed_subject_redelivered.eml")
    assert receive(index, first) == ("appended", number)
    before = (dict(index.requests), dict(index.messages), index.next_id)
    decision = decide(again, index, MONDAY)
    assert (decision.action, decision.request) == ("duplicate", number)
    index.apply(again, decision)
    assert (dict(index.requests), dict(index.messages), index.next_id) == before


def test_duplicate_wins_even_for_an_auto_reply_seen_before():
    index = DictThreadIndex()
    bounce = load("c04_postfix_bounce_mailer_daemon.eml")
    assert receive(index, bounce) == ("auto_reply", None)
    assert receive(index, bounce) == ("duplicate", None)


def test_subject_token_finds_the_request_when_no_ids_match():
    index = DictThreadIndex()
    index.add_request("REQ-000123", status="in_progress")
    assert receive(index, load("c01_thunderbird_en_token_hook_attachment.eml")) == ("appended", "REQ-000123")


def test_message_ids_win_over_the_subject_token(printer_request):
    index, number = printer_request
    index.add_request("REQ-000777", status="in_progress")
    msg = load("a02_outlook_ru_reply_changed_subject.eml")
    msg = replace(msg, subject=f"[#REQ-000777] {msg.subject}")
    assert decide(msg, index, MONDAY).request == number


def test_token_of_an_unknown_request_opens_a_new_one():
    decision = decide(load("c01_thunderbird_en_token_hook_attachment.eml"), DictThreadIndex(), MONDAY)
    assert decision.action == "new"
    assert "REQ-000123" in decision.reason


def test_thread_that_moved_to_a_linked_request_follows_its_latest_message(printer_request):
    index, old = printer_request
    assert reply_to(10, index) == ("new_linked", "REQ-000002")
    follow_up = replace(
        load("a05_outlook_original_message_reopen.eml"),
        in_reply_to=load("a02_outlook_ru_reply_changed_subject.eml").message_id,
        references=(load("a01_outlook_ru_cp1251_new_printer.eml").message_id,),
    )
    assert decide(follow_up, index, MONDAY + timedelta(days=10)).request == "REQ-000002"


# ---------------------------------------------------------------------------
# Outbound messages
# ---------------------------------------------------------------------------


def notification(**overrides) -> tuple[EmailMessage, str]:
    values = dict(
        from_addr=DESK,
        to="Иван Петров <i.petrov@stroymontazh.example.ru>",
        subject="Не печатает принтер в бухгалтерии",
        text="Здравствуйте! Ваше обращение зарегистрировано.",
        request_number="REQ-000001",
        thread_message_ids=["<first@stroymontazh.example.ru>"],
        domain=DOMAIN,
    )
    values.update(overrides)
    return build_message(**values)


def client_reply(sent: EmailMessage, text: str, *, keep_ids: bool = True) -> bytes:
    """What a mail client sends when its user presses Reply on our message."""
    reply = EmailMessage()
    reply["From"] = "Иван Петров <i.petrov@stroymontazh.example.ru>"
    reply["To"] = sent["From"]
    reply["Subject"] = f"RE: {sent['Subject']}"
    reply["Message-ID"] = "<reply.1@stroymontazh.example.ru>"
    if keep_ids:
        reply["In-Reply-To"] = sent["Message-ID"]
        reply["References"] = f"{sent.get('References', '')} {sent['Message-ID']}".strip()
    reply.set_content(text)
    return reply.as_bytes()


def test_reply_to_our_notification_threads_back(printer_request):
    index, number = printer_request
    sent, message_id = notification(thread_message_ids=list(index.messages))
    index.record(message_id, number)
    reply = parse_message(client_reply(sent, "Спасибо, но принтер всё ещё не печатает."))
    assert reply.in_reply_to == message_id
    assert receive(index, reply) == ("appended", number)


def test_reply_that_lost_its_headers_threads_back_by_the_subject_token(printer_request):
    index, number = printer_request
    sent, _ = notification()
    reply = parse_message(client_reply(sent, "Ответ без заголовков", keep_ids=False))
    assert (reply.in_reply_to, reply.references) == (None, ())
    assert receive(index, reply) == ("appended", number)


def test_notification_gets_its_own_message_id_and_replies_to_the_latest_message():
    sent, message_id = notification(thread_message_ids=["<a@x.example>", "b@x.example", "<c@x.example>"])
    assert sent["Message-ID"] == f"<{message_id}>"
    assert message_id.endswith(f"@{DOMAIN}")
    assert sent["In-Reply-To"] == "<c@x.example>"
    assert sent["References"] == "<a@x.example> <b@x.example> <c@x.example>"


def test_first_notification_of_a_thread_has_no_reply_headers():
    sent, _ = notification(thread_message_ids=[])
    assert sent["In-Reply-To"] is None and sent["References"] is None


def test_long_thread_references_keep_the_first_and_the_latest_ids():
    ids = [f"<m{i}@x.example>" for i in range(40)]
    sent, _ = notification(thread_message_ids=ids)
    kept = sent["References"].split()
    assert len(kept) == MAX_REFERENCES
    assert kept[0] == "<m0@x.example>"
    assert kept[1:] == ids[-(MAX_REFERENCES - 1) :]


def test_given_message_id_is_reused_so_a_retried_send_is_the_same_message():
    first, first_id = notification(message_id="<outbox-42@helpdesk.example.ru>")
    again, again_id = notification(message_id="outbox-42@helpdesk.example.ru")
    assert first_id == again_id == "outbox-42@helpdesk.example.ru"
    assert first["Message-ID"] == again["Message-ID"]


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Не печатает принтер", "[#REQ-000123] Не печатает принтер"),
        ("Re: Не печатает принтер", "Re: [#REQ-000123] Не печатает принтер"),
        ("RE: [#REQ-000123] Не печатает принтер", "RE: [#REQ-000123] Не печатает принтер"),
        ("Re: [#REQ-000123] Re: [#REQ-000123] x", "Re: Re: [#REQ-000123] x"),
        ("Re: [#REQ-000045] старая тема", "Re: [#REQ-000123] старая тема"),
        ("", "[#REQ-000123]"),
    ],
)
def test_subject_carries_the_request_token_exactly_once(subject, expected):
    assert format_subject(subject, "REQ-000123") == expected
    sent, _ = notification(subject=subject, request_number="REQ-000123")
    assert parse_message(sent.as_bytes()).subject.count("[#REQ-000123]") == 1


def test_automatic_notifications_are_marked_and_personal_replies_are_not():
    automatic, _ = notification(automatic=True)
    personal, _ = notification()
    assert automatic["Auto-Submitted"] == "auto-generated"
    assert personal["Auto-Submitted"] is None
    assert parse_message(automatic.as_bytes()).auto_reply
    assert not parse_message(personal.as_bytes()).auto_reply


def test_russian_headers_and_attachment_names_are_encoded_and_read_back():
    sent, message_id = notification(
        html="<p>Здравствуйте!</p>",
        attachments=[
            ("Акт №5.pdf", "application/pdf", b"%PDF-1.4"),
            Attachment("лог.txt", "text/plain", 3, b"abc"),
        ],
        date=MONDAY,
        cc=["Ольга Сидорова <o.sidorova@stroymontazh.example.ru>"],
    )
    wire = sent.as_bytes()
    assert wire.split(b"\n\n", 1)[0].isascii()
    back = parse_message(wire)
    assert back.message_id == message_id
    assert back.subject == "[#REQ-000001] Не печатает принтер в бухгалтерии"
    assert (back.from_name, back.from_address) == ("Служба поддержки", "support@helpdesk.example.ru")
    assert back.to == ("i.petrov@stroymontazh.example.ru",) and back.cc == (
        "o.sidorova@stroymontazh.example.ru",
    )
    assert back.text == "Здравствуйте! Ваше обращение зарегистрировано."
    assert back.date == MONDAY
    assert [(a.filename, a.data) for a in back.attachments] == [
        ("Акт №5.pdf", b"%PDF-1.4"),
        ("лог.txt", b"abc"),
    ]


@pytest.mark.parametrize(
    "overrides",
    [
        {"to": []},
        {"domain": ""},
        {"domain": "bad domain"},
        {"message_id": "<>"},
        {"to": "not an address <<>>"},
        {"attachments": [Attachment("big.bin", "x/y", 9, None, True)]},
    ],
)
def test_notification_that_cannot_be_built_says_why(overrides):
    with pytest.raises(OutboundMessageError):
        notification(**overrides)


def test_several_recipients_may_be_strings_or_addresses():
    sent, _ = notification(
        to=[
            Address("Петров, Иван", addr_spec="i.petrov@stroymontazh.example.ru"),
            "o.sidorova@stroymontazh.example.ru",
        ]
    )
    assert parse_message(sent.as_bytes()).to == (
        "i.petrov@stroymontazh.example.ru",
        "o.sidorova@stroymontazh.example.ru",
    )
