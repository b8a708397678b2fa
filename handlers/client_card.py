"""Topic "client_card": the manager's card of a new client becomes a contact and company, never duplicated."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import crm
from desk.phones import normalize_phone
from engine.handlers import HandlerInput, HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import REQUEST_ID, transaction


def _text(label_ru: str, label_en: str, name: str, **kwargs: Any) -> HandlerInput:
    return HandlerInput(name, Text(label_ru, label_en), default=f"${{{name}}}", **kwargs)


TOPIC = "client_card"
META = TopicMeta(
    name=Text("Сохранить карточку клиента", "Save client card"),
    description=Text(
        "Находит или создаёт контакт (по e-mail и телефону) и компанию (по ИНН или названию); "
        "обращение получает контакт.",
        "Finds or creates the contact (by e-mail and phone) and company (by INN or name); "
        "the request gets the contact.",
    ),
    inputs=(
        REQUEST_ID,
        _text("Имя клиента", "Client name", "client_name", required=True),
        _text("E-mail клиента", "Client e-mail", "client_email"),
        _text("Телефон клиента", "Client phone", "client_phone"),
        _text("Компания", "Company", "company_name"),
        _text("ИНН компании", "Company INN", "company_inn"),
        _text("Потребности клиента", "Client needs", "client_needs", type="text"),
    ),
    outputs=(
        HandlerOutput("contact_id", Text("Контакт (id)", "Contact (id)"), type="integer"),
        HandlerOutput("company_id", Text("Компания (id)", "Company (id)"), type="integer"),
        HandlerOutput("client_known", Text("Клиент известен", "Client known"), type="boolean"),
    ),
)


def _value(variables: Mapping[str, Any], name: str) -> str:
    value = variables.get(name)
    return str(value).strip() if value is not None else ""


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    phone = _value(variables, "client_phone")
    phone_e164 = normalize_phone(phone) if phone else None
    with transaction(context) as session:
        request = crm.get_request(session, variables["request_id"])
        contact = crm.match_contact(
            session,
            now=context.now,
            name=_value(variables, "client_name"),
            email=_value(variables, "client_email") or request.requester_email,
            phone_e164=phone_e164,
        )
        company = crm.match_company(
            session, name=_value(variables, "company_name"), inn=_value(variables, "company_inn")
        )
        if company is not None:
            contact.company_id = company.id
        if needs := _value(variables, "client_needs"):
            contact.notes = needs
        contact.updated_at = context.now
        request.contact_id = contact.id
        return {
            "contact_id": contact.id,
            "company_id": company.id if company else None,
            "client_known": True,
        }
