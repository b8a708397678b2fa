"""What an external-task worker's completion may set: the outputs of its topic, never what the process owns.

Camunda's complete sets any variable it is sent; here, as for user tasks, a completion is not a
back door into the process's state. A topic with declared outputs (the handler registry's metadata,
which the element templates show) sets only those. Any other topic (a worker the desk does not know)
may set new variables of its own but never a process-owned one: the request's start variables and the
outputs other topics declare (routing results, the approvers list, the request's status...). A worker's
localVariables stay on the task's scope, where only the diagram's output mapping reads them, so
they are not checked here; its `variables` reach the process, as in Camunda 7, with or without an
output mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from service.errors import UndeclaredOutputsError

# Set when a request's process starts (web.intake.start_request_process): the request it serves.
REQUEST_VARIABLES = frozenset(
    {"request_id", "request_number", "subject", "body", "requester_email", "channel", "priority"}
)


def declared_outputs(handlers: Iterable) -> dict[str, frozenset[str] | None]:
    """Each topic of the handler registry with its declared output names (None: no metadata)."""
    return {info.topic: (info.meta.output_names if info.meta is not None else None) for info in handlers}


def process_owned(declared: Mapping[str, frozenset[str] | None], except_topic: str | None = None) -> set[str]:
    """Variables only the process sets: its request's start variables and what the steps declare."""
    others = set().union(*(outs for t, outs in declared.items() if t != except_topic and outs))
    return set(REQUEST_VARIABLES) | others


def check_worker_outputs(
    topic: str,
    names: Iterable[str],
    declared: Mapping[str, frozenset[str] | None],
) -> None:
    """Refuse (UndeclaredOutputsError) variables `topic`'s worker may not set.

    `declared` maps each known topic to its declared output names (None: no metadata).
    """
    names = set(names)
    if not names:
        return
    own = declared.get(topic)
    if own is not None:
        extra = names - own
        if extra:
            allowed = ", ".join(sorted(own)) or "none"
            raise UndeclaredOutputsError(topic, extra, f"its declared outputs are {allowed}")
        return
    owned = names & process_owned(declared, except_topic=topic)
    if owned:
        raise UndeclaredOutputsError(topic, owned, "they belong to the process (its request or another step)")
