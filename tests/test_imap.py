"""IMAP polling against a real Dovecot started by the test (Debian's dovecot-imapd, a temporary maildir)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from imap_tools import AND, MailBoxUnencrypted, MailMessageFlags
from sqlalchemy import func, select

from desk.mail.ingest import MailIngester
from desk.messages import MailMessage
from desk.models import Request
from tests.conftest import MONDAY_10, PROJECT, Clock, require_service
from web.cli import deploy_paths
from web.intake import open_request
from web.mail_poll import ImapSettings, MailPollError, poll

pytestmark = pytest.mark.imap

CORPUS = Path(__file__).parent / "data" / "mail"
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER, PASSWORD = "desk", "s3cret-imap"

CONFIG = """
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/home/%u/Maildir
first_valid_uid = 1
{users}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""


@dataclass
class Dovecot:
    port: int
    root: Path

    def settings(self, password: str = PASSWORD) -> ImapSettings:
        return ImapSettings("127.0.0.1", self.port, USER, password, "INBOX", ssl=False)

    def config(self) -> dict[str, object]:
        return {
            "IMAP_HOST": "127.0.0.1",
            "IMAP_PORT": self.port,
            "IMAP_USER": USER,
            "IMAP_PASSWORD": PASSWORD,
            "IMAP_FOLDER": "INBOX",
            "IMAP_SSL": False,
            "IMAP_POLL_INTERVAL": 0,
        }

    def mailbox(self) -> MailBoxUnencrypted:
        return MailBoxUnencrypted("127.0.0.1", self.port).login(USER, PASSWORD)

    def deliver(self, *names: str, seen: bool = False) -> None:
        with self.mailbox() as box:
            for name in names:
                box.append(
                    (CORPUS / name).read_bytes(), "INBOX", flag_set=[MailMessageFlags.SEEN] if seen else []
                )

    def unseen(self) -> list[str]:
        with self.mailbox() as box:
            return box.uids(AND(seen=False))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """A private Dovecot on a free high port with one passwd-file user and an empty maildir."""
    if not os.path.exists(DOVECOT):
        require_service("Dovecot", f"is not installed at {DOVECOT} (apt-get install dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="desk-imap-"))
    root.chmod(0o755)
    (root / "home").mkdir()
    if os.geteuid() == 0:
        # Dovecot refuses to run mail processes as root; the maildir belongs to nobody.
        nobody = pwd.getpwnam("nobody")
        uid, gid, users = nobody.pw_uid, nobody.pw_gid, ""
        os.chown(root / "home", uid, gid)
    else:
        me = pwd.getpwuid(os.geteuid()).pw_name
        uid, gid = os.geteuid(), os.getegid()
        users = f"default_internal_user = {me}\ndefault_login_user = {me}\ndefault_internal_group = {me}"
    port = _free_port()
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    (root / "dovecot.conf").write_text(CONFIG.format(root=root, port=port, uid=uid, gid=gid, users=users))
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(root / "dovecot.conf")], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                require_service("Dovecot", f"did not start: {process.stderr.read().decode(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    require_service("Dovecot", f"did not listen on port {port}")
                time.sleep(0.1)
        yield Dovecot(port, root)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def desk_app(dovecot, sqlite_url):
    """The app configured for the test's mailbox, with the shipped diagrams deployed."""
    from tests.conftest import make_app

    app = make_app(sqlite_url, **dovecot.config())
    app.extensions["runtime"].clock = Clock(MONDAY_10)
    with app.app_context():
        deploy_paths([PROJECT / "bpmn"])
        yield app
    app.extensions["db_engine"].dispose()


def count_requests(app) -> int:
    with app.extensions["sessions"]() as session:
        return session.scalar(select(func.count()).select_from(Request))


def test_poll_ingests_unseen_mail_marks_it_seen_and_a_second_poll_changes_nothing(dovecot, desk_app):
    dovecot.deliver(
        "a01_outlook_ru_cp1251_new_printer.eml",
        "a02_outlook_ru_reply_changed_subject.eml",
        "k03_malformed_no_from.eml",
        "d01_iphone_en_new.eml",
    )
    dovecot.deliver("b01_gmail_ru_problema_new.eml", seen=True)  # read in the mailbox already: not ours
    runner = desk_app.test_cli_runner()
    out = runner.invoke(args=["mail", "poll", "--json"])
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in out.output.splitlines()]
    assert [line["action"] for line in lines] == ["new", "appended", "rejected", "new"]
    assert lines[0]["request"] == lines[1]["request"] != lines[3]["request"]
    assert dovecot.unseen() == []
    requests = count_requests(desk_app)
    again = runner.invoke(args=["mail", "poll"])
    assert again.exit_code == 0 and "No unseen messages." in again.output
    with dovecot.mailbox() as box:  # someone marks everything unread: re-polling is idempotent
        box.flag(box.uids(), MailMessageFlags.SEEN, False)
    replay = runner.invoke(args=["mail", "poll", "--json"])
    assert [json.loads(line)["action"] for line in replay.output.splitlines()] == ["duplicate"] * 4 + ["new"]
    assert count_requests(desk_app) == requests + 1  # only b01, now unread, is new
    with desk_app.extensions["sessions"]() as session:
        rejected = session.scalars(select(MailMessage).where(MailMessage.action == "rejected")).one()
        assert rejected.source == "imap" and rejected.raw.startswith(b"To: support@helpdesk.example.ru")


def test_message_whose_request_cannot_be_opened_stays_unseen_until_a_later_poll_settles_it(dovecot, desk_app):
    dovecot.deliver("d01_iphone_en_new.eml", "d03_yandex_mobile_new.eml")
    calls = {"n": 0}

    def flaky_open_request(**kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("database went away")
        return open_request(**kwargs)

    runtime = desk_app.extensions["runtime"]
    ingester = MailIngester(
        desk_app.extensions["sessions"], clock=runtime.now, open_request=flaky_open_request
    )
    first = poll(ingester, dovecot.settings())
    assert [(r.action, r.settled) for _, r in first] == [("rejected", False), ("new", True)]
    assert len(dovecot.unseen()) == 1
    second = poll(ingester, dovecot.settings())  # within the claim lease: left for its claimer
    assert [(r.action, r.settled) for _, r in second] == [("duplicate", False)]
    runtime.clock.now = MONDAY_10.replace(hour=11)
    third = poll(ingester, dovecot.settings())
    assert [(r.action, r.settled) for _, r in third] == [("new", True)]
    assert dovecot.unseen() == []
    assert count_requests(desk_app) == 2


def test_wrong_password_is_reported_with_what_to_check(dovecot, desk_app):
    ingester = MailIngester(
        desk_app.extensions["sessions"], clock=desk_app.extensions["runtime"].now, open_request=open_request
    )
    with pytest.raises(MailPollError, match="login was refused.*IMAP_PASSWORD"):
        poll(ingester, dovecot.settings(password="wrong"))
    desk_app.config["IMAP_PASSWORD"] = "wrong"
    out = desk_app.test_cli_runner().invoke(args=["mail", "poll"])
    assert out.exit_code != 0 and "IMAP desk@127.0.0.1" in out.output


def test_embedded_worker_polls_the_mailbox_on_its_schedule(dovecot, desk_app):
    dovecot.deliver("b01_gmail_ru_problema_new.eml")
    out = desk_app.test_cli_runner().invoke(args=["worker", "--once"])
    assert out.exit_code == 0, out.output
    assert dovecot.unseen() == []
    assert count_requests(desk_app) == 1
