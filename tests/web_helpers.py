"""Web-test helpers: the seeded desk without a pushed app context, and logging a test client in
through the real login form (with its CSRF token).
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import seed_desk

CSRF = re.compile(rb'name="csrf_token"[^>]*? value="([^"]+)"')  # WTForms puts id and type between


def csrf_token(client, path: str = "/login") -> str:
    """The CSRF token of the session, read from a page that has a form."""
    page = client.get(path)
    found = CSRF.search(page.data)
    assert found, f"{path} has no form with a CSRF token (status {page.status_code})"
    return found.group(1).decode()


def login(client, username: str, password: str = "demo"):
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 302, f"login as {username} failed: {response.status_code}"
    return response


def staff_client(app, username: str, password: str = "demo"):
    client = app.test_client()
    login(client, username, password)
    return client


def post(client, path: str, data: dict | None = None, *, token_from: str = "/tasks/"):
    """POST a form with the session's CSRF token, as the browser would."""
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client, token_from)})


@pytest.fixture(name="seeded")
def seeded_fixture(any_app):
    """Like `desk` (bpmn/ deployed, demo seeded, Monday 10:00 Moscow) but with no app context left pushed:
    each test-client request then gets its own, as in production (Flask-WTF caches the CSRF token in `g`).
    """
    return seed_desk(any_app)
