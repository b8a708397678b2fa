"""Topic "close": finish the request; done requests get processing time in working hours and a bucket."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import crm
from engine.handlers import HandlerInput, HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import REQUEST_ID, transaction

TOPIC = "close"
META = TopicMeta(
    name=Text("Закрыть обращение", "Close request"),
    description=Text(
        "Закрывает обращение; для решённых считает время обработки в рабочих часах и интервал.",
        "Closes the request; for a done one records processing time in working hours and its bucket.",
    ),
    inputs=(
        REQUEST_ID,
        HandlerInput(
            "outcome",
            Text("Итог", "Outcome"),
            allowed=("done", "rejected"),
            default="done",
            description=Text("done — решено, rejected — отклонено", "done or rejected"),
        ),
    ),
    outputs=(
        HandlerOutput(
            "processing_minutes", Text("Время обработки, мин", "Processing minutes"), type="integer"
        ),
        HandlerOutput("processing_bucket", Text("Интервал времени обработки", "Processing time bucket")),
    ),
)


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        request = crm.get_request(session, variables["request_id"])
        crm.close_request(session, request, variables.get("outcome", "done"), now=context.now)
        return {
            "processing_minutes": request.processing_minutes,
            "processing_bucket": request.processing_bucket,
        }
