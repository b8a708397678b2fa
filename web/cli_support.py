"""What the flask CLI commands share: the --var reader (Camunda's typed values), output as
text or --json, the acting user, and the engine of the app.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click
from flask import current_app
from sqlalchemy import select

from desk.models import User
from engine import typed_values
from service.permissions import Principal
from web import db
from web.auth import user_principal


def _runtime():
    return current_app.extensions["runtime"]


def _emit(data: Any, as_json: bool, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, default=_json_default, indent=None))
    else:
        for line in lines:
            click.echo(line)


def _json_default(value: Any) -> Any:
    """Moments as ISO 8601 (2026-12-07T11:02:30+00:00), anything else as its text."""
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _parse_vars(pairs: tuple[str, ...]) -> dict[str, Any]:
    """--var pairs as the variables a REST client would send.

    `name=value`: a value that reads as JSON keeps JSON's type, as an untyped value in a
    REST body does (1000 is an Integer, true a Boolean, {"a": 1} a Json object); anything
    else is a String. `name:Type=value` gives Camunda's type explicitly (Long, Date, Json,
    Double, Short, Object, …), decoded exactly as REST's {"value", "type"}.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise click.BadParameter(f"{pair!r} is not name=value", param_hint="--var")
        name, raw = pair.split("=", 1)
        name, _, type_name = name.strip().partition(":")
        if type_name:
            out[name] = _typed_var(name, type_name, raw)
            continue
        try:
            out[name] = json.loads(raw)
        except ValueError:
            out[name] = raw
    return out


def _typed_var(name: str, type_name: str, raw: str) -> Any:
    value: Any = raw
    if type_name.lower() in {"integer", "long", "short", "double", "boolean", "null"}:
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
    info = {"serializationDataFormat": typed_values.JSON_FORMAT} if type_name.lower() == "object" else {}
    try:
        return typed_values.decode(name, {"value": value, "type": type_name, "valueInfo": info})
    except typed_values.TypedValueError as err:
        raise click.BadParameter(str(err), param_hint="--var") from err


def _fail(err: Exception) -> None:
    raise click.ClickException(str(err))


def _principal(username: str | None) -> Principal:
    """The user a command acts as (the matrix applies to them); the server's operator otherwise.

    A name with no account at all is an identity the diagram itself names (Camunda's examples
    assign tasks to `demo`): it acts with no roles and no groups, so the matrix lets it work only
    the tasks assigned to that very name. A deactivated account is refused.
    """
    if username is None:
        return Principal.of("cli", roles=("admin",))
    with db.sessions()() as session:
        row = session.scalars(select(User).where(User.username == username)).first()
    if row is None:
        return Principal.of(username)
    if not row.active:
        raise click.ClickException(f"User {username!r} is deactivated; list users on /admin/users.")
    return user_principal(row)
