"""The outbox's channel settings, validated once when the app starts.

A broken SMTP or SMS setting must stop the app naming the variable (web/config.py reads
the environment), not fail the first notification hours later; the Outbox and the
admin page then read these values only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from desk.delivery import DeliveryConfigError
from desk.delivery import smtp as smtp_channel
from desk.delivery.sms import SmsGateway, gateway_from_url

__all__ = ["OutboxSettings"]


@dataclass(frozen=True)
class OutboxSettings:
    """The channels and limits, built from the app config (web/config.py reads the environment)."""

    smtp: smtp_channel.SmtpSettings | None
    email_off_reason: str | None
    sms: SmsGateway
    sms_description: str
    fallback_minutes: float = 10.0
    max_attempts: int = 8
    lease: timedelta = timedelta(minutes=5)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OutboxSettings:
        """Validate once at start-up, so a broken setting stops the app with its name, not a send."""
        smtp, off = None, None
        if not config.get("SMTP_HOST"):
            off = "SMTP_HOST is not set"
        elif not config.get("MAIL_FROM"):
            raise DeliveryConfigError("MAIL_FROM", "SMTP_HOST is set, so the From address is needed")
        else:
            smtp = smtp_channel.SmtpSettings(
                host=config["SMTP_HOST"],
                port=int(config.get("SMTP_PORT") or 25),
                user=config.get("SMTP_USER"),
                password=config.get("SMTP_PASSWORD"),
                starttls=bool(config.get("SMTP_STARTTLS")),
                use_ssl=bool(config.get("SMTP_SSL")),
                timeout=float(config.get("SMTP_TIMEOUT") or 30),
                mail_from=config["MAIL_FROM"],
            )
        url = config.get("SMS_GATEWAY_URL")
        minutes = float(config.get("NOTIFY_FALLBACK_MINUTES") or 10)
        if minutes <= 0:
            raise DeliveryConfigError("NOTIFY_FALLBACK_MINUTES", f"must be positive, got {minutes}")
        return cls(
            smtp=smtp,
            email_off_reason=off,
            sms=gateway_from_url(url, float(config.get("SMS_GATEWAY_TIMEOUT") or 15)),
            sms_description=f"HTTP gateway {url.split('?', 1)[0]}"
            if url
            else "log only (SMS_GATEWAY_URL unset)",
            fallback_minutes=minutes,
            max_attempts=int(config.get("OUTBOX_MAX_ATTEMPTS") or 8),
            lease=timedelta(seconds=float(config.get("OUTBOX_LEASE_SECONDS") or 300)),
        )
