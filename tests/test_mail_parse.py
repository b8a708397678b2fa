"""desk.mail.parse: mail from every client reads as an operator should see it; bad input never crashes."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desk.errors import DeskError
from desk.mail.headers import extract_request_token, normalize_message_id
from desk.mail.html_text import html_to_text
from desk.mail.parse import MalformedMessageError, parse_message
from desk.text import split_reply

CORPUS = Path(__file__).parent / "data" / "mail"
MANIFEST = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
PARSED = [case for case in MANIFEST["files"] if case["expect"] == "parsed"]
PARSED_NAMES = {case["file"] for case in PARSED}
MALFORMED = [case for case in MANIFEST["files"] if case["expect"] == "malformed"]
SAMPLES = sorted(CORPUS.glob("*.eml"))


def sample(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def message(*headers: str, body: str = "Принтер не печатает.\n", charset: str = "utf-8") -> bytes:
    """A minimal message with the given extra header lines."""
    lines = [
        "From: Ivan Petrov <i.petrov@stroymontazh.example.ru>",
        "To: support@helpdesk.example.ru",
        "Subject: test",
        "Message-ID: <test.1@stroymontazh.example.ru>",
        *headers,
        f"Content-Type: text/plain; charset={charset}",
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body.encode(charset)


# ---------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------


def test_corpus_lists_every_sample_and_has_at_least_forty():
    listed = {case["file"] for case in MANIFEST["files"]}
    assert listed == {path.name for path in SAMPLES}
    assert len(SAMPLES) >= 40


def test_every_sample_reads_the_same_the_second_time():
    """Parsed headers are reused between messages (desk.mail.headers.READ_POLICY): reading the
    whole corpus again, in reverse, must give exactly the same facts and defects."""
    first = {path.name: parse_message(path.read_bytes()) for path in SAMPLES if path.name in PARSED_NAMES}
    for path in reversed(SAMPLES):
        if path.name in first:
            assert parse_message(path.read_bytes()) == first[path.name]


@pytest.mark.parametrize("case", PARSED, ids=lambda case: case["file"])
def test_sample_parses_to_its_expected_facts(case):
    limit = case.get("max_attachment_bytes", 10 * 1024 * 1024)
    msg = parse_message(sample(case["file"]), max_attachment_bytes=limit)

    assert msg.subject == case["subject"]
    assert msg.from_address == case["from"]
    if "from_name" in case:
        assert msg.from_name == case["from_name"]
    for field in ("to", "cc", "reply_to", "references"):
        if field in case:
            assert list(getattr(msg, field)) == case[field]
    if "message_id" in case:
        assert msg.message_id == case["message_id"]
    assert msg.synthetic_id == case.get("synthetic_id", False)
    if "in_reply_to" in case:
        assert msg.in_reply_to == case["in_reply_to"]
    if "date" in case:
        assert msg.date == datetime.fromisoformat(case["date"])
    if "request_token" in case:
        assert msg.request_token == case["request_token"]
    assert msg.auto_reply is case["auto_reply"]
    assert (msg.auto_reply_reason is not None) is case["auto_reply"]
    if "auto_reply_reason_contains" in case:
        assert case["auto_reply_reason_contains"] in msg.auto_reply_reason
    assert (msg.html is not None) is case.get("html", False)
    for fragment in case["text_contains"]:
        assert fragment in msg.text
    for fragment in case["text_excludes"]:
        assert fragment not in msg.text
    for fragment in case.get("quoted_contains", []):
        assert fragment in msg.quoted
    for name, value in case.get("headers", {}).items():
        assert msg.headers[name] == value
    if case.get("defects"):
        assert msg.defects, "a broken sample must say what was wrong with it"
    if "attachments" in case:
        assert len(msg.attachments) == len(case["attachments"])
        for attachment, expected in zip(msg.attachments, case["attachments"], strict=True):
            for key, value in expected.items():
                assert getattr(attachment, key) == value, key
            assert (attachment.data is None) is attachment.truncated


@pytest.mark.parametrize("case", MALFORMED, ids=lambda case: case["file"])
def test_input_that_is_not_mail_is_rejected_as_malformed(case):
    with pytest.raises(MalformedMessageError) as raised:
        parse_message(sample(case["file"]))
    assert raised.value.reason
    assert isinstance(raised.value, DeskError)


@pytest.mark.parametrize(
    "case",
    [c for c in PARSED if c.get("html") and not c["file"].startswith(("c06", "f0"))],
    ids=lambda c: c["file"],
)
def test_html_alternative_reads_like_the_plain_part(case):
    msg = parse_message(sample(case["file"]))
    fresh, _ = split_reply(html_to_text(msg.html))
    for fragment in case["text_contains"]:
        assert fragment in fresh
    for fragment in case["text_excludes"]:
        assert fragment not in fresh


# ---------------------------------------------------------------------------
# Ids and subjects
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<abc@example.com>", "abc@example.com"),
        ("  <abc@ex\r\n ample.com> ", "abc@example.com"),
        ("abc@example.com", "abc@example.com"),
        ("<>", None),
        ("", None),
    ],
)
def test_message_ids_are_compared_without_brackets_and_whitespace(raw, expected):
    assert normalize_message_id(raw) == expected


def test_old_style_in_reply_to_with_text_yields_the_bracketed_id():
    raw = message('In-Reply-To: Your message of "Mon, 23 Nov 2026" <abc.1@helpdesk.example.ru>')
    assert parse_message(raw).in_reply_to == "abc.1@helpdesk.example.ru"


def test_references_keep_their_order_and_drop_repeats():
    raw = message("References: <a@x> <b@x>\r\n <c@x> <a@x>")
    assert parse_message(raw).references == ("a@x", "b@x", "c@x")


def test_message_without_id_gets_the_same_synthetic_id_every_time():
    raw = sample("c05_thebat_koi8r_no_message_id.eml")
    first, second = parse_message(raw), parse_message(raw)
    assert first.synthetic_id and first.message_id == second.message_id
    assert hashlib.sha256(raw).hexdigest()[:32] in first.message_id
    assert parse_message(raw + b"\n").message_id != first.message_id


@pytest.mark.parametrize(
    ("subject", "token"),
    [
        ("[#REQ-000123] Принтер", "REQ-000123"),
        ("Re: RE: [#REQ-000123] Принтер", "REQ-000123"),
        ("Re: [#req-0001234] x", "REQ-0001234"),
        ("Re: [#REQ-000200] Fwd: [#REQ-000100] x", "REQ-000200"),
        ("REQ-000123 without brackets", None),
        ("[#REQ-12345] too short", None),
        ("[REQ-000123] no hash", None),
    ],
)
def test_request_token_is_found_only_in_its_exact_form(subject, token):
    assert extract_request_token(subject) == token


def test_encoded_subject_is_decoded_and_its_whitespace_folded():
    raw = message().replace(
        b"Subject: test", b"Subject: Re:  =?utf-8?B?0J/RgNC40L3RgtC10YA=?=\r\n =?utf-8?Q?_=D0=BD=D0=B5?=\tgo"
    )
    assert parse_message(raw).subject == "Re: Принтер не go"


def test_date_without_zone_is_read_as_utc_and_a_bad_date_as_none():
    assert parse_message(message("Date: Mon, 23 Nov 2026 10:00:00 -0000")).date == datetime(
        2026, 11, 23, 10, tzinfo=UTC
    )
    broken = parse_message(message("Date: вчера"))
    assert broken.date is None
    assert any("Date" in defect for defect in broken.defects)


# ---------------------------------------------------------------------------
# Auto-replies and bounces
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: auto-replied",
        "Auto-Submitted: auto-generated",
        "Auto-Submitted: auto-notified; owner-email=admin@example.com",
        "X-Autoreply: yes",
        "X-Autorespond: Thanks for your mail",
        "Precedence: bulk",
        "Precedence: junk",
        "Precedence: list",
        "Return-Path: <>",
    ],
)
def test_each_auto_reply_marker_makes_an_auto_reply(header):
    msg = parse_message(message(header))
    assert msg.auto_reply
    assert header.split(":", 1)[0] in msg.auto_reply_reason


@pytest.mark.parametrize(
    "header",
    [
        "X-Auto-Response-Suppress: All",
        "X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply",
        "Auto-Submitted: no",
        "Precedence: first-class",
        "Return-Path: <i.petrov@stroymontazh.example.ru>",
    ],
)
def test_ordinary_mail_headers_are_not_auto_reply_markers(header):
    assert not parse_message(message(header)).auto_reply


@pytest.mark.parametrize(
    "sender", ["MAILER-DAEMON@mx.example.net", "postmaster@example.org", "Mailer-Daemon"]
)
def test_mail_from_mailer_daemon_or_postmaster_is_a_bounce(sender):
    raw = message().replace(
        b"From: Ivan Petrov <i.petrov@stroymontazh.example.ru>", f"From: {sender}".encode()
    )
    assert parse_message(raw).auto_reply


def test_bounce_forwarded_by_a_person_is_that_persons_request():
    bounce = sample("c04_postfix_bounce_mailer_daemon.eml")
    raw = (
        b"From: Ivan Petrov <i.petrov@stroymontazh.example.ru>\r\n"
        b"To: support@helpdesk.example.ru\r\nSubject: FW: why does this bounce?\r\n"
        b"Message-ID: <fw.1@stroymontazh.example.ru>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nOur mail to a client bounces, see attached.\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\n" + bounce + b"\r\n--b--\r\n"
    )
    msg = parse_message(raw)
    assert not msg.auto_reply
    assert msg.text == "Our mail to a client bounces, see attached."
    assert [a.content_type for a in msg.attachments] == ["message/rfc822"]


# ---------------------------------------------------------------------------
# Text and attachments
# ---------------------------------------------------------------------------


def test_html_to_text_keeps_structure_and_drops_what_is_not_text():
    text = html_to_text(
        "<html><head><title>t</title><style>p{color:red}</style></head><body>"
        "<script>steal()</script><p>First&nbsp;paragraph,<br>second line.</p>"
        "<ul><li>one</li><li>two</li></ul><ol><li>a</li><li>b</li></ol>"
        '<p>See <a href="https://portal.example.ru/kb/1">the article</a> or '
        '<a href="mailto:it@example.ru">it@example.ru</a>.</p>'
        "<div>On Mon, Nov 23, 2026 at 10:15 AM Desk &lt;sd@example.ru&gt; wrote:</div>"
        "<blockquote>old <b>text</b></blockquote></body></html>"
    )
    assert text == (
        "First paragraph,\nsecond line.\n\n- one\n- two\n\n1. a\n2. b\n\n"
        "See the article (https://portal.example.ru/kb/1) or it@example.ru.\n\n"
        "On Mon, Nov 23, 2026 at 10:15 AM Desk <sd@example.ru> wrote:\n\n> old text"
    )


@pytest.mark.parametrize("markup", ["", "   ", "<html></html>", "<!-- only a comment -->", "<p>" * 5000])
def test_html_to_text_of_empty_or_deep_markup_is_empty_text(markup):
    assert html_to_text(markup) == ""


def test_format_flowed_paragraphs_are_joined():
    raw = message(body="Первая строка, которая \r\nпродолжается.\r\n> цитата \r\n> дальше\r\n").replace(
        b"charset=utf-8", b"charset=utf-8; format=flowed"
    )
    msg = parse_message(raw)
    assert msg.text == "Первая строка, которая продолжается."
    assert msg.quoted == "> цитата дальше"


def test_attachment_name_cannot_carry_a_directory():
    raw = (
        b"From: a@example.com\r\nMessage-ID: <x@example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n'
        b"--b\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="..\\\\..\\\\evil.pdf"\r\n\r\n%PDF\r\n--b--\r\n'
    )
    assert [a.filename for a in parse_message(raw).attachments] == ["evil.pdf"]


def test_attachment_over_the_limit_keeps_its_name_and_size_but_not_its_data():
    msg = parse_message(sample("h03_attachment_over_limit.eml"), max_attachment_bytes=2048)
    dump = msg.attachments[0]
    assert (dump.filename, dump.size, dump.data, dump.truncated) == ("scanner-crash.dmp", 3000, None, True)
    whole = parse_message(sample("h03_attachment_over_limit.eml"))
    assert whole.attachments[0].data is not None and len(whole.attachments[0].data) == 3000


@pytest.mark.parametrize(
    ("charset", "encode_as"),
    [
        ("us-ascii", "cp1251"),
        ("utf-8", "cp1251"),
        ("utf-8", "koi8-r"),
        ("koi8-r", "cp1251"),
        ("windows-1251", "utf-8"),
    ],
)
def test_mislabelled_russian_text_is_decoded_by_its_bytes(charset, encode_as):
    body = "Не работает электронная почта, письма не уходят уже второй день.\n"
    raw = message(body="").replace(b"charset=utf-8", f"charset={charset}".encode()) + body.encode(encode_as)
    msg = parse_message(raw)
    assert msg.text == body.strip()
    assert msg.defects


def test_latin1_text_stays_latin1():
    body = "Le café du réseau ne fonctionne plus, merci de vérifier.\n"
    raw = message(body="").replace(b"charset=utf-8", b"charset=iso-8859-1") + body.encode("latin-1")
    msg = parse_message(raw)
    assert msg.text == body.strip()
    assert not msg.defects


# ---------------------------------------------------------------------------
# Broken input: recovered, or MalformedMessageError, never anything else
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"   \r\n\r\n", "empty"),
        (b"just some words\nwithout headers\n", "no header"),
        (b"Subject: hi\r\n\r\nbody", "no From"),
        (b"From: \r\nSubject: hi\r\n\r\nbody", "no From"),
        (b"From: Undisclosed\x00\x01 <>\r\n\r\nx", "NUL"),
        (b"From: (comment only)\r\n\r\nx", "names no address"),
    ],
)
def test_non_messages_are_rejected_with_a_reason(raw, reason):
    with pytest.raises(MalformedMessageError) as raised:
        parse_message(raw)
    assert reason in raised.value.reason


def test_non_bytes_input_is_rejected():
    with pytest.raises(MalformedMessageError):
        parse_message("From: a@example.com\r\n\r\nx")  # type: ignore[arg-type]


def parse_or_reject(raw: bytes) -> None:
    try:
        msg = parse_message(raw, max_attachment_bytes=1024)
    except MalformedMessageError as err:
        assert err.reason
        assert "could not be decoded" not in err.reason, (
            "a parser bug, hidden from callers but not from tests"
        )
        return
    assert msg.message_id and msg.from_address is not None
    assert isinstance(msg.text, str) and isinstance(msg.quoted, str)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.name)
def test_every_truncation_of_a_sample_parses_or_is_rejected(path):
    raw = path.read_bytes()
    for cut in range(0, len(raw), max(1, len(raw) // 60)):
        parse_or_reject(raw[:cut])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise_anything_but_malformed(raw):
    parse_or_reject(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SAMPLES),
    st.lists(st.tuples(st.floats(0, 1), st.binary(min_size=0, max_size=12)), max_size=6),
    st.floats(0, 1),
)
def test_mangled_samples_never_raise_anything_but_malformed(path, edits, keep):
    raw = bytearray(path.read_bytes())
    for where, junk in edits:
        at = int(where * len(raw))
        raw[at : at + len(junk)] = junk
    parse_or_reject(bytes(raw[: max(1, int(keep * len(raw)))]))


@settings(max_examples=150, deadline=None)
@given(
    st.text(max_size=200),
    st.sampled_from(
        ["utf-8", "koi8-r", "cp1251", "us-ascii", "x-unknown", "utf-16", "base64", "rot13", "", '"']
    )
    | st.text(max_size=12),
    st.sampled_from(["base64", "quoted-printable", "8bit", "x-uuencode", "bogus"]),
    st.sampled_from(
        ["text/plain", "text/html", "multipart/mixed", "multipart/alternative; boundary=", "message/rfc822"]
    ),
)
def test_arbitrary_mime_headers_never_raise_anything_but_malformed(body, charset, encoding, content_type):
    header = (
        "From: a@example.com\r\nMessage-ID: <m@example.com>\r\n"
        f"Content-Type: {content_type}; charset={charset}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
    )
    parse_or_reject(header.encode("utf-8", "surrogateescape") + body.encode("utf-8", "surrogateescape"))


def test_a_charset_python_calls_undefined_is_read_as_an_unknown_charset_not_rejected():
    # Found by Hypothesis: Python has a codec named "undefined" that refuses every input, so a
    # part declaring it made parse_message reject the whole message ("decoding with 'undefined'
    # codec failed"). Mail clients show such a text with a fallback charset; so do we.
    raw = (
        b"From: a@example.com\r\nMessage-ID: <m@example.com>\r\n"
        b"Subject: =?UNDEFINED?B?0J/RgNC40LLQtdGC?=\r\n"
        b"Content-Type: text/plain; charset=UNDEFINED\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode("Привет, принтер сломался".encode())
        + b"\r\n"
    )
    msg = parse_message(raw)
    assert msg.text.strip() == "Привет, принтер сломался"
    assert msg.subject == "Привет"
    assert any("unknown charset 'undefined'" in defect.lower() for defect in msg.defects)


def test_absurdly_deep_mime_nesting_is_rejected_not_crashed():
    raw = b"From: a@example.com\r\nMessage-ID: <deep@example.com>\r\nMIME-Version: 1.0\r\n"
    raw += b"".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'.encode() for i in range(3000)
    )
    raw += b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    with pytest.raises(MalformedMessageError, match="nested too deeply"):
        parse_message(raw)


def test_multipart_without_boundary_or_part_headers_is_read_as_plain_text():
    raw = b"From: a@example.com\r\nContent-Type: multipart/mixed\r\n\r\nHello there\r\n--------\r\nsig\r\n"
    msg = parse_message(raw)
    assert msg.text.startswith("Hello there")
    assert any("read as plain text" in defect for defect in msg.defects)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80), st.text(max_size=80), st.text(max_size=40), st.text(max_size=120))
def test_arbitrary_header_values_never_raise_anything_but_malformed(sender, subject, date, references):
    raw = (
        f"From: {sender}\r\nSubject: {subject}\r\nDate: {date}\r\nReferences: {references}\r\n"
        f"In-Reply-To: {references[::-1]}\r\nTo: {sender}, {subject}\r\n\r\nbody"
    )
    parse_or_reject(raw.encode("utf-8", "surrogateescape"))
    parse_or_reject(raw.encode("cp1251", "replace"))
