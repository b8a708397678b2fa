"""Errors of the legacy import: one base class, a file-level and a row-level branch."""

from __future__ import annotations

from desk.errors import DeskError


class LegacyImportError(DeskError):
    """Base of every legacy-import error."""


class UnreadableFileError(LegacyImportError, ValueError):
    """The file as a whole cannot be read: unknown format, no header, no external-id column."""

    def __init__(self, path: str, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


class RowError(LegacyImportError, ValueError):
    """One staged row cannot be imported; the message names the field and what to fix."""

    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field, problem
        super().__init__(problem)


class InvalidMappingError(LegacyImportError, ValueError):
    """A mapping entry points at a value the desk does not know (a status outside the life cycle)."""
