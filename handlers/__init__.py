"""Service-task handlers, one module per topic; `register_all` puts them in an engine registry."""

from __future__ import annotations

import importlib
import pkgutil

from engine.handlers import HandlerRegistry


def register_all(registry: HandlerRegistry) -> None:
    """Register every module in this package that declares TOPIC and handle()."""
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        topic = getattr(module, "TOPIC", None)
        handle = getattr(module, "handle", None)
        if topic and handle:
            registry.register(topic, handle, **getattr(module, "META", {}))
