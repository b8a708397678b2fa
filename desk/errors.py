"""One base class for every error the service-desk domain raises."""

from __future__ import annotations

from typing import Any


class DeskError(Exception):
    """Base of every service-desk domain error; catch it at the web/CLI edge.

    An error built with `say` keeps its English template and values apart, so the web edge can
    show it in the reader's language (web.i18n.error_text) while logs keep the English text.
    """

    template: str | None = None
    values: dict[str, Any]

    def say(self, template: str, **values: Any) -> None:
        """Set the message from a %(name)s template and its values."""
        self.template, self.values = template, values
        self.args = (template % values,)
