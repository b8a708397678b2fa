"""The public request form at /request/new: anyone may write in, without an account.

What protects it: Flask-WTF's CSRF token, a honeypot field that people never see and
bots fill in (they get the thank-you page and nothing is stored), and a per-address
submission rate shared by every web node (desk.public_form). A valid submission
matches or creates the contact, opens the request (web.intake.open_request starts its
process), stores the attachments and queues a confirmation e-mail to the requester.
"""

from __future__ import annotations

import logging

from email_validator import EmailNotValidError, validate_email
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from wtforms import MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.validators import StopValidation, ValidationError

from desk import crm, notify
from desk import public_form as rules
from desk.billing import FieldServiceRule
from desk.models import Request
from desk.phones import InvalidPhoneError, normalize_phone
from web.i18n import language, translate
from web.intake import PROCESS_KEY, open_request

log = logging.getLogger(__name__)

bp = Blueprint("public_form", __name__, url_prefix="/request")
THANKS_KEY = "public_request_number"


class _Required:
    """Like DataRequired, with the message in the visitor's language."""

    def __call__(self, form: FlaskForm, field) -> None:
        if not (field.data or "").strip():
            raise StopValidation(translate("Please fill in this field."))


class _MaxLength:
    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __call__(self, form: FlaskForm, field) -> None:
        if len(field.data or "") > self.limit:
            raise ValidationError(
                translate("Too long: at most %(limit)s characters.") % {"limit": self.limit}
            )


class RequestForm(FlaskForm):
    """The visitor's request; `website` is the honeypot, hidden from people by CSS."""

    name = StringField(validators=[_Required(), _MaxLength(255)])
    email = StringField(validators=[_Required(), _MaxLength(255)])
    phone = StringField(validators=[_Required(), _MaxLength(40)])
    request_type = SelectField(validators=[_Required()])
    description = TextAreaField(validators=[_Required(), _MaxLength(20000)])
    attachments = MultipleFileField()
    website = StringField()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.request_type.choices = [(t.key, translate(t.label)) for t in rules.REQUEST_TYPES] + [
            (rule.request_type, rule.title_en if language() == "en" else rule.title_ru)
            for rule in _field_service_rules()
        ]
        self.phone_e164: str | None = None

    def validate_email(self, field) -> None:
        try:
            field.data = validate_email(field.data.strip(), check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            raise ValidationError(translate("Enter a valid e-mail address, e.g. name@example.com.")) from None

    def validate_phone(self, field) -> None:
        try:
            self.phone_e164 = normalize_phone(field.data, current_app.config["PHONE_REGION"])
        except InvalidPhoneError:
            raise ValidationError(
                translate("Enter the full phone number with its area code, e.g. +7 916 123-45-67.")
            ) from None


@bp.get("/new")
def new() -> ResponseReturnValue:
    return render_template("request_new.html", form=RequestForm(), **_limits())


@bp.post("/new")
def submit() -> ResponseReturnValue:
    form = RequestForm()
    files = [f for f in (form.attachments.data or []) if isinstance(f, FileStorage) and f.filename]
    if form.website.data:
        log.info("public form: honeypot filled from %s; nothing stored", request.remote_addr)
        if not _within_rate():
            return _too_many(form)
        session.pop(THANKS_KEY, None)
        return redirect(url_for(".thanks"), 303)
    if not form.validate():
        return render_template("request_new.html", form=form, **_limits()), 422
    try:
        uploads = _read(files)
    except rules.AttachmentError as err:
        form.attachments.errors = [_attachment_message(err)]
        return render_template("request_new.html", form=form, **_limits()), 413
    if not _within_rate():
        return _too_many(form)
    number = _store(form, uploads)
    session[THANKS_KEY] = number
    return redirect(url_for(".thanks"), 303)


@bp.get("/thanks")
def thanks() -> ResponseReturnValue:
    return render_template("request_thanks.html", number=session.get(THANKS_KEY))


def _limits() -> dict[str, int]:
    return {
        "max_file_kb": current_app.config["PUBLIC_FORM_MAX_FILE_KB"],
        "max_files": current_app.config["PUBLIC_FORM_MAX_FILES"],
    }


def _read(files: list[FileStorage]) -> list[tuple[str, str, bytes]]:
    """Read each upload up to one byte past the limit: enough to refuse it without holding it all.

    The number of files is checked before anything is read.
    """
    limits = {
        "max_bytes": current_app.config["PUBLIC_FORM_MAX_FILE_KB"] * 1024,
        "max_files": current_app.config["PUBLIC_FORM_MAX_FILES"],
    }
    rules.check_attachments([(f.filename or "", 0) for f in files], **limits)
    uploads = [
        (
            rules.attachment_name(f.filename),
            f.mimetype or "application/octet-stream",
            f.stream.read(limits["max_bytes"] + 1),
        )
        for f in files
    ]
    rules.check_attachments([(name, len(data)) for name, _, data in uploads], **limits)
    return uploads


def _attachment_message(err: rules.AttachmentError) -> str:
    if err.problem == "too many files":
        return translate("Attach at most %(limit)s files.") % {"limit": err.limit}
    return translate("File %(name)s is larger than %(limit)s KB; attach a smaller one.") % {
        "name": err.filename,
        "limit": err.limit // 1024,
    }


def _within_rate() -> bool:
    """Count this submission against the client address; Redis when the app has it, else the table."""
    rate = rules.parse_rate(current_app.config["PUBLIC_FORM_RATE"])
    key = request.remote_addr or "unknown"
    now = current_app.extensions["runtime"].now()
    redis = current_app.extensions.get("redis")
    if redis is not None:
        return rules.hit_redis(redis, key=key, rate=rate, now=now)
    with current_app.extensions["sessions"]() as db, db.begin():
        return rules.hit_table(db, key=key, rate=rate, now=now)


def _too_many(form: RequestForm) -> ResponseReturnValue:
    log.info("public form: rate limit reached for %s", request.remote_addr)
    message = translate(
        "Too many requests from your address; please try again later or write to us by e-mail."
    )
    return render_template("request_new.html", form=form, error=message, **_limits()), 429


def _store(form: RequestForm, uploads: list[tuple[str, str, bytes]]) -> str:
    """Contact, then the request and its process (open_request), then attachments and the confirmation."""
    sessions = current_app.extensions["sessions"]
    now = current_app.extensions["runtime"].now()
    field_rule = next((r for r in _field_service_rules() if r.request_type == form.request_type.data), None)
    if field_rule is not None:  # paid field work (connection, cable…) runs field_service.bpmn
        kind, process_key = (
            rules.RequestType(field_rule.request_type, field_rule.title_en, "normal"),
            "field_service",
        )
    else:
        kind, process_key = rules.request_type(form.request_type.data), PROCESS_KEY
    name, email, description = form.name.data.strip(), form.email.data, form.description.data.strip()
    with sessions() as db, db.begin():
        contact = rules.match_contact(db, now=now, name=name, email=email, phone_e164=form.phone_e164)
        contact_id = contact.id
    opened = open_request(
        channel="web",
        subject=rules.summary_subject(description),
        body=f"{description}\n\n— {name}, {email}, {form.phone_e164}",
        contact_id=contact_id,
        requester_email=email,
        priority=kind.priority,
        variables={"request_type": kind.key, "client_phone": form.phone_e164, "client_name": name},
        process_key=process_key,
    )
    with sessions() as db, db.begin():
        for filename, content_type, data in uploads:
            db.add(
                rules.RequestAttachment(
                    request_id=opened.id,
                    filename=filename,
                    content_type=content_type[:255],
                    size=len(data),
                    content=data,
                    uploaded_at=now,
                )
            )
        stored = db.get(Request, opened.id)
        notify.enqueue(
            db,
            now=now,
            recipient=email,
            channel="email",
            template="web_request_received",
            payload={**crm.request_payload(stored), "name": name},
            idempotency_key=f"public_form:{stored.id}:received",
            language=language(),
            request_id=stored.id,
        )
    log.info(
        "public form: %s opened for contact %s with %s attachment(s)", opened.number, contact_id, len(uploads)
    )
    return opened.number


def _field_service_rules() -> list[FieldServiceRule]:
    """The admin-editable field-service request types (desk.billing), offered beside the general ones."""
    with current_app.extensions["sessions"]() as db:
        return list(db.scalars(select(FieldServiceRule).order_by(FieldServiceRule.request_type)))
