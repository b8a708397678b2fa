"""The topic registry: the engine finds service-task handlers here and never imports the domain.

A handler takes the task's input variables (and optionally a `JobContext` with the job id,
usable as an idempotency key) and returns the variables to set. It is a module-level
function so an RQ worker can import it by path.

Each topic also declares `TopicMeta`: its names in Russian and English, what it does, the
inputs it reads and the outputs it sets. That one declaration is what the element templates
for Camunda Modeler, the deploy-time lint of service tasks and the analyst guide's topic
table are generated from, so a new topic needs nothing beyond its module.
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.errors import EngineError

Handler = Callable[..., Mapping[str, Any] | None]

#: Value types an input or output may declare (shown to analysts; "text" is multi-line).
VALUE_TYPES = (
    "string",
    "text",
    "integer",
    "number",
    "boolean",
    "date",
    "datetime",
    "duration",
    "list",
    "map",
)
LANGUAGES = ("ru", "en")


class BpmnError(EngineError):
    """Raised by a handler for a business error that an error boundary event may catch."""

    def __init__(self, code: str, message: str = "", variables: Mapping[str, Any] | None = None) -> None:
        self.code, self.error_message = code, message
        self.variables = dict(variables or {})
        super().__init__(f"BPMN error {code!r}: {message}" if message else f"BPMN error {code!r}")


class HandlerMetadataError(EngineError, ValueError):
    """A handler's TopicMeta is incomplete or inconsistent; raised when the topic is registered."""

    def __init__(self, topic: str, problem: str) -> None:
        self.topic, self.problem = topic, problem
        super().__init__(
            f"Handler metadata of topic {topic!r}: {problem}. "
            f"Fix META in the topic's module (handlers/{topic}.py)."
        )


@dataclass(frozen=True)
class Text:
    """A phrase in Russian (the product's first language) and English."""

    ru: str
    en: str

    def get(self, language: str) -> str:
        return self.en if language == "en" else self.ru

    @classmethod
    def of(cls, value: Text | Mapping[str, str] | str | None) -> Text:
        if isinstance(value, Text):
            return value
        if isinstance(value, Mapping):
            return cls(str(value.get("ru", "")), str(value.get("en", "")))
        text = value or ""
        return cls(text, text)


@dataclass(frozen=True)
class HandlerInput:
    """One variable a handler reads.

    `default` is what the handler uses when the service task does not map the input:
    `${request_id}` means "the process variable request_id" (handlers see every process
    variable), a plain value is the handler's own fallback. A required input without a
    default must be mapped on the task, or the deploy is refused.
    """

    name: str
    label: Text
    type: str = "string"
    required: bool = False
    allowed: tuple[str, ...] | Callable[[], Iterable[str]] = ()
    default: str | None = None
    description: Text = Text("", "")

    def allowed_values(self) -> tuple[str, ...]:
        """The values the handler accepts; a callable is asked each time, for lists other modules extend."""
        values = self.allowed() if callable(self.allowed) else self.allowed
        return tuple(str(v) for v in values)


@dataclass(frozen=True)
class HandlerOutput:
    """One variable a handler sets when it completes."""

    name: str
    label: Text
    type: str = "string"
    description: Text = Text("", "")


@dataclass(frozen=True)
class TopicMeta:
    """What analysts and tools know about a topic without running it."""

    name: Text
    description: Text
    inputs: tuple[HandlerInput, ...] = ()
    outputs: tuple[HandlerOutput, ...] = ()

    def input(self, name: str) -> HandlerInput | None:
        return next((i for i in self.inputs if i.name == name), None)

    @property
    def input_names(self) -> frozenset[str]:
        return frozenset(i.name for i in self.inputs)

    @property
    def output_names(self) -> frozenset[str]:
        return frozenset(o.name for o in self.outputs)


def _variable(item: Any, cls: type, topic: str) -> Any:
    if isinstance(item, cls):
        return item
    if isinstance(item, str):
        return cls(name=item, label=Text(item, item))
    if isinstance(item, Mapping):
        data = dict(item)
        data["label"] = Text.of(data.get("label") or data.get("name"))
        data["description"] = Text.of(data.get("description"))
        if "allowed" in data and not callable(data["allowed"]):
            data["allowed"] = tuple(str(v) for v in data["allowed"])
        try:
            return cls(**data)
        except TypeError as err:
            raise HandlerMetadataError(topic, f"{item!r} is not a valid {cls.__name__}: {err}") from None
    raise HandlerMetadataError(topic, f"{item!r} is not a {cls.__name__}, a mapping or a name")


def topic_meta(topic: str, meta: TopicMeta | Mapping[str, Any]) -> TopicMeta:
    """Accept TopicMeta or its plain-dict spelling, and check it; raise HandlerMetadataError."""
    if isinstance(meta, Mapping):
        unknown = set(meta) - {"name", "description", "inputs", "outputs"}
        if unknown:
            raise HandlerMetadataError(topic, f"unknown keys {sorted(unknown)}")
        meta = TopicMeta(
            name=Text.of(meta.get("name")),
            description=Text.of(meta.get("description")),
            inputs=tuple(_variable(i, HandlerInput, topic) for i in meta.get("inputs", ())),
            outputs=tuple(_variable(o, HandlerOutput, topic) for o in meta.get("outputs", ())),
        )
    elif not isinstance(meta, TopicMeta):
        raise HandlerMetadataError(topic, f"META is a {type(meta).__name__}, not TopicMeta or a dict")
    _check(topic, meta)
    return meta


def _check(topic: str, meta: TopicMeta) -> None:
    for what, text in (("name", meta.name), ("description", meta.description)):
        for language in LANGUAGES:
            if not text.get(language).strip():
                raise HandlerMetadataError(topic, f"the {what} has no {language!r} text")
    for kind, items in (("input", meta.inputs), ("output", meta.outputs)):
        seen: set[str] = set()
        for item in items:
            if not item.name.isidentifier() or keyword.iskeyword(item.name) or item.name.startswith("_"):
                raise HandlerMetadataError(topic, f"{kind} name {item.name!r} is not a variable name")
            if item.name in seen:
                raise HandlerMetadataError(topic, f"{kind} {item.name!r} is declared twice")
            seen.add(item.name)
            if item.type not in VALUE_TYPES:
                raise HandlerMetadataError(
                    topic, f"{kind} {item.name!r} has type {item.type!r}; use one of {', '.join(VALUE_TYPES)}"
                )
            for language in LANGUAGES:
                if not item.label.get(language).strip():
                    raise HandlerMetadataError(topic, f"{kind} {item.name!r} has no {language!r} label")
    for item in meta.inputs:
        allowed = item.allowed_values()
        if item.default is not None and allowed and "${" not in item.default and item.default not in allowed:
            raise HandlerMetadataError(
                topic, f"input {item.name!r} defaults to {item.default!r}, which is not among {allowed}"
            )


class JobContext:
    """What a handler may want besides variables: a stable idempotency key and where it runs.

    Read-only once made. `job_id` may be given as a function that writes the job's row and
    returns its id (in-process, inside the step): most handlers never ask for it, and those
    that don't cost no statement for it.
    """

    __slots__ = (
        "_job_id",
        "instance_id",
        "business_key",
        "element_id",
        "topic",
        "attempt",
        "now",
        "resources",
        "session",
    )

    def __init__(
        self,
        job_id: int | Callable[[], int],
        instance_id: str,
        business_key: str | None,
        element_id: str,
        topic: str,
        attempt: int,
        now: datetime,
        resources: Any = None,
        session: Any = None,
    ) -> None:
        values = {
            "_job_id": job_id,
            "instance_id": instance_id,
            "business_key": business_key,
            "element_id": element_id,
            "topic": topic,
            "attempt": attempt,
            "now": now,
            # What the app hands its handlers (database sessions, settings); opaque here.
            "resources": resources,
            # The step's own database session when the handler runs inside the instance's
            # transaction (in-process topics, engine.runtime); None when it runs on its own (an RQ
            # job's handler before the step existed, a test calling it directly). Handlers reach
            # it through handlers._common.transaction, never directly.
            "session": session,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"JobContext is read-only ({name})")

    @property
    def job_id(self) -> int:
        """The job's id: the same on every attempt of the job, so keys made from it are idempotent."""
        if not isinstance(self._job_id, int):
            object.__setattr__(self, "_job_id", self._job_id())
        return self._job_id


@dataclass
class HandlerInfo:
    """A registered handler and the metadata analysts and tools read (names, inputs, outputs)."""

    topic: str
    fn: Handler
    wants_context: bool
    meta: TopicMeta | None = field(default=None)

    def __call__(self, variables: Mapping[str, Any], context: JobContext) -> dict[str, Any]:
        result = self.fn(variables, context) if self.wants_context else self.fn(variables)
        return dict(result or {})


class HandlerRegistry:
    """Topic name -> handler (and its metadata). One registry per app, passed to the engine."""

    def __init__(self) -> None:
        self._handlers: dict[str, HandlerInfo] = {}

    def register(self, topic: str, fn: Handler, meta: TopicMeta | Mapping[str, Any] | None = None) -> Handler:
        """Serve `topic` with `fn`; `meta` (TopicMeta or a dict) is checked now, not when a tool reads it."""
        if not topic or not topic.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise ValueError(f"handler topic {topic!r} must be letters, digits, '_', '-' or '.'")
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        checked = topic_meta(topic, meta) if meta is not None else None
        self._handlers[topic] = HandlerInfo(topic, fn, len(params) >= 2, checked)
        return fn

    def get(self, topic: str | None) -> HandlerInfo | None:
        return self._handlers.get(topic) if topic else None

    def __contains__(self, topic: object) -> bool:
        return topic in self._handlers

    def __iter__(self) -> Iterator[HandlerInfo]:
        return iter(sorted(self._handlers.values(), key=lambda h: h.topic))

    def topics(self) -> list[str]:
        return sorted(self._handlers)

    def catalog(self) -> dict[str, TopicMeta | None]:
        """Topic -> metadata (None when a topic was registered without any), for deploy-time lint."""
        return {h.topic: h.meta for h in self}


def topic_catalog(
    known: HandlerRegistry | Mapping[str, TopicMeta | None] | Iterable[str],
) -> dict[str, TopicMeta | None]:
    """Normalise what deploy is told about topics: a registry, a catalog, or bare names (no metadata)."""
    if isinstance(known, HandlerRegistry):
        return known.catalog()
    if isinstance(known, Mapping):
        return dict(known)
    return {name: None for name in known}


default_registry = HandlerRegistry()


def register(topic: str, fn: Handler | None = None, meta: TopicMeta | Mapping[str, Any] | None = None):
    """Register on the default registry; usable as `register("x", fn)` or as a decorator."""
    if fn is not None:
        return default_registry.register(topic, fn, meta)
    return lambda f: default_registry.register(topic, f, meta)
