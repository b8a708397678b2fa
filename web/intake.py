"""Intake: a new request is stored, then its `service_request` process starts (every channel uses this)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

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
    process_key: str = PROCESS_KEY,
    variables: Mapping[str, Any] | None = None,
) -> Request:
    """Store the request (committed first, so the process's handlers can read it), then start its process.

    `process_key` picks another process (field_service for paid field work); `variables`
    are extra start variables (request_type, client_phone, …) beside the request's own.
    """
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
    return start_request_process(request, process_key=process_key, variables=variables, user=user)


def start_request_process(
    request: Request,
    *,
    process_key: str = PROCESS_KEY,
    variables: Mapping[str, Any] | None = None,
    user: str | None = None,
) -> Request:
    """Start the process of a request already committed, and record its instance on the request.

    Separate from `open_request` for channels that store more beside the request in the same
    transaction (a missed call's callback task) and start the process after that commit.
    """
    runtime: Engine = current_app.extensions["runtime"]
    linked: list[Request] = []

    def link(session: Session, instance_id: str) -> None:
        # In the start's own transaction: the request names its instance exactly when it exists,
        # and as the first step's handlers left it (status, category, SLA).
        stored = session.get(Request, request.id)
        stored.instance_id = instance_id
        linked.append(stored)

    runtime.start(
        process_key,
        business_key=request.number,
        variables={
            "request_id": request.id,
            "request_number": request.number,
            "subject": request.subject,
            "body": request.body,
            "requester_email": request.requester_email,
            "channel": request.channel,
            "priority": request.priority,
            **(variables or {}),
        },
        user=user,
        started=link,
    )
    return linked[0]
