"""Topic "field_convert": the request becomes a contact (matched, never duplicated) and a deal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import billing, crm
from engine.handlers import HandlerInput, HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import REQUEST_ID, SPECIALIST, transaction

TOPIC = "field_convert"
META = TopicMeta(
    name=Text("Создать контакт и сделку", "Convert to contact and deal"),
    description=Text(
        "Обращение становится контактом (найденным, без дублей) и сделкой с товарами и услугами.",
        "The request becomes a contact (matched, never duplicated) and a deal with its line items.",
    ),
    inputs=(
        REQUEST_ID,
        SPECIALIST,
        HandlerInput(
            "administrator",
            Text("Администратор (логин)", "Administrator (login)"),
            required=True,
            default="${administrator}",
        ),
        HandlerInput(
            "products",
            Text("Товары и услуги", "Line items"),
            "text",
            description=Text(
                "Строки «код × количество»; без сопоставления — переменная products.",
                "Lines of code × quantity; unmapped: the variable products.",
            ),
        ),
        HandlerInput("contact_id", Text("Контакт (id)", "Contact (id)"), "integer"),
        HandlerInput("client_phone", Text("Телефон клиента", "Client phone")),
        HandlerInput("client_name", Text("Имя клиента", "Client name")),
    ),
    outputs=(
        HandlerOutput("contact_id", Text("Контакт (id)", "Contact (id)"), "integer"),
        HandlerOutput("deal_id", Text("Сделка (id)", "Deal (id)"), "integer"),
        HandlerOutput("contact_matched", Text("Контакт найден", "Contact matched"), "boolean"),
        HandlerOutput("deal_amount", Text("Сумма сделки", "Deal amount"), "number"),
    ),
)


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        request = crm.get_request(session, variables["request_id"])
        items = billing.line_items(session, billing.parse_lines(str(variables.get("products") or "")))
        contact_id = variables.get("contact_id") or request.contact_id
        converted = billing.convert_request(
            session,
            request,
            now=context.now,
            specialist=variables["specialist"],
            administrator=variables["administrator"],
            items=items,
            contact_id=int(contact_id) if contact_id else None,
            name=str(variables.get("client_name") or ""),
            email=request.requester_email,
            phone=variables.get("client_phone"),
        )
        return {
            "contact_id": converted.contact.id,
            "deal_id": converted.deal.id,
            "contact_matched": converted.contact_matched,
            "deal_amount": str(billing.totals(items).total),
        }
