"""Topic "classify": set a request's category from its subject and body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import classify as classifier
from desk import crm
from desk.dictionary import load_dictionary
from engine.handlers import JobContext
from handlers._common import transaction

TOPIC = "classify"
META = {
    "name": {"ru": "Классификация", "en": "Classify"},
    "inputs": ["request_id"],
    "outputs": ["category", "classify_score"],
}


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        request = crm.get_request(session, variables["request_id"])
        verdict = classifier.classify(request.subject, request.body, load_dictionary(session))
        crm.set_category(session, request, verdict.category, verdict.score)
        if verdict.category is None:
            crm.change_status(session, request, "triage", now=context.now)
    return {"category": verdict.category, "classify_score": verdict.score}
