"""Fixtures for browser tests: `live_server` (the real app on a free port) and `page` (headless Chromium).

The server is the same app `scripts/run.sh` starts: a SQLite file database migrated with Alembic,
every diagram in bpmn/ deployed and the demo seed (DESIGN §8a) loaded, served by werkzeug in a
thread. The engine clock is pinned to Monday 2026-11-23 10:00 Moscow time so working-time
figures on the pages are the same on every run; `live_app` exposes the app (and its clock).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_app, require_service, seed_desk

CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.browser


def _sync_playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_service("Playwright", "the `playwright` package is not installed (requirements-dev.txt)")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        require_service("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    return sync_playwright


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory):
    """The app on a throwaway SQLite file, with bpmn/ deployed and the demo seeded (one per test module)."""
    db_file = tmp_path_factory.mktemp("live") / "desk.db"
    app = seed_desk(make_app(f"sqlite:///{db_file}", WTF_CSRF_ENABLED=True, TESTING=False))
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture(scope="module")
def live_server(live_app) -> Iterator[str]:
    """Serve `live_app` with werkzeug on 127.0.0.1 and a free port; yields the base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium per worker process (Debian's build; `playwright install` is never used).

    Each test still gets a fresh context (`page`), so no cookies or storage cross between tests."""
    sync_playwright = _sync_playwright()
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page in its own context (no cookies shared between tests)."""
    context = browser.new_context(
        accept_downloads=True, locale="ru-RU", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()
