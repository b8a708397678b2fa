"""Delivery adapters: the channels that carry a notification out (SMTP e-mail, an HTTP SMS gateway).

Each adapter takes its settings as values (web/config.py reads the environment) and reports
the outcome as one of three errors, because the outbox treats them differently:

- `TransientDeliveryError`: nothing was delivered and trying later may work (retry with backoff);
- `PermanentDeliveryError`: the other side refused this message for good (dead letter);
- `UncertainDeliveryError`: the connection broke after the message was handed over, so it
  may have arrived (unconfirmed: a person decides; never resent blindly).
"""

from __future__ import annotations

from desk.errors import DeskError

__all__ = [
    "DeliveryConfigError",
    "DeliveryError",
    "PermanentDeliveryError",
    "TransientDeliveryError",
    "UncertainDeliveryError",
]


class DeliveryError(DeskError):
    """Base of every delivery failure; `reason` is what the admin page shows."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class TransientDeliveryError(DeliveryError):
    """Nothing was delivered and a later attempt may succeed (connection refused, 4xx, 5xx from a gateway)."""


class PermanentDeliveryError(DeliveryError):
    """The recipient's side refused the message for good (unknown mailbox, invalid number, bad address)."""


class UncertainDeliveryError(DeliveryError):
    """The message was handed over but no answer came back, so it may have been delivered."""


class DeliveryConfigError(DeskError, ValueError):
    """A channel's settings cannot work (a gateway URL without {phone}, SSL and STARTTLS both on)."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting, self.problem = setting, problem
        super().__init__(f"{setting}: {problem}. Fix it in the environment or .env and restart.")
