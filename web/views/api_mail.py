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

from web.api_auth import bearer_user
from web.mail_in import mail_ingester
from web.security import csrf

log = logging.getLogger(__name__)

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
def post_email() -> ResponseReturnValue:
    """Ingest the raw message in the request body."""
    g.api_user = bearer_user()
    if g.api_user is None:
        abort(401, "Send a bearer API token (`flask --app web create-token USER --name mail`).")
    limit = int(current_app.config.get("MAIL_MAX_MESSAGE_BYTES", 25 * 1024 * 1024))
    if request.content_length is not None and request.content_length > limit:
        abort(413, f"The message is over the {limit}-byte limit (MAIL_MAX_MESSAGE_BYTES).")
    request.max_content_length = limit  # also bounds a chunked body, which has no Content-Length
    raw = request.get_data(cache=False)
    if not raw.strip():
        abort(400, "The request body is empty; send the raw RFC 822 message as the body.")
    ingester = mail_ingester()
    _, result = next(iter(ingester.ingest_all([("api", raw)], "api")))
    if not result.settled:
        response = jsonify(result.as_json())
        response.status_code = 503
        response.headers["Retry-After"] = "60"
        return response
    log.info("mail via API from %s: %s %s", g.api_user, result.action, result.request or "-")
    return jsonify(result.as_json()), STATUS.get(result.action, 200)
