"""The permission matrix, checked from the app's routes: every endpoint × every demo role × anonymous.

Every route either declares the permission it needs (`permission_required`, engine-rest's
`requires`, `token_required`, `checks_permission` for per-item checks) or is named below as
public or login-only; a new route without a decision fails here. For routes that decide at
the door, each demo user's answer is compared with `service.permissions.may`.
"""

from __future__ import annotations

import base64

import pytest
from werkzeug.routing import IntegerConverter

from service.permissions import DEFAULT, RESOURCES, Principal, may
from tests.conftest import make_app, seed_desk
from tests.web_helpers import csrf_token, staff_client
from web.demo import DEMO_PASSWORD, DEMO_USERS

PUBLIC = {
    "auth.login",
    "static",
    "health.health",
    "public_form.new",
    "public_form.submit",
    "public_form.thanks",
    "calendar.feed",  # a calendar application's GET; the secret token in the address authorizes it
}
# Signed-in staff only, with nothing more to decide: their own inbox, settings, logout, the start page.
LOGIN_ONLY = {
    "index",
    "auth.logout",
    "notifications.inbox",
    "notifications.mark_read",
    "notifications.settings",
    "notifications.save_settings",
    "profile.show",  # one's own time zone
    "profile.save",
}
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = seed_desk(make_app(f"sqlite:///{tmp_path_factory.mktemp('matrix')}/desk.db"))
    yield app
    app.extensions["db_engine"].dispose()


def decision(app, endpoint: str) -> tuple[str, str, bool] | None:
    """The (resource, permission, per_item) a route declares, on the view or its blueprint's guard."""
    declared = getattr(app.view_functions[endpoint], "permission", None)
    if declared is not None:
        return declared
    blueprint = endpoint.rpartition(".")[0]
    for guard in app.before_request_funcs.get(blueprint, ()):
        if getattr(guard, "permission", None) is not None:
            return guard.permission
    return None


def basic(username: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{DEMO_PASSWORD}".encode()).decode()}


def url(app, rule) -> str:
    samples = {"step": "start"}
    values = {
        a: 1 if isinstance(rule._converters[a], IntegerConverter) else samples.get(a, "x")
        for a in rule.arguments
    }
    return app.url_map.bind("localhost").build(rule.endpoint, values)


def test_every_route_has_a_decision_from_the_matrix(app):
    undecided = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC | LOGIN_ONLY:
            continue
        declared = decision(app, rule.endpoint)
        if declared is None:
            undecided.append(f"{rule.rule} ({rule.endpoint})")
            continue
        resource, permission, _ = declared
        assert permission in RESOURCES.get(resource, ()), f"{rule.endpoint} names {resource}.{permission}"
    assert not undecided, f"routes without a permission decision: {undecided}"


def test_the_matrix_lists_every_permission_and_admin_holds_all(app):
    rows = DEFAULT.rows()
    listed = {(r["resource"], r["permission"]) for r in rows}
    assert listed == {(res, p) for res, perms in RESOURCES.items() for p in perms}
    assert all("role:admin" in r["grantedTo"] for r in rows)


def test_each_role_and_anonymous_get_what_the_matrix_says_at_every_door(app):
    clients = {name: staff_client(app, name) for name in DEMO_USERS}
    anonymous = app.test_client()
    checked = 0
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in PUBLIC:
            continue
        declared = decision(app, rule.endpoint)
        rest = rule.rule.startswith("/engine-rest")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            path = url(app, rule)
            where = f"{method} {rule.rule}"
            form = {"csrf_token": csrf_token(anonymous)} if method in MUTATING and not rest else None
            response = anonymous.open(path, method=method, data=form)
            response.close()
            assert response.status_code in (302, 401, 403), (
                f"{where} answered {response.status_code} to nobody"
            )
            if declared is None or declared[2] or method in MUTATING and not rest:
                continue  # per-item decisions are pinned by the reproductions
            resource, permission, _ = declared
            for name, (_, roles, groups) in DEMO_USERS.items():
                allowed = may(Principal.of(name, roles, groups), permission, resource)
                if rest:
                    response = anonymous.open(path, method=method, headers=basic(name), json={})
                else:
                    response = clients[name].open(path, method=method)
                response.get_data()
                response.close()
                refused = response.status_code == 403
                assert refused != allowed, (
                    f"{where}: {name} got {response.status_code}, matrix says {allowed}"
                )
                checked += 1
    assert checked > 200


def test_the_cli_and_the_admin_page_print_the_same_matrix(app):
    import json

    printed = app.test_cli_runner().invoke(args=["permissions", "--json"])
    assert printed.exit_code == 0, printed.output
    data = json.loads(printed.output)
    assert data["permissions"] == DEFAULT.rows() and "engine:worker" in data["scopes"]
    page = staff_client(app, "admin").get("/admin/permissions").get_data(as_text=True)
    assert "invoice.paid" in page and "external_task" in page
    assert staff_client(app, "manager").get("/admin/permissions").status_code == 403
