"""Topic "field_invoice": the deal's invoice, numbered without gaps or repeats."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import billing, crm
from desk.models import Contact, Deal
from engine.handlers import HandlerInput, HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import REQUEST_ID, job_key, transaction

TOPIC = "field_invoice"
META = TopicMeta(
    name=Text("Выставить счёт", "Issue the invoice"),
    description=Text(
        "Выставляет счёт по сделке со сквозной нумерацией без пропусков и повторов.",
        "Issues the deal's invoice, numbered without gaps or repeats.",
    ),
    inputs=(
        REQUEST_ID,
        HandlerInput("deal_id", Text("Сделка (id)", "Deal (id)"), "integer", True, default="${deal_id}"),
        HandlerInput("contact_id", Text("Контакт (id)", "Contact (id)"), "integer"),
    ),
    outputs=(
        HandlerOutput("invoice_number", Text("Номер счёта", "Invoice number")),
        HandlerOutput("invoice_total", Text("Сумма счёта", "Invoice total"), "number"),
    ),
)


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        request = crm.get_request(session, variables["request_id"])
        deal = session.get(Deal, int(variables["deal_id"]))
        contact = session.get(Contact, int(variables["contact_id"])) if variables.get("contact_id") else None
        invoice = billing.issue_invoice(
            session, deal, now=context.now, request=request, contact=contact, idempotency_key=job_key(context)
        )
        return {"invoice_number": invoice.number, "invoice_total": str(invoice.total)}
