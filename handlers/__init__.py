"""Service-task handlers, one module per topic; `register_all` puts them in an engine registry.

A topic module declares TOPIC, handle() and META (engine.handlers.TopicMeta). Templates,
deploy lint and the analyst guide read META, so adding a topic needs no other edit.
"""

from __future__ import annotations

import importlib
import pkgutil

from engine.handlers import HandlerMetadataError, HandlerRegistry


def register_all(registry: HandlerRegistry) -> None:
    """Register every module in this package that declares TOPIC and handle(); each must have META."""
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        topic = getattr(module, "TOPIC", None)
        handle = getattr(module, "handle", None)
        if topic and handle:
            meta = getattr(module, "META", None)
            if meta is None:
                raise HandlerMetadataError(topic, "the module declares no META")
            registry.register(topic, handle, meta)
