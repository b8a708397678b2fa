"""Topic "notify": outbox rows for the roles a diagram names, in the same transaction as the job."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk import crm, notify
from desk.absence import group_reach
from desk.preferences import reach
from engine.handlers import HandlerInput, HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import job_key, transaction

TOPIC = "notify"
META = TopicMeta(
    name=Text("Уведомить", "Notify"),
    description=Text(
        "Ставит уведомления по шаблону в очередь: сотрудникам в приложении, заявителю по e-mail.",
        "Queues notifications from a template: in-app for staff, e-mail for the requester.",
    ),
    inputs=(
        HandlerInput(
            "template",
            Text("Шаблон", "Template"),
            required=True,
            allowed=lambda: sorted(notify.TEMPLATES),
        ),
        HandlerInput(
            "to",
            Text("Кому", "Recipients"),
            required=True,
            description=Text(
                "Через запятую: requester, executor, managers, dispatchers, operators, переменная с логином.",
                "Comma-separated: requester, executor, managers, dispatchers, operators or a login variable.",
            ),
        ),
        HandlerInput(
            "request_id",
            Text("Обращение (id)", "Request (id)"),
            type="integer",
            description=Text(
                "Без сопоставления — переменная процесса request_id, если есть.",
                "Unmapped: the process variable request_id, when set.",
            ),
        ),
    ),
    outputs=(HandlerOutput("notified", Text("Получателей", "Recipients notified"), type="integer"),),
)
GROUP_ROLES = {"managers": "managers", "dispatchers": "dispatchers", "operators": "operators"}


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    roles = str(variables.get("to", "")).split(",")
    with transaction(context) as session:
        request = crm.get_request(session, variables["request_id"]) if variables.get("request_id") else None
        groups = {
            role: [u.username for u in group_reach(session, group, now=context.now)]
            for role, group in GROUP_ROLES.items()
            if role in roles
        }
        recipients = notify.resolve_recipients(
            roles,
            requester_email=request.requester_email if request else None,
            assignee=request.assignee if request else None,
            group_members=groups,
            named=variables,
        )
        assignee = request.assignee if request else None
        # One statement for every recipient's language and channels and the assignee's name.
        staff = reach(
            session, [recipient for recipient, _ in recipients] + [assignee or ""], variables["template"]
        )
        names = {username: who.full_name for username, who in staff.items()}
        payload = {
            **{k: v for k, v in variables.items() if isinstance(v, str | int | float | bool)},
            **(crm.request_payload(request, names) if request else {}),
        }
        notify.enqueue_all(
            session,
            now=context.now,
            template=variables["template"],
            payload=payload,
            to=[
                (recipient, channel, job_key(context, recipient, channel))
                for recipient, channel in recipients
            ],
            staff=staff,
            request_id=request.id if request else None,
            delivered_to={recipient for recipient, _ in recipients},  # in-app: being in the inbox
        )
    return {"notified": len(recipients)}
