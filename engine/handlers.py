"""The topic registry: the engine finds service-task handlers here and never imports the domain.

A handler takes the task's input variables (and optionally a `JobContext` with the job id,
usable as an idempotency key) and returns the variables to set. It is a module-level
function so an RQ worker can import it by path.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.errors import EngineError

Handler = Callable[..., Mapping[str, Any] | None]


class BpmnError(EngineError):
    """Raised by a handler for a business error that an error boundary event may catch."""

    def __init__(self, code: str, message: str = "", variables: Mapping[str, Any] | None = None) -> None:
        self.code, self.error_message = code, message
        self.variables = dict(variables or {})
        super().__init__(f"BPMN error {code!r}: {message}" if message else f"BPMN error {code!r}")


@dataclass(frozen=True)
class JobContext:
    """What a handler may want besides variables: a stable idempotency key and where it runs."""

    job_id: int
    instance_id: str
    business_key: str | None
    element_id: str
    topic: str
    attempt: int
    now: datetime
    resources: Any = None  # what the app hands its handlers (database sessions, settings); opaque here


@dataclass
class HandlerInfo:
    """A registered handler and the metadata analysts and tools read (names, inputs, outputs)."""

    topic: str
    fn: Handler
    wants_context: bool
    meta: dict[str, Any] = field(default_factory=dict)

    def __call__(self, variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
        result = self.fn(variables, context) if self.wants_context else self.fn(variables)
        return dict(result or {})


class HandlerRegistry:
    """Topic name -> handler. One registry per app, passed to the engine."""

    def __init__(self) -> None:
        self._handlers: dict[str, HandlerInfo] = {}

    def register(self, topic: str, fn: Handler, **meta: Any) -> Handler:
        if not topic or not topic.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise ValueError(f"handler topic {topic!r} must be letters, digits, '_', '-' or '.'")
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        self._handlers[topic] = HandlerInfo(topic, fn, len(params) >= 2, dict(meta))
        return fn

    def get(self, topic: str | None) -> HandlerInfo | None:
        return self._handlers.get(topic) if topic else None

    def __contains__(self, topic: object) -> bool:
        return topic in self._handlers

    def __iter__(self) -> Iterator[HandlerInfo]:
        return iter(sorted(self._handlers.values(), key=lambda h: h.topic))

    def topics(self) -> list[str]:
        return sorted(self._handlers)


default_registry = HandlerRegistry()


def register(topic: str, fn: Handler | None = None, **meta: Any):
    """Register on the default registry; usable as `register("x", fn)` or as a decorator."""
    if fn is not None:
        return default_registry.register(topic, fn, **meta)
    return lambda f: default_registry.register(topic, f, **meta)
