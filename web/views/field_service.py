"""Paid field work in the UI: the specialist's task card (start/finish), conversion, deals, invoices, payment.

The buttons send the messages field_service.bpmn waits for (task.started, invoice.paid,
task.finished), correlated by the request number as business key. Payment is recorded
first and the message sent after; pressing "mark paid" again after a crash records
nothing new and only re-sends the message if the process still waits for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from sqlalchemy import select

from desk import billing, crm
from desk.invoice_pdf import InvoiceDocument, render_pdf
from desk.models import Contact, Deal, Request, Task
from engine.errors import ConcurrentUpdateError, TaskAlreadyCompleted, TaskNotFoundError
from engine.forms import FormValidationError
from engine.store import MessageSubscription, UserTask
from service.permissions import may
from web.api_auth import token_required
from web.i18n import translate
from web.input_limits import DEFAULT_MAX_CALL_BYTES, InputError, parse_json_body
from web.security import checks_permission, csrf, current_principal, permission_required

bp = Blueprint("field", __name__)
api = Blueprint("field_api", __name__, url_prefix="/api")
csrf.exempt(api)

STARTED, PAID, FINISHED = "task.started", "invoice.paid", "task.finished"


class FieldServiceConflict(Exception):
    """The process is not waiting for this step (already done, or an earlier step is missing)."""


def _sessions():
    return current_app.extensions["sessions"]


def _runtime():
    return current_app.extensions["runtime"]


def waiting_for(session, business_key: str, message: str) -> bool:
    return (
        session.scalar(
            select(MessageSubscription.id).where(
                MessageSubscription.business_key == business_key,
                MessageSubscription.message_name == message,
                MessageSubscription.status == "waiting",
            )
        )
        is not None
    )


def send_step(number: str, message: str, *, user: str, variables: dict[str, Any] | None = None) -> None:
    """Deliver one of the process's messages, or say why it cannot be delivered now."""
    with _sessions()() as session:
        if not waiting_for(session, number, message):
            raise FieldServiceConflict(_not_waiting(message))
    _runtime().correlate(message, business_key=number, variables=variables or {}, user=user)


def _not_waiting(message: str) -> str:
    return {
        STARTED: translate("The task was already started."),
        PAID: translate("The process is not waiting for this payment (already paid, or not invoiced yet)."),
        FINISHED: translate("The work cannot be finished before the invoice is paid."),
    }[message]


def mark_paid(
    number: str, *, reference: str, amount: Decimal | None, user: str
) -> tuple[billing.Invoice, bool]:
    """Record the payment (its own commit), then tell the waiting process; idempotent by reference."""
    now = _runtime().now()
    with _sessions()() as session, session.begin():
        invoice = billing.get_invoice(session, number)
        _, created = billing.record_payment(
            session, invoice, now=now, reference=reference, amount=amount, recorded_by=user
        )
        request_id = invoice.request_id
        request_number = session.get(Request, request_id).number if request_id else None
        session.expunge(invoice)
    if request_number:
        with _sessions()() as session:
            pending = waiting_for(session, request_number, PAID)
        if pending:
            _runtime().correlate(PAID, business_key=request_number, variables={"paid": True}, user=user)
    return invoice, created


# ------------------------------------------------------------------ specialist's task card


def _field_task(session, task_id: int) -> tuple[Task, Request]:
    task = session.get(Task, task_id)
    if task is None or task.request_id is None:
        abort(404)
    if not may(current_principal(), "read", "field_task", task=task):
        abort(403, translate("This task is not assigned to you."))
    return task, session.get(Request, task.request_id)


@bp.get("/field/tasks/<int:task_id>")
@checks_permission("read", "field_task")
@login_required
def task_card(task_id: int) -> ResponseReturnValue:
    with _sessions()() as session:
        task, req = _field_task(session, task_id)
        can_start = waiting_for(session, req.number, STARTED)
        can_finish = waiting_for(session, req.number, FINISHED)
        invoices = session.scalars(select(billing.Invoice).where(billing.Invoice.request_id == req.id)).all()
        return render_template(
            "field_task.html",
            task=task,
            req=req,
            can_start=can_start,
            can_finish=can_finish,
            invoices=invoices,
        )


@bp.post("/field/tasks/<int:task_id>/<any(start, finish):step>")
@checks_permission("start", "field_task")
@login_required
def task_step(task_id: int, step: str) -> ResponseReturnValue:
    with _sessions()() as session:
        task, req = _field_task(session, task_id)
        if not may(current_principal(), step, "field_task", task=task):
            abort(403, translate("Only the specialist on the task starts and finishes it."))
        number = req.number
    message = STARTED if step == "start" else FINISHED
    try:
        send_step(number, message, user=current_user.username)
    except FieldServiceConflict as err:
        flash(str(err), "error")
        return redirect(url_for("field.task_card", task_id=task_id)), 409
    now = _runtime().now()
    with _sessions()() as session, session.begin():
        task = session.get(Task, task_id)
        if step == "start" and task.status == "open":
            task.status = "in_progress"
            crm.change_status(session, crm.get_request(session, number), "in_progress", now=now)
    flash(translate("Task started.") if step == "start" else translate("Work finished."))
    return redirect(url_for("field.task_card", task_id=task_id))


# ------------------------------------------------------------------ conversion


def _convert_task(session, req: Request) -> UserTask | None:
    return session.scalars(
        select(UserTask).where(
            UserTask.business_key == req.number,
            UserTask.element_id == "Task_Convert",
            UserTask.status == "open",
        )
    ).first()


@bp.route("/requests/<number>/convert", methods=["GET", "POST"])
@permission_required("convert", "request")
def convert(number: str) -> ResponseReturnValue:
    """The administrator's conversion: match or create the contact, pick products; completes Task_Convert."""
    errors: dict[str, str] = {}
    form = {"contact_id": "", "client_phone": "", "products": "VISIT"}
    # Sessions are never nested here: on SQLite each transaction holds the write lock.
    with _sessions()() as session:
        try:
            instance_id = crm.get_request(session, number).instance_id
        except crm.RequestNotFoundError:
            abort(404)
    variables = _runtime().variables(instance_id) if instance_id else {}
    form["client_phone"] = variables.get("client_phone") or ""
    with _sessions()() as session:
        req = crm.get_request(session, number)
        task = _convert_task(session, req)
        if request.method == "POST":
            form = {k: (request.form.get(k) or "").strip() for k in form}
            items, errors = _check_conversion(session, form)
        else:
            items = []
        matches = _matches(session, req, form["client_phone"])
        products = billing.price_list(session)
        task_id = task.id if task else None
        context = {"req": req, "task": task, "matches": matches, "products": products, "form": form}
    if request.method == "POST" and not errors:
        if task_id is None:
            flash(translate("This request is not waiting for conversion."), "error")
            return render_template("field_convert.html", errors=errors, items=items, **context), 409
        values = {"products": form["products"], "client_phone": form["client_phone"]}
        if form["contact_id"]:
            values["contact_id"] = int(form["contact_id"])
        try:
            _runtime().complete(task_id, current_user.username, values)
        except FormValidationError as err:
            errors = {name: str(reason) for name, reason in err.errors.items()}
        except (TaskAlreadyCompleted, ConcurrentUpdateError, TaskNotFoundError):
            flash(translate("Someone else completed this task first; reload the list."), "error")
            return render_template("field_convert.html", errors=errors, items=items, **context), 409
        else:
            flash(translate("Converted: contact and deal created, invoice sent."))
            return redirect(url_for("requests.show", number=number))
    status = 400 if errors else 200
    return render_template("field_convert.html", errors=errors, items=items, **context), status


def _check_conversion(session, form: dict[str, str]) -> tuple[list[billing.LineItem], dict[str, str]]:
    errors: dict[str, str] = {}
    items: list[billing.LineItem] = []
    try:
        items = billing.line_items(session, billing.parse_lines(form["products"]))
    except billing.BillingError as err:
        errors["products"] = str(err)
    if form["contact_id"]:
        if not form["contact_id"].isdigit() or session.get(Contact, int(form["contact_id"])) is None:
            errors["contact_id"] = translate("No contact with this number.")
    return items, errors


def _matches(session, req: Request, phone: str) -> list[Contact]:
    """Contacts the conversion would match, so the administrator sees them before deciding."""
    from desk.phones import try_normalize_phone

    found = []
    if req.contact_id:
        found.append(session.get(Contact, req.contact_id))
    e164 = try_normalize_phone(phone) if phone else None
    for contact in (
        crm.find_contact(session, email=req.requester_email),
        crm.find_contact(session, phone_e164=e164),
    ):
        if contact is not None and contact not in found:
            found.append(contact)
    return [c for c in found if c is not None]


# ------------------------------------------------------------------ deals and invoices


@bp.get("/deals/<int:deal_id>")
@permission_required("read", "invoice")
def deal(deal_id: int) -> ResponseReturnValue:
    with _sessions()() as session:
        row = session.get(Deal, deal_id)
        if row is None:
            abort(404)
        items = billing.deal_items(session, row)
        invoices = session.scalars(select(billing.Invoice).where(billing.Invoice.deal_id == deal_id)).all()
        req = session.get(Request, row.request_id) if row.request_id else None
        return render_template(
            "deal.html",
            deal=row,
            items=items,
            sums=billing.totals(items),
            invoices=invoices,
            req=req,
            contacts=row.contacts,
        )


def _document(session, invoice: billing.Invoice, config: Mapping[str, Any]) -> InvoiceDocument:
    contact = session.get(Contact, invoice.contact_id) if invoice.contact_id else None
    req = session.get(Request, invoice.request_id) if invoice.request_id else None
    return InvoiceDocument(
        number=invoice.number,
        issued_on=invoice.issued_at.strftime("%d.%m.%Y"),
        seller=config.get("COMPANY_NAME", "Service desk"),
        seller_details=config.get("COMPANY_DETAILS", ""),
        buyer=(contact.name if contact else None) or (req.requester_email if req else "") or "",
        lines=list(invoice.lines),
        net=Decimal(invoice.net),
        vat=Decimal(invoice.vat),
        total=Decimal(invoice.total),
        request_number=req.number if req else None,
    )


def invoice_pdf_bytes(session, number: str, config: Mapping[str, Any]) -> bytes:
    """The PDF an e-mail attaches and the PDF link downloads: one renderer, the same bytes."""
    invoice = billing.get_invoice(session, number)
    return render_pdf(_document(session, invoice, config), Path(config.get("INVOICE_FONT") or ""))


def invoice_attachment(config: Mapping[str, Any]):
    """The outbox's renderer for {"kind": "invoice_pdf", "invoice": number} (web.outbox)."""

    def render(session, spec: Mapping[str, Any]) -> tuple[str, str, bytes]:
        number = str(spec["invoice"])
        return f"{number}.pdf", "application/pdf", invoice_pdf_bytes(session, number, config)

    return render


@bp.get("/invoices/<number>")
@permission_required("read", "invoice")
def invoice(number: str) -> ResponseReturnValue:
    with _sessions()() as session:
        try:
            row = billing.get_invoice(session, number)
        except billing.InvoiceNotFoundError:
            abort(404)
        payments = session.scalars(select(billing.Payment).where(billing.Payment.invoice_id == row.id)).all()
        doc = _document(session, row, current_app.config)
        return render_template("invoice.html", invoice=row, doc=doc, payments=payments)


@bp.get("/invoices/<number>.pdf")
@permission_required("read", "invoice")
def invoice_pdf(number: str) -> ResponseReturnValue:
    with _sessions()() as session:
        try:
            data = invoice_pdf_bytes(session, number, current_app.config)
        except billing.InvoiceNotFoundError:
            abort(404)
    return Response(
        data,
        mimetype="application/pdf",
        headers={"Content-Disposition": f"inline; filename*=UTF-8''{quote(number)}.pdf"},
    )


@bp.post("/invoices/<number>/paid")
@permission_required("pay", "invoice")
def invoice_paid(number: str) -> ResponseReturnValue:
    reference = (request.form.get("reference") or "").strip() or f"ui:{number}"
    try:
        mark_paid(number, reference=reference, amount=None, user=current_user.username)
    except billing.InvoiceNotFoundError:
        abort(404)
    except billing.BillingError as err:
        flash(str(err), "error")
        return redirect(url_for("field.invoice", number=number)), 400
    flash(translate("Payment recorded."))
    return redirect(url_for("field.invoice", number=number))


def _api_error(status: int, message: str, field: str) -> ResponseReturnValue:
    """The /api/* error body: `{error, message, field}` (field names the part to fix)."""
    kind = "bad_request" if status == 400 else "not_found"
    return jsonify({"error": kind, "message": message, "field": field}), status


@api.post("/invoices/<number>/paid")
@token_required("pay", "invoice")
def api_invoice_paid(number: str) -> ResponseReturnValue:
    """`{"reference": "bank-123", "amount": "2928.00"}` (both optional) -> 200 with the invoice state."""
    limit = int(current_app.config.get("MAX_CALL_BYTES", DEFAULT_MAX_CALL_BYTES))
    raw = request.get_data(cache=False)
    try:  # strict JSON as under /engine-rest: NaN, depth, surrogates, 64 bits, size
        body = parse_json_body(raw, limit) if raw.strip() else {}
    except InputError as err:
        return _api_error(400, str(err), err.field)
    if not isinstance(body, dict):
        return _api_error(400, "the body must be a JSON object", "(body)")
    try:
        amount = Decimal(str(body["amount"])) if body.get("amount") is not None else None
        if amount is not None and not amount.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        return _api_error(400, f"amount {body['amount']!r} is not a number", "amount")
    reference = str(body.get("reference") or f"api:{number}")
    from flask import g

    try:
        invoice, created = mark_paid(number, reference=reference, amount=amount, user=g.api_user)
    except billing.InvoiceNotFoundError as err:
        return _api_error(404, str(err), "number")
    except billing.BillingError as err:
        return _api_error(400, str(err), "(body)")
    return jsonify(
        {
            "invoice": invoice.number,
            "status": invoice.status,
            "total": str(invoice.total),
            "recorded": created,
        }
    )


# ------------------------------------------------------------------ admin: rules and price list


@bp.route("/admin/field-service", methods=["GET", "POST"])
@permission_required("manage", "admin")
def rules() -> ResponseReturnValue:
    """Request type -> specialist and administrator; the price list. Both savers validate before writing."""
    errors: list[str] = []
    with _sessions()() as session, session.begin():
        if request.method == "POST":
            errors = _save_rule(session) if request.form.get("kind") == "rule" else _save_product(session)
            if not errors:
                flash(translate("Saved."))
        rows = session.scalars(
            select(billing.FieldServiceRule).order_by(billing.FieldServiceRule.request_type)
        ).all()
        products = session.scalars(select(billing.Product).order_by(billing.Product.code)).all()
        page = render_template("admin_field_service.html", rules=rows, products=products, errors=errors)
    return page, 400 if errors else 200


def _save_rule(session) -> list[str]:
    form = {
        k: (request.form.get(k) or "").strip()
        for k in ("request_type", "title_ru", "title_en", "specialist", "administrator")
    }
    errors = [
        f"{translate('Required')}: {k}"
        for k in ("request_type", "specialist", "administrator")
        if not form[k]
    ]
    for role in ("specialist", "administrator"):
        if form[role] and crm.find_user(session, form[role]) is None:
            errors.append(f"{role}: {translate('No active user')} {form[role]!r}")
    if errors:
        return errors
    rule = session.scalars(
        select(billing.FieldServiceRule).where(billing.FieldServiceRule.request_type == form["request_type"])
    ).first()
    if rule is None:
        rule = billing.FieldServiceRule(request_type=form["request_type"])
        session.add(rule)
    for key, value in form.items():
        setattr(rule, key, value)
    return []


def _save_product(session) -> list[str]:
    code = (request.form.get("code") or "").strip().upper()
    name = (request.form.get("name") or "").strip()
    try:
        price = Decimal((request.form.get("price") or "").replace(",", ".").strip())
        vat = Decimal((request.form.get("vat_percent") or str(billing.DEFAULT_VAT_PERCENT)).replace(",", "."))
    except InvalidOperation:
        return [translate("Price and VAT must be numbers.")]
    if not code or not name or price < 0 or not (0 <= vat <= 100):
        return [translate("A product needs a code, a name, a price ≥ 0 and VAT between 0 and 100.")]
    product = session.scalars(select(billing.Product).where(billing.Product.code == code)).first()
    if product is None:
        product = billing.Product(code=code)
        session.add(product)
    product.name, product.price, product.vat_percent = name, price, vat
    product.unit = (request.form.get("unit") or "шт").strip()
    product.active = request.form.get("active", "on") == "on"
    return []
