"""Topic "classify": set a request's category from its subject and body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import classify as classifier
from desk import crm
from desk.dictionary import current_dictionary
from engine.handlers import HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import REQUEST_ID, transaction

TOPIC = "classify"
META = TopicMeta(
    name=Text("Классификация", "Classify"),
    description=Text(
        "Определяет категорию обращения по словарю ключевых слов; без категории обращение уходит на разбор.",
        "Sets the request's category from a weighted keyword dictionary; no category sends it to triage.",
    ),
    inputs=(REQUEST_ID,),
    outputs=(
        HandlerOutput(
            "category",
            Text("Категория", "Category"),
            description=Text("Пусто, если не определена", "Null when unknown"),
        ),
        HandlerOutput("classify_score", Text("Уверенность", "Score"), type="number"),
    ),
)


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        request = crm.get_request(session, variables["request_id"])
        verdict = classifier.classify(request.subject, request.body, current_dictionary(session))
        crm.set_category(session, request, verdict.category, verdict.score)
        if verdict.category is None:
            crm.change_status(session, request, "triage", now=context.now)
    return {"category": verdict.category, "classify_score": verdict.score}
