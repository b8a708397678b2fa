"""POST /api/email: a mail server (or script) hands over one raw RFC 822 message; bearer-token auth.

The body is the message exactly as received (`Content-Type: message/rfc822`, any type is
accepted). The answer is the ingest result as JSON -- 201 when a request was opened, 200
when the message joined one or changed nothing, 422 when it was rejected as malformed
(and kept for inspection), 503 when it could not be stored, so the sender retries later.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from service.permissions import may
from web.api_auth import bearer_principal, checks_permission
from web.i18n import translate
from web.mail_in import mail_ingester
from web.security import csrf

log = logging.getLogger(__name__)

BEARER_HINT = "Send a bearer API token (`flask --app web create-token USER --name mail --scope mail:ingest`)."
bp = Blueprint("api_mail", __name__, url_prefix="/api")
csrf.exempt(bp)  # token-authenticated machine API; no session cookie to forge

STATUS = {"new": 201, "new_linked": 201, "rejected": 422}


@bp.errorhandler(HTTPException)
def _json_error(err: HTTPException) -> ResponseReturnValue:
    response = jsonify({"error": err.name, "message": err.description})
    response.status_code = err.code or 500
    if err.code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@bp.post("/email")
@checks_permission("ingest", "mail")
def post_email() -> ResponseReturnValue:
    """Ingest the raw message in the request body."""
    principal = bearer_principal()
    if principal is None:
        abort(
            401,
            translate(BEARER_HINT),
        )
    if not may(principal, "ingest", "mail"):
        abort(
            403,
            translate(
                "The API token lacks the scope mail:ingest; issue one with it on the admin tokens page."
            ),
        )
    g.api_user = principal.username
    limit = int(current_app.config.get("MAIL_MAX_MESSAGE_BYTES", 25 * 1024 * 1024))
    if request.content_length is not None and request.content_length > limit:
        abort(413, translate("The message is over the %d-byte limit (MAIL_MAX_MESSAGE_BYTES).") % limit)
    request.max_content_length = limit  # also bounds a chunked body, which has no Content-Length
    raw = request.get_data(cache=False)
    if not raw.strip():
        abort(400, translate("The request body is empty; send the raw RFC 822 message as the body."))
    ingester = mail_ingester()
    _, result = next(iter(ingester.ingest_all([("api", raw)], "api")))
    if not result.settled:
        response = jsonify(result.as_json())
        response.status_code = 503
        response.headers["Retry-After"] = "60"
        return response
    log.info("mail via API from %s: %s %s", g.api_user, result.action, result.request or "-")
    return jsonify(result.as_json()), STATUS.get(result.action, 200)
