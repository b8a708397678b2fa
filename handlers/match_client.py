"""Topic "match_client": is the sender a known client? Their contact, matched by e-mail or E.164 phone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import crm
from desk.models import Contact
from desk.phones import try_normalize_phone
from engine.handlers import HandlerInput, HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import REQUEST_ID, transaction

TOPIC = "match_client"
META = TopicMeta(
    name=Text("Найти клиента", "Match client"),
    description=Text(
        "Ищет контакт отправителя по e-mail и телефону (E.164); новый клиент идёт к менеджеру за карточкой.",
        "Finds the sender's contact by e-mail and phone (E.164); a new client goes to a manager for a card.",
    ),
    inputs=(
        REQUEST_ID,
        HandlerInput(
            "client_phone",
            Text("Телефон клиента", "Client phone"),
            description=Text(
                "Любая запись номера; без сопоставления — переменная client_phone (звонок, форма).",
                "Any spelling of the number; unmapped: the variable client_phone (calls, forms).",
            ),
        ),
    ),
    outputs=(
        HandlerOutput("client_known", Text("Клиент известен", "Client known"), type="boolean"),
        HandlerOutput("contact_id", Text("Контакт (id)", "Contact (id)"), type="integer"),
        HandlerOutput(
            "client_email",
            Text("E-mail клиента", "Client e-mail"),
            description=Text(
                "Адрес отправителя заявки, иначе e-mail найденного контакта; пусто, если нет обоих.",
                "The sender address, else the matched contact's e-mail; empty when neither is known.",
            ),
        ),
        HandlerOutput(
            "client_phone",
            Text("Телефон клиента", "Client phone"),
            description=Text(
                "В формате E.164, если номер верный; иначе как передан; пусто без номера.",
                "In E.164 when the number is valid, else as given; empty without a number.",
            ),
        ),
    ),
)


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        request = crm.get_request(session, variables["request_id"])
        phone = str(variables.get("client_phone") or "").strip() or None
        phone_e164 = try_normalize_phone(phone) if phone else None
        contact = session.get(Contact, request.contact_id) if request.contact_id else None
        if contact is None:
            contact = crm.find_contact(session, email=request.requester_email, phone_e164=phone_e164)
        if contact is not None:
            request.contact_id = contact.id
        return {
            "client_known": contact is not None,
            "contact_id": contact.id if contact else None,
            "client_email": request.requester_email or (contact.email if contact else None),
            "client_phone": phone_e164 or phone,
        }
