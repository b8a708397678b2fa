"""Intake: a new request is stored, then its `service_request` process starts (every channel uses this)."""

from __future__ import annotations

from datetime import datetime

from flask import current_app

from desk import crm
from desk.models import Contact, Request
from engine.runtime import Engine

PROCESS_KEY = "service_request"


def open_request(
    *,
    channel: str,
    subject: str,
    body: str = "",
    contact_id: int | None = None,
    requester_email: str | None = None,
    priority: str = "normal",
    created_at: datetime | None = None,
    user: str | None = None,
) -> Request:
    """Store the request (committed first, so the process's handlers can read it), then start its process."""
    runtime: Engine = current_app.extensions["runtime"]
    sessions = current_app.extensions["sessions"]
    now = runtime.now()
    with sessions() as session, session.begin():
        contact = session.get(Contact, contact_id) if contact_id else None
        request = crm.create_request(
            session,
            now=now,
            channel=channel,
            subject=subject,
            body=body,
            contact=contact,
            requester_email=requester_email,
            priority=priority,
            created_at=created_at,
        )
        request_id, number = request.id, request.number
    started = runtime.start(
        PROCESS_KEY,
        business_key=number,
        variables={
            "request_id": request_id,
            "request_number": number,
            "subject": subject,
            "body": body,
            "requester_email": requester_email or (contact.email if contact else None),
            "channel": channel,
            "priority": priority,
        },
        user=user,
    )
    with sessions() as session, session.begin():
        request = session.get(Request, request_id)
        request.instance_id = started.id
    return request
