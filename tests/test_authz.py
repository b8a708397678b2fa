"""Authorization of every route, read from app.url_map so a new route is covered the day it is added.

Anonymous callers are sent to the login page (HTML) or get 401 (APIs); a route that needs roles
answers 403 to anyone without them and lets a holder in; /admin is for admins only; every HTML
form POST without a CSRF token is refused. Public routes are an explicit allow-list.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from werkzeug.routing import IntegerConverter

from engine.store import Instance, ProcessDefinition, UserTask
from tests.conftest import make_app, seed_desk
from tests.web_helpers import csrf_token, staff_client
from web.demo import DEMO_USERS

# Routes anyone may call without logging in.
PUBLIC = {
    "auth.login",
    "static",
    "health.health",
    "public_form.new",
    "public_form.submit",
    "public_form.thanks",
    "calendar.feed",  # calendar applications cannot log in: the secret token in the address authorizes
}
# Machine APIs authenticate each call (HTTP Basic, bearer tokens, webhook secrets), never by session.
API_PREFIXES = ("/engine-rest", "/api/")
# Roles the issue pins; a decorator that drifts from these fails here.
PINNED = {
    "reports.index": {"manager"},
    "reports.processing_csv": {"manager"},
    "processes.deploy_page": {"analyst"},
}
# Blueprints this capability owns: their pages must also never answer 5xx to a permitted user.
OWN = ("auth.", "tasks.", "requests.", "reports.", "admin.")
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = seed_desk(make_app(f"sqlite:///{tmp_path_factory.mktemp('authz')}/desk.db"))
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture(scope="module")
def samples(app) -> dict[str, object]:
    """Real values for URL arguments, so a permitted caller reaches the view and not a 404."""
    with app.extensions["sessions"]() as session:
        task = session.scalars(select(UserTask).where(UserTask.status == "open")).first()
        instance = session.scalars(select(Instance.id)).first()
        definition = session.scalars(select(ProcessDefinition)).first()
    return {
        "task_id": task.id,
        "number": "REQ-000001",
        "instance_id": instance,
        "definition_id": definition.id,
        "deployment_id": definition.deployment_id,
        "key": definition.key,
        "username": "operator",
        "name": "support",
        "template": "request_received",
        "language": "ru",
        "filename": "style.css",
        "step": "start",
    }


def routes(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule, method


def url(app, rule, samples) -> str:
    values = {}
    for arg in rule.arguments:
        if isinstance(rule._converters[arg], IntegerConverter):
            values[arg] = 1
        else:
            values[arg] = samples.get(arg, "x")
    return app.url_map.bind("localhost").build(rule.endpoint, values)


def required_roles(app, rule) -> set[str] | None:
    if rule.rule.startswith("/admin"):
        return {"admin"}
    roles = getattr(app.view_functions[rule.endpoint], "required_roles", None)
    return set(roles) if roles else None


def is_api(rule) -> bool:
    return rule.rule.startswith(API_PREFIXES)


def call(client, method: str, path: str, token: str | None):
    data = {"csrf_token": token} if token else {}
    response = client.open(path, method=method, data=data if method in MUTATING else None)
    response.get_data()
    response.close()  # a streamed response (CSV) keeps its request context until closed
    return response


def test_the_allow_list_names_only_existing_routes(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert PUBLIC - endpoints <= {"public_form.new", "public_form.submit", "public_form.thanks"}
    assert set(PINNED) <= endpoints


def test_anonymous_callers_are_sent_to_login_or_refused(app, samples):
    client = app.test_client()
    for rule, method in routes(app):
        if rule.endpoint in PUBLIC:
            continue
        token = csrf_token(client) if method in MUTATING else None  # judged on authentication, not CSRF
        response = call(client, method, url(app, rule, samples), token)
        where = f"{method} {rule.rule} ({rule.endpoint})"
        if is_api(rule):
            assert response.status_code in (401, 403), f"{where} answered {response.status_code} to nobody"
        else:
            assert response.status_code == 302, f"{where} answered {response.status_code} to nobody"
            assert "/login" in response.headers["Location"], where


def test_roles_are_checked_on_every_route_that_needs_them(app, samples):
    clients = {name: staff_client(app, name) for name in DEMO_USERS}
    tokens = {name: csrf_token(client, "/tasks/") for name, client in clients.items()}
    checked = 0
    for rule, method in routes(app):
        roles = required_roles(app, rule)
        if roles is None or is_api(rule):
            continue
        if rule.endpoint in PINNED:
            assert roles == PINNED[rule.endpoint], (
                f"{rule.endpoint} needs {roles}, the issue says {PINNED[rule.endpoint]}"
            )
        path, where = url(app, rule, samples), f"{method} {rule.rule}"
        outsiders = [
            u for u, (_, user_roles, _) in DEMO_USERS.items() if not set(user_roles) & (roles | {"admin"})
        ]
        for outsider in outsiders[:2]:
            response = call(clients[outsider], method, path, tokens[outsider])
            assert response.status_code == 403, f"{where}: {outsider} got {response.status_code}, not 403"
            checked += 1
        if method == "GET":
            holder = next(u for u, (_, user_roles, _) in DEMO_USERS.items() if set(user_roles) & roles)
            response = call(clients[holder], method, path, None)
            assert response.status_code not in (401, 403), f"{where}: {holder} (role {roles}) was refused"
            assert not (response.status_code == 302 and "/login" in response.headers.get("Location", ""))
            if rule.endpoint.startswith(OWN):
                assert response.status_code < 500, f"{where}: {response.status_code}"
    assert checked > 20


def test_admin_pages_are_for_admins_only(app, samples):
    admin_routes = [(r, m) for r, m in routes(app) if r.endpoint.startswith("admin.")]
    assert len(admin_routes) >= 15
    manager = staff_client(app, "manager")
    token = csrf_token(manager, "/tasks/")
    for rule, method in admin_routes:
        assert call(manager, method, url(app, rule, samples), token).status_code == 403, rule.rule


def test_login_only_pages_open_for_staff(app, samples):
    admin = staff_client(app, "admin")
    for rule, method in routes(app):
        if method != "GET" or rule.endpoint in PUBLIC or is_api(rule) or required_roles(app, rule):
            continue
        response = call(admin, "GET", url(app, rule, samples), None)
        assert response.status_code not in (401, 403), f"GET {rule.rule}: {response.status_code}"
        if rule.endpoint.startswith(OWN):
            assert response.status_code < 500, f"GET {rule.rule}: {response.status_code}"


def test_forms_without_a_csrf_token_are_refused(app, samples):
    admin = staff_client(app, "admin")
    refused = 0
    for rule, method in routes(app):
        if method not in MUTATING or is_api(rule) or rule.endpoint in {"public_form.submit"}:
            continue
        response = call(admin, method, url(app, rule, samples), None)
        assert response.status_code == 400, f"{method} {rule.rule} accepted a form without a CSRF token"
        assert b"CSRF" in response.data
        refused += 1
    assert refused > 10


def test_security_headers_and_cookie_flags(app):
    client = app.test_client()
    page = client.get("/login")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    response = client.post(
        "/login", data={"username": "operator", "password": "demo", "csrf_token": csrf_token(client)}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_redirect_stays_on_this_site(app):
    client = app.test_client()
    token = csrf_token(client)
    outside = client.post(
        "/login?next=//evil.example/", data={"username": "operator", "password": "demo", "csrf_token": token}
    )
    assert outside.headers["Location"] == "/tasks/"
