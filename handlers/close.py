"""Topic "close": finish the request; done requests get processing time in working hours and a bucket."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import crm
from engine.handlers import JobContext
from handlers._common import transaction

TOPIC = "close"
META = {
    "name": {"ru": "Закрыть обращение", "en": "Close request"},
    "inputs": ["request_id", "outcome"],
    "outputs": ["processing_minutes", "processing_bucket"],
}


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        request = crm.get_request(session, variables["request_id"])
        crm.close_request(session, request, variables.get("outcome", "done"), now=context.now)
        return {
            "processing_minutes": request.processing_minutes,
            "processing_bucket": request.processing_bucket,
        }
