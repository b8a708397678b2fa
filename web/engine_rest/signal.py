"""Camunda's signal and execution resources: broadcast a signal, or move one waiting execution on.

A signal is a message to everyone: it is authorized as a correlation of a message of its
name (so a person's act stays out of reach), and an execution's trigger (a receive task
without a message) as a correlation of any process message.
"""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from web.engine_rest.auth import caller, permit, requires
from web.engine_rest.blueprint import bp
from web.engine_rest.errors import bad_request
from web.engine_rest.params import engine_runtime, json_body
from web.engine_rest.variables import decode_variables


@bp.post("/signal")
@requires("correlate", "message", per_item=True)
def throw_signal() -> ResponseReturnValue:
    """Every execution waiting for the signal receives it; processes with its signal start event start."""
    body = json_body()
    name = body.get("name")
    if not name or not isinstance(name, str):
        raise bad_request("name is required.")
    if body.get("executionId"):
        raise bad_request("executionId is not supported; a signal is delivered to every subscriber.")
    permit("correlate", "message", name)
    variables = decode_variables(body.get("variables"), "variables")
    engine_runtime().send_signal(name, variables, user=caller().username)
    return "", 204


@bp.post("/execution/<execution_id>/signal")
@requires("correlate", "message")
def signal_execution(execution_id: str) -> ResponseReturnValue:
    """A waiting receive task (no message) moves on, with the variables sent."""
    variables = decode_variables(json_body().get("variables"), "variables")
    engine_runtime().signal_execution(execution_id, variables, user=caller().username)
    return "", 204
