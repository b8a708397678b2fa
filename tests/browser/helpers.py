"""Small steps every browser test repeats: logging in as a demo user and saving a screenshot."""

from __future__ import annotations

from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
DEMO_PASSWORD = "demo"


def login(page, base_url: str, username: str, password: str = DEMO_PASSWORD) -> None:
    """Log in through the real login form (a fresh browser context has no session)."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("main form button")
    if "/login" in page.url:
        raise AssertionError(f"login as {username!r} failed: still on {page.url}")


def logout(page, base_url: str) -> None:
    """Drop the session by clearing cookies (the logout button needs a CSRF form; tests use it separately)."""
    page.context.clear_cookies()


def screenshot(page, name: str) -> Path:
    """Save a full-page PNG under tests/artifacts/ (git-ignored), overwritten on every run."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
