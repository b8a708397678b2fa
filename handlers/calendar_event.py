"""Topic "calendar_event": a process puts an event in a user's or a group's calendar."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from desk import calendar_events, crm
from desk.calendar import get_calendar
from desk.calendar_events import CalendarEventError
from engine.handlers import HandlerInput, HandlerOutput, JobContext, Text, TopicMeta
from handlers._common import transaction

TOPIC = "calendar_event"
DEFAULT_LENGTH = timedelta(hours=1)
META = TopicMeta(
    name=Text("Событие в календарь", "Calendar event"),
    description=Text(
        "Добавляет событие в календарь сотрудника или группы (страница календаря и подписка .ics).",
        "Adds an event to a user's or a group's calendar (the calendar page and the .ics feed).",
    ),
    inputs=(
        HandlerInput(
            "user",
            Text("Сотрудник (логин)", "User (login)"),
            description=Text("Укажите сотрудника или группу.", "Give a user or a group."),
        ),
        HandlerInput("group", Text("Группа", "Group")),
        HandlerInput("title", Text("Название", "Title"), required=True),
        HandlerInput(
            "starts",
            Text("Начало", "Starts"),
            "datetime",
            required=True,
            description=Text(
                "ISO 8601; без часового пояса — по часовому поясу календаря support.",
                "ISO 8601; without a zone, the support calendar's time zone.",
            ),
        ),
        HandlerInput(
            "ends",
            Text("Окончание", "Ends"),
            "datetime",
            description=Text("По умолчанию через час после начала.", "Defaults to an hour after the start."),
        ),
        HandlerInput("description", Text("Описание", "Description"), "text"),
        HandlerInput(
            "request_id",
            Text("Обращение (id)", "Request (id)"),
            "integer",
            description=Text(
                "Без сопоставления — переменная request_id, если есть: событие ссылается на обращение.",
                "Unmapped: the variable request_id, when set; the event links to the request.",
            ),
        ),
    ),
    outputs=(HandlerOutput("calendar_event_id", Text("Событие (id)", "Event (id)"), type="integer"),),
)


def _moment(value: Any, zone: ZoneInfo, name: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError as err:
            raise CalendarEventError(
                f"{name} {value!r} is not an ISO 8601 date and time (2026-12-14T10:00)."
            ) from err
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def handle(variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
    with transaction(context) as session:
        zone = ZoneInfo(get_calendar("support", crm.calendars(session)).tz)
        starts = _moment(variables["starts"], zone, "starts")
        ends = _moment(variables["ends"], zone, "ends") if variables.get("ends") else starts + DEFAULT_LENGTH
        request = crm.get_request(session, variables["request_id"]) if variables.get("request_id") else None
        description = str(variables.get("description") or "")
        if request is not None:
            description = "\n".join(p for p in (description, f"{request.number}: {request.subject}") if p)
        event = calendar_events.add_event(
            session,
            uid=f"job-{context.job_id}-{context.instance_id}@service-desk",
            now=context.now,
            title=str(variables.get("title") or ""),
            starts_at=starts,
            ends_at=ends,
            username=str(variables.get("user") or "").strip() or None,
            group_name=str(variables.get("group") or "").strip() or None,
            description=description,
            request_id=request.id if request else None,
            created_by=f"process:{context.instance_id}",
        )
        return {"calendar_event_id": event.id}
