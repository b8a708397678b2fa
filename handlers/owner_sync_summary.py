"""Topic "owner_sync_summary": one summary notification per employee whose contacts changed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import crm, notify
from desk.models import OwnerSyncRun
from engine.handlers import HandlerInput, HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import transaction

TOPIC = "owner_sync_summary"
META = TopicMeta(
    name=Text("Итоги синхронизации", "Owner sync summary"),
    description=Text(
        "Отправляет каждому сотруднику, у которого изменились контакты, одно итоговое уведомление.",
        "Sends one summary notification to each employee whose contacts changed.",
    ),
    inputs=(
        HandlerInput(
            "run_id", Text("Запуск (id)", "Run (id)"), type="integer", required=True, default="${run_id}"
        ),
    ),
    outputs=(
        HandlerOutput("notified", Text("Сотрудников уведомлено", "Employees notified"), type="integer"),
    ),
)


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        run = session.get(OwnerSyncRun, int(variables["run_id"]))
        for username, tally in sorted((run.tallies or {}).items()):
            user = crm.find_user(session, username)
            notify.enqueue(
                session,
                now=context.now,
                recipient=username,
                channel="in_app",
                template="owner_sync_summary",
                payload=tally,
                idempotency_key=f"owner_sync:{run.id}:{username}",
                language=user.language if user else "ru",
            )
        run.finished_at = context.now
        run.summary_sent = True
        notify.deliver_in_app(session, now=context.now)
        return {"notified": len(run.tallies or {})}
