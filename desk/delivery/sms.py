"""SMS out: a generic HTTP gateway driven by a URL template, and a log-only gateway for development.

Russian SMS providers (and most others) take a GET like
`https://gw.example/send?to={phone}&text={text}`; the template names the placeholders and the
adapter fills them URL-encoded. `{key}` is the notification's idempotency key, for gateways
that accept a client message id and drop repeats.
"""

from __future__ import annotations

import http.client
import logging
import string
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Protocol

from desk.delivery import (
    DeliveryConfigError,
    PermanentDeliveryError,
    TransientDeliveryError,
    UncertainDeliveryError,
)

__all__ = ["HttpSmsGateway", "LogSmsGateway", "SmsGateway", "gateway_from_url"]

log = logging.getLogger(__name__)
PLACEHOLDERS = {"phone", "text", "key"}


class SmsGateway(Protocol):
    def send(self, phone: str, text: str, key: str) -> str:
        """Send one SMS; returns the gateway's answer as evidence, raises a DeliveryError otherwise."""
        ...


@dataclass(frozen=True)
class HttpSmsGateway:
    """An HTTP(S) gateway: GET the template with {phone}, {text} (and optionally {key}) filled in."""

    url_template: str
    timeout: float = 15.0

    def __post_init__(self) -> None:
        scheme = urllib.parse.urlsplit(self.url_template).scheme
        if scheme not in ("http", "https"):
            raise DeliveryConfigError("SMS_GATEWAY_URL", f"must be an http(s) URL, not {self.url_template!r}")
        try:
            names = {
                name for _, name, _, _ in string.Formatter().parse(self.url_template) if name is not None
            }
        except ValueError as err:
            raise DeliveryConfigError("SMS_GATEWAY_URL", f"broken placeholder ({err})") from err
        if unknown := names - PLACEHOLDERS:
            raise DeliveryConfigError(
                "SMS_GATEWAY_URL",
                f"unknown placeholder(s) {sorted(unknown)}; use {{phone}}, {{text}}, {{key}}",
            )
        if missing := {"phone", "text"} - names:
            raise DeliveryConfigError("SMS_GATEWAY_URL", f"needs the placeholder(s) {sorted(missing)}")

    def send(self, phone: str, text: str, key: str) -> str:
        quote = urllib.parse.quote
        url = self.url_template.format(
            phone=quote(phone, safe=""), text=quote(text, safe=""), key=quote(key, safe="")
        )
        host = urllib.parse.urlsplit(url).netloc
        try:
            response = urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=self.timeout)
        except urllib.error.HTTPError as err:
            detail = err.read(300).decode("utf-8", "replace").strip()
            reason = f"SMS gateway {host} answered {err.code}: {detail or err.reason}"
            if err.code == 429 or err.code >= 500 or err.code == 408:
                raise TransientDeliveryError(reason) from err
            raise PermanentDeliveryError(reason) from err
        except urllib.error.URLError as err:
            # Raised while connecting or sending the request: the gateway has not acted on it.
            raise TransientDeliveryError(f"cannot reach SMS gateway {host}: {err.reason}") from err
        except (OSError, http.client.HTTPException) as err:
            # The request went out and the answer never came: the SMS may be on its way.
            raise UncertainDeliveryError(
                f"SMS gateway {host} took the request but gave no answer ({type(err).__name__}: {err})"
            ) from err
        with response:
            try:
                body = response.read(300).decode("utf-8", "replace").strip()
            except (OSError, http.client.HTTPException):
                body = "(answer body unreadable)"  # the 2xx status already says it was accepted
            return f"HTTP {response.status}: {body}"


class LogSmsGateway:
    """Development gateway: writes the SMS to the log instead of sending it."""

    def send(self, phone: str, text: str, key: str) -> str:
        log.info("SMS to %s (%s): %s", phone, key, text)
        return "logged (SMS_GATEWAY_URL is not set)"


def gateway_from_url(url: str | None, timeout: float = 15.0) -> SmsGateway:
    """The HTTP gateway for a configured URL template, else the log gateway."""
    return HttpSmsGateway(url, timeout) if url else LogSmsGateway()
