"""PBX webhooks under /api/telephony: whom to ring for an incoming call, and what happened to it.

A PBX (Asterisk's dialplan CURL, FreePBX, a cloud PBX webhook) authenticates with a
bearer API token (`flask --app web create-token USER --name "PBX webhook"`). The rules
live in desk.telephony and desk.calls; this module turns JSON into their inputs and
their results and errors into JSON (the contract is in README, "Telephony API").
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from desk import calls
from desk.models import User
from engine.errors import EngineError
from service.permissions import may
from web.api_auth import bearer_principal, checks_permission
from web.input_limits import DEFAULT_MAX_CALL_BYTES, InputError, check_value, parse_json_body
from web.intake import start_request_process
from web.security import csrf

log = logging.getLogger(__name__)

bp = Blueprint("telephony", __name__, url_prefix="/api/telephony")
csrf.exempt(bp)  # the PBX authenticates every request with its token; there is no session cookie


def _error(status: int, message: str, **extra: Any) -> Response:
    response = jsonify({"message": message, **extra})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="telephony"'
    return response


@bp.errorhandler(calls.CallPayloadError)
def _payload_error(err: calls.CallPayloadError) -> ResponseReturnValue:
    return _error(400, str(err), field=err.field)


@bp.before_request
def _authenticate() -> ResponseReturnValue | None:
    principal = bearer_principal()
    if principal is None:
        return _error(
            401,
            "Send 'Authorization: Bearer <token>' with a valid API token; create one with "
            '`flask --app web create-token USER --name "PBX webhook" --scope telephony`.',
        )
    if not may(principal, "webhook", "telephony"):
        return _error(
            403, "The API token lacks the scope telephony; issue one with it on the admin tokens page."
        )
    g.api_user = principal.username
    return None


def _body() -> Any:
    """The JSON body (or a form-encoded one, which some cloud PBX webhooks send)."""
    limit = int(current_app.config.get("MAX_CALL_BYTES", DEFAULT_MAX_CALL_BYTES))
    try:
        if request.mimetype == "application/x-www-form-urlencoded":
            form = request.form.to_dict()
            check_value(form, "(body)")
            return form
        return parse_json_body(request.get_data(cache=False), limit)
    except InputError as err:  # strict JSON as under /engine-rest: NaN, depth, surrogates, 64 bits, size
        raise calls.CallPayloadError(err.field, str(err).removeprefix(f"{err.field}: ")) from None


@bp.post("/route")
@checks_permission("webhook", "telephony")
def route() -> ResponseReturnValue:
    asked = calls.parse_route(_body())
    config = current_app.config
    with current_app.extensions["sessions"]() as session, session.begin():
        row = calls.route_incoming(
            session,
            asked.call,
            call_id=asked.call_id,
            queue_group=config["TELEPHONY_QUEUE_GROUP"],
            now=_now(),
            region=config["PHONE_REGION"],
        )
        staff = {
            u.username: u for u in session.scalars(select(User).where(User.username.in_(row.ring or [])))
        }
        body = {
            "call_id": row.call_id,
            "reason": row.route_reason,
            "caller_e164": row.caller_e164,
            "queue": row.queue,
            "ring": [_person(username, staff.get(username)) for username in row.ring or []],
        }
    log.info(
        "call %s routed (%s): %s", body["call_id"], body["reason"], ", ".join(row.ring or []) or "nobody"
    )
    return jsonify(body)


@bp.post("/event")
@checks_permission("webhook", "telephony")
def event() -> ResponseReturnValue:
    reported = calls.parse_event(_body())
    config = current_app.config
    with current_app.extensions["sessions"]() as session, session.begin():
        outcome = calls.record_event(
            session,
            reported,
            queue_group=config["TELEPHONY_QUEUE_GROUP"],
            now=_now(),
            region=config["PHONE_REGION"],
        )
        created = outcome.request if not outcome.duplicate else None
        body = {
            "call_id": outcome.call.call_id,
            "event": reported.event,
            "duplicate": outcome.duplicate,
            "status": outcome.call.status,
            "request": outcome.request.number if outcome.request else None,
            "callback_task_id": outcome.callback_task.id if outcome.callback_task else None,
        }
        caller = outcome.call.caller_e164  # None for a hidden or invalid number
    if created is not None:
        try:
            # The caller's number reaches the process, so a new client's card starts with it.
            start_request_process(created, variables={"client_phone": caller})
        except EngineError:
            # The request, callback task and notifications are stored; an admin can start it by hand.
            log.exception(
                "call %s: request %s stored, its process did not start", body["call_id"], created.number
            )
    log.info("call %s: %s%s", body["call_id"], reported.event, " (duplicate)" if body["duplicate"] else "")
    return jsonify(body), 201 if created is not None else 200


def _person(username: str, user: User | None) -> dict[str, Any]:
    return {
        "username": username,
        "name": user.full_name if user else username,
        "extension": user.extension if user else None,
        "phone": user.phone if user else None,
    }


def _now():
    return current_app.extensions["runtime"].now()
