"""Topic "field_send_invoice": the invoice e-mailed to the client with its PDF, threaded into the request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import billing, crm, notify
from desk.models import Contact
from engine.handlers import HandlerInput, HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import REQUEST_ID, job_key, transaction

TOPIC = "field_send_invoice"
META = TopicMeta(
    name=Text("Отправить счёт клиенту", "E-mail the invoice"),
    description=Text(
        "Отправляет клиенту счёт с PDF письмом в переписке обращения.",
        "E-mails the invoice with its PDF to the client, threaded into the request.",
    ),
    inputs=(
        REQUEST_ID,
        HandlerInput(
            "invoice_number",
            Text("Номер счёта", "Invoice number"),
            required=True,
            default="${invoice_number}",
        ),
        HandlerInput("contact_id", Text("Контакт (id)", "Contact (id)"), "integer"),
    ),
    outputs=(HandlerOutput("invoice_sent_to", Text("Адрес получателя", "Sent to")),),
)


class NoClientAddressError(billing.BillingError):
    """Neither the request nor the contact has an e-mail address to send the invoice to."""


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        request = crm.get_request(session, variables["request_id"])
        invoice = billing.get_invoice(session, str(variables["invoice_number"]))
        contact = session.get(Contact, int(variables["contact_id"])) if variables.get("contact_id") else None
        address = request.requester_email or (contact.email if contact else None)
        if not address:
            raise NoClientAddressError(
                f"{request.number}: no e-mail address for invoice {invoice.number}; "
                "add one to the contact and retry the incident"
            )
        notify.enqueue(
            session,
            now=context.now,
            recipient=address,
            channel="email",
            template="invoice_sent",
            payload={
                **crm.request_payload(request),
                "invoice_number": invoice.number,
                "invoice_total": billing.money(invoice.total),
                "attachments": [{"kind": "invoice_pdf", "invoice": invoice.number}],
            },
            idempotency_key=job_key(context),
            request_id=request.id,
        )
        return {"invoice_sent_to": address}
