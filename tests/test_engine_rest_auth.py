"""/engine-rest's door: Basic and bearer credentials as the Modeler sends them, who may deploy,
throttled password guessing, deactivated users, and no CORS headers, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json

from sqlalchemy import select

from desk.models import User
from tests.engine_rest_helpers import (
    ACCESS_FORM,
    MODELER_FORM,
    MODELER_HEADERS,
    T0,
    basic,
    client_fixture,  # noqa: F401  (fixture "client")
    modeler_deploy,
    rest_app_fixture,  # noqa: F401  (fixture "rest_app", which "client" uses)
)
from web.auth import issue_token


def test_modeler_connection_check_and_version_need_credentials(client):
    for path in ("/engine-rest/version", "/engine-rest/deployment?maxResults=0"):
        refused = client.get(path, headers=MODELER_HEADERS)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == 'Basic realm="engine-rest"'
    assert client.get("/engine-rest/version", headers=basic("analyst", "wrong")).status_code == 401
    assert client.get("/engine-rest/version", headers={"Authorization": "Bearer nope"}).status_code == 401

    version = client.get("/engine-rest/version", headers={**MODELER_HEADERS, **basic("analyst")})
    assert version.status_code == 200 and version.mimetype == "application/json"
    assert version.json == {"version": "7.24.0"}
    check = client.get(
        "/engine-rest/deployment?maxResults=0", headers={**MODELER_HEADERS, **basic("analyst")}
    )
    assert check.status_code == 200 and check.json == []


def test_only_analysts_and_admins_may_deploy(client):
    refused = modeler_deploy(client, basic("operator"), attachments=[(MODELER_FORM, ACCESS_FORM)])
    assert refused.status_code == 403
    assert refused.json["type"] == "AuthorizationException" and refused.json["userId"] == "operator"
    assert client.get("/engine-rest/deployment", headers=basic("operator")).json == []
    assert (
        modeler_deploy(client, basic("admin"), attachments=[(MODELER_FORM, ACCESS_FORM)]).status_code == 200
    )


def test_bearer_token_from_the_admin_page_deploys_and_starts(rest_app, client):
    sessions = rest_app.extensions["sessions"]
    with sessions() as session, session.begin():
        token = issue_token(
            session, name="modeler on anna's laptop", username="analyst", now=T0, scopes=["engine:admin"]
        )
    bearer = {"Authorization": f"Bearer {token}"}
    deployed = modeler_deploy(client, bearer, attachments=[(MODELER_FORM, ACCESS_FORM)])
    assert deployed.status_code == 200
    [definition_id] = deployed.json["deployedProcessDefinitions"]
    # The Modeler's Start button: its JSON body, with variables null when the field is left empty.
    started = client.post(
        f"/engine-rest/process-definition/{definition_id}/start",
        data=json.dumps({"businessKey": "ACC-9", "variables": None}),
        headers={**MODELER_HEADERS, **bearer, "content-type": "application/json"},
    )
    assert started.status_code == 200 and started.json["businessKey"] == "ACC-9"
    assert started.json["ended"] is False


def test_password_guessing_is_throttled_but_tokens_keep_working(rest_app, client):
    with rest_app.extensions["sessions"]() as session, session.begin():
        token = issue_token(
            session, name="payment worker", username="operator", now=T0, scopes=["engine:worker"]
        )
    for _ in range(5):
        assert client.get("/engine-rest/version", headers=basic("admin", "guess")).status_code == 401
    blocked = client.get("/engine-rest/version", headers=basic("admin"))
    assert blocked.status_code == 429
    bearer = client.get("/engine-rest/version", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200


def test_a_deactivated_user_is_refused_at_once(rest_app, client):
    assert client.get("/engine-rest/version", headers=basic("operator")).status_code == 200
    with rest_app.extensions["sessions"]() as session, session.begin():
        session.scalars(select(User).where(User.username == "operator")).one().active = False
    assert client.get("/engine-rest/version", headers=basic("operator")).status_code == 401


def test_no_cors_headers_are_sent_by_default(client):
    reply = client.get(
        "/engine-rest/version", headers={**basic("analyst"), "Origin": "https://evil.example.com"}
    )
    assert reply.status_code == 200
    assert not any(h.lower().startswith("access-control-") for h in reply.headers.keys())
