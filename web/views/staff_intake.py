"""Staff open requests: an operator takes a phone call or a walk-in and registers it on the spot.

The page finds the caller as the operator types (by phone in E.164, by e-mail or by name, a
small JSON endpoint), shows the category the classifier would choose for the text so far
(another JSON endpoint), records the channel, and starts the same `service_request` process
every other channel starts (web.intake.open_request).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import or_, select

from desk import classify, crm
from desk.dictionary import current_dictionary
from desk.models import Contact
from desk.phones import try_normalize_phone
from web.i18n import language, translate
from web.intake import open_request
from web.labels import label
from web.security import permission_required

bp = Blueprint("staff_intake", __name__, url_prefix="/intake")
CHANNELS = ("phone", "walk_in", "email")
PRIORITIES = ("high", "normal", "low")
MATCHES = 8
MAX_SUBJECT, MAX_BODY = 500, 20_000


def _sessions():
    return current_app.extensions["sessions"]


def contact_matches(session, text: str, limit: int = MATCHES) -> list[Contact]:
    """Contacts for what the operator typed: a phone (any spelling) by E.164, else e-mail or name."""
    text = text.strip()
    if len(text) < 3:
        return []
    phone = try_normalize_phone(text) if any(ch.isdigit() for ch in text) else None
    conditions: list[Any] = []
    if phone:
        conditions.append(Contact.phone_e164 == phone)
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= 4:
        conditions.append(Contact.phone_e164.like(f"%{digits[-10:]}%"))
    if "@" in text or not digits:
        conditions.append(Contact.email.ilike(f"{text}%"))
        conditions.append(Contact.name.ilike(f"%{text}%"))
    if not conditions:
        return []
    return list(session.scalars(select(Contact).where(or_(*conditions)).order_by(Contact.name).limit(limit)))


@bp.get("/contacts.json")
@permission_required("create", "request")
def contacts_json() -> ResponseReturnValue:
    with _sessions()() as session:
        found = contact_matches(session, request.args.get("q", ""))
    return jsonify(
        [{"id": c.id, "name": c.name, "email": c.email or "", "phone": c.phone_e164 or ""} for c in found]
    )


@bp.get("/classify.json")
@permission_required("create", "request")
def classify_json() -> ResponseReturnValue:
    subject, body = request.args.get("subject", "")[:MAX_SUBJECT], request.args.get("body", "")[:MAX_BODY]
    with _sessions()() as session:
        verdict = classify.classify(subject, body, current_dictionary(session))
    return jsonify(
        {
            "category": verdict.category,
            "label": label("category", verdict.category, language()),
            "score": verdict.score,
        }
    )


def _form_errors(form: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not form["subject"] and not form["body"]:
        errors["subject"] = translate("Write what the caller needs: a subject or a description.")
    if form["channel"] not in CHANNELS:
        errors["channel"] = translate("Choose how the request came in.")
    if form["priority"] not in PRIORITIES:
        errors["priority"] = translate("Choose a priority.")
    if form["phone"] and try_normalize_phone(form["phone"]) is None:
        errors["phone"] = translate("Enter the full phone number with its area code, e.g. +7 916 123-45-67.")
    if form["email"] and "@" not in form["email"]:
        errors["email"] = translate("Enter a valid e-mail address, e.g. name@example.com.")
    if len(form["subject"]) > MAX_SUBJECT or len(form["body"]) > MAX_BODY:
        errors["body"] = translate("Too long: at most %(limit)s characters.") % {"limit": MAX_BODY}
    return errors


def _page(form: dict[str, str], errors: dict[str, str]) -> str:
    return render_template(
        "intake_new.html", form=form, errors=errors, channels=CHANNELS, priorities=PRIORITIES
    )


@bp.route("/new", methods=["GET", "POST"])
@permission_required("create", "request")
def new() -> ResponseReturnValue:
    fields = ("contact_id", "name", "phone", "email", "subject", "body", "channel", "priority")
    form = {f: (request.form.get(f) or "").strip() for f in fields}
    if request.method == "GET":
        form.update(channel="phone", priority="normal")
        return render_template(
            "intake_new.html", form=form, errors={}, channels=CHANNELS, priorities=PRIORITIES
        )
    errors = _form_errors(form)
    if errors:
        return _page(form, errors), 400
    phone = try_normalize_phone(form["phone"]) if form["phone"] else None
    email = form["email"].lower() or None
    now = current_app.extensions["runtime"].now()
    with _sessions()() as session, session.begin():
        contact = session.get(Contact, int(form["contact_id"])) if form["contact_id"].isdigit() else None
        if contact is None and (phone or email):
            contact = crm.get_or_create_contact(
                session, now=now, email=email, name=form["name"], phone_e164=phone
            )
        contact_id = contact.id if contact else None
        email = email or (contact.email if contact else None)
    if contact_id is None and not email:
        abort(400, translate("Give the caller's phone or e-mail, so the desk can answer them."))
    req = open_request(
        channel=form["channel"],
        subject=form["subject"] or form["body"][:80],
        body=form["body"],
        contact_id=contact_id,
        requester_email=email,
        priority=form["priority"],
        user=current_user.username,
    )
    return redirect(url_for("requests.show", number=req.number))
