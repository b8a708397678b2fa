"""Process instances from every door: start, cancel, correlate a message.

Cancelling an instance that carries a request (business key `REQ-…`) cancels the request
too, with who and why in its status history, so no request is left `new` with no process
behind it, whichever door the cancellation came through.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from desk import crm
from desk.models import Request
from engine.runtime import Engine
from engine.store import Instance, UserTask
from service.permissions import Principal, may, require

CANCELLED = "cancelled"


def cancel_instance(
    runtime: Engine, sessions: sessionmaker, principal: Principal, instance_id: str, reason: str | None
) -> None:
    """Cancel a running instance and the request it carries, recording who and why."""
    require(principal, "cancel", "process_instance")
    runtime.cancel(instance_id, user=principal.username, reason=reason)
    with sessions() as session, session.begin():
        business_key = session.scalar(select(Instance.business_key).where(Instance.id == instance_id))
        if not business_key:
            return
        request = session.scalars(select(Request).where(Request.number == business_key)).first()
        if request is None or request.status in crm.CLOSED_STATUSES:
            return
        crm.change_status(
            session, request, CANCELLED, now=runtime.now(), by=principal.username, reason=reason
        )


def correlate_message(
    runtime: Engine,
    principal: Principal,
    message_name: str,
    business_key: str | None,
    variables: Mapping[str, Any],
    *,
    all_instances: bool = False,
    instance_id: str | None = None,
    correlation_keys: Mapping[str, Any] | None = None,
) -> list[str]:
    """Correlate if the matrix lets `principal` send this message (a person's act needs its grant)."""
    require(principal, "correlate", "message", message_name)
    return runtime.correlate(
        message_name,
        business_key,
        dict(variables),
        all_instances=all_instances,
        user=principal.username,
        instance_id=instance_id,
        correlation_keys=correlation_keys,
    )


def start_allowed(principal: Principal, process_key: str) -> None:
    """Starting needs `process_definition.start` (for this key, or every key)."""
    require(principal, "start", "process_definition", process_key)


def may_read_instance(session: Session, principal: Principal | None, instance: Instance) -> bool:
    """The matrix's process_instance read (readers of all, or its starter), or a person of one of its
    tasks: the request page links the people working a request to its instance, so they keep that
    view of their own work and no more."""
    if may(principal, "read", "process_instance", task=instance):
        return True
    tasks = session.scalars(select(UserTask).where(UserTask.instance_id == instance.id)).all()
    return any(may(principal, "read", "task", task=task) for task in tasks)
