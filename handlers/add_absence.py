"""Topic "add_absence": a process puts a staff member's leave, sick leave or business trip in the schedule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from desk import absence, crm
from desk.calendar import get_calendar
from engine.handlers import HandlerInput, HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import transaction

TOPIC = "add_absence"
META = TopicMeta(
    name=Text("Добавить отсутствие", "Add absence"),
    description=Text(
        "Вносит отпуск, больничный или командировку сотрудника в график отсутствий; "
        "пока он отсутствует, ему не назначают задачи и не звонят.",
        "Adds a staff member's leave, sick leave or business trip to the absence schedule; "
        "while away they are not offered tasks, rung or escalated to.",
    ),
    inputs=(
        HandlerInput("user", Text("Сотрудник (логин)", "Staff member (login)"), required=True),
        HandlerInput(
            "kind",
            Text("Вид", "Kind"),
            required=True,
            allowed=absence.KINDS,
            default="leave",
            description=Text(
                "leave — отпуск, sick — больничный, business_trip — командировка.",
                "leave, sick or business_trip.",
            ),
        ),
        HandlerInput(
            "date_from",
            Text("С", "From"),
            required=True,
            description=Text(
                "Дата (целый день по календарю support) или дата и время с часовым поясом.",
                "A date (the whole day on the support calendar) or a date and time with its zone.",
            ),
        ),
        HandlerInput(
            "date_to",
            Text("По", "To"),
            required=True,
            description=Text(
                "Дата включительно или дата и время окончания.", "Last day (included) or end time."
            ),
        ),
        HandlerInput("substitute", Text("Замещающий (логин)", "Substitute (login)")),
        HandlerInput("note", Text("Комментарий", "Note"), "text"),
    ),
    outputs=(HandlerOutput("absence_id", Text("Отсутствие (id)", "Absence (id)"), type="integer"),),
)


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        done = session.scalars(
            select(absence.Absence.id).where(absence.Absence.created_by == f"process:{context.job_id}")
        ).first()
        if done is not None:  # a re-run job finds the absence it recorded
            return {"absence_id": done}
        cal = get_calendar("support", crm.calendars(session))
        row = absence.add_absence(
            session,
            username=str(variables["user"]).strip(),
            kind=str(variables.get("kind") or "leave"),
            starts_at=absence.parse_bound(str(variables["date_from"]), cal, end=False),
            ends_at=absence.parse_bound(str(variables["date_to"]), cal, end=True),
            substitute=str(variables.get("substitute") or "") or None,
            note=str(variables.get("note") or ""),
            created_by=f"process:{context.job_id}",
            now=context.now,
        )
        return {"absence_id": row.id}
