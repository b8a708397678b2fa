"""web/engine_rest/openapi.json describes the live /engine-rest: the same operations, and the
responses carry the documented Camunda field names with the documented types."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from tests.web_helpers import seeded_fixture  # noqa: F401  (fixture "seeded")
from web.demo import DEMO_PASSWORD

DOC = json.loads((Path(__file__).parents[1] / "web/engine_rest/openapi.json").read_text())
TYPES = {"string": str, "integer": int, "boolean": bool, "object": dict, "array": list}


def basic(username: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{DEMO_PASSWORD}".encode()).decode()}


def resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = DOC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def conforms(value, schema: dict, where: str) -> None:
    schema = resolve(schema)
    if value is None:
        assert schema.get("nullable") or not schema.get("type"), f"{where} is null"
        return
    kind = schema.get("type")
    if kind:
        assert isinstance(value, TYPES[kind]), f"{where}: {value!r} is not {kind}"
        assert not (kind == "integer" and isinstance(value, bool)), where
    if kind == "array" and "items" in schema:
        for i, item in enumerate(value):
            conforms(item, schema["items"], f"{where}[{i}]")
    for name, prop in (schema.get("properties") or {}).items():
        if isinstance(value, dict) and name in value:
            conforms(value[name], prop, f"{where}.{name}")
    for name in schema.get("required", ()):
        assert name in value, f"{where} lacks {name}"


def test_the_document_names_exactly_the_live_operations(app):
    live = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("engine_rest."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/engine-rest"))
            live |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(p, m) for p, ops in DOC["paths"].items() for m in ops}
    assert documented == live


@pytest.mark.parametrize(
    "path",
    [
        "/version",
        "/engine",
        "/deployment",
        "/process-definition",
        "/process-definition/key/service_request",
        "/process-instance",
        "/process-instance/count",
        "/task",
        "/external-task",
        "/incident",
        "/history/process-instance",
        "/decision-definition",
        "/decision-definition/key/routing",
        "/history/decision-instance",
        "/no-such-resource",
    ],
)
def test_live_responses_match_the_document(seeded, path):
    reply = seeded.test_client().get(f"/engine-rest{path}", headers=basic("admin"))
    ops = next(
        (
            methods.get("get")
            for template, methods in DOC["paths"].items()
            if re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", template), path)
            and not (path.endswith("/count") and not template.endswith("/count"))
        ),
        None,
    )
    status = str(reply.status_code)
    if ops is None:
        conforms(reply.json, {"$ref": "#/components/schemas/ExceptionDto"}, path)
        return
    assert status in ops["responses"], f"{path} answered {status}, not in the document"
    schema = ops["responses"][status].get("content", {}).get("application/json", {}).get("schema")
    if schema is not None:
        conforms(reply.json, schema, path)
