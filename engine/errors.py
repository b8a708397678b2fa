"""The engine's exception tree: one base, one subclass per thing a caller can act on."""


class EngineError(Exception):
    """Base of every error the engine raises; catch it at the web/CLI edge."""
