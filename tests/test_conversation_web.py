"""The conversation is complete: our replies are in the thread at once, with their delivery state,
and the outbox page counts what is still on its way instead of saying everything is delivered.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from desk import crm
from desk.models import Notification, Request
from tests.test_smtp_delivery import (  # noqa: F401  (fixtures)
    field,
    login,
    mail_app,
    new_request,
    smtp_server,
)
from tests.web_helpers import post, seeded_fixture, staff_client  # noqa: F401
from web.demo import create_user

ENTRY = re.compile(
    r'<li class="msg (?:in|out)"(?: data-delivery="(\w+)")?>.*?<pre class="body">([^<]*)</pre>', re.S
)
REPLY = "Картридж заменим завтра до 12:00."


def thread_entries(page: str) -> list[tuple[str, str]]:
    """(delivery state, text) of each message in the card's thread, in order."""
    thread = re.search(r'<ol class="timeline" id="thread">(.*?)</ol>', page, re.S).group(1)
    return ENTRY.findall(thread)


def reply_form(client, number: str) -> dict[str, str]:
    card = client.get(f"/requests/{number}").data
    return {"csrf_token": field(card, "csrf_token"), "reply_token": field(card, "reply_token"), "text": REPLY}


def test_with_no_mail_server_the_reply_shows_queued_and_the_outbox_says_it_is_pending(seeded):
    with seeded.extensions["sessions"]() as session:
        number = session.scalars(
            select(Request.number).where(Request.requester_email.is_not(None)).order_by(Request.id)
        ).first()
    operator = staff_client(seeded, "operator")
    assert operator.post(f"/requests/{number}/reply", data=reply_form(operator, number)).status_code == 302

    page = operator.get(f"/requests/{number}").get_data(as_text=True)
    ours = [e for e in thread_entries(page) if e[1] == REPLY]
    assert ours == [("pending", REPLY)]
    assert "В очереди" in page and "Ольга Операторова" in page

    admin = staff_client(seeded, "admin")
    outbox = admin.get("/admin/outbox/").get_data(as_text=True)
    assert "Всё доставлено" not in outbox
    with seeded.extensions["sessions"]() as session:
        counts = {
            status: len(session.scalars(select(Notification.id).where(Notification.status == status)).all())
            for status in ("pending", "sending", "failed", "dead", "unconfirmed")
        }
    shown = dict(re.findall(r'data-status="(\w+)">[^<]*</span> <span class="count">(\d+)</span>', outbox))
    assert {s: int(shown[s]) for s in counts} == counts
    listed = re.findall(r'<tr id="notification-\d+" data-status="(\w+)">', outbox)
    for status, n in counts.items():
        assert listed.count(status) == min(n, 200), status
    assert counts["pending"] >= 1


def test_a_delivered_reply_shows_once_as_sent(mail_app, smtp_server):  # noqa: F811
    recorder, _port = smtp_server
    with mail_app.app_context():
        create_user("operator", "demo", roles=["operator"], groups=["operators"])
    request_id = new_request(mail_app)
    with mail_app.extensions["sessions"]() as session:
        number = crm.get_request(session, request_id).number
    client = mail_app.test_client()
    login(client, "operator")
    assert client.post(f"/requests/{number}/reply", data=reply_form(client, number)).status_code == 302
    mail_app.extensions["outbox"].run_pass()
    assert len(recorder.envelopes) == 1
    page = client.get(f"/requests/{number}").get_data(as_text=True)
    assert [e for e in thread_entries(page) if e[1] == REPLY] == [("sent", REPLY)]
    assert "Отправлено" in page
