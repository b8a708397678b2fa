"""E-mail out over SMTP (smtplib), with the outcome classified for the outbox.

The SMTP dialogue is driven phase by phase rather than with `sendmail`, because where a
failure happens decides what it means: before DATA nothing was delivered (retry), a reply
code after DATA is the server's verdict (retry on 4xx, dead on 5xx), but a connection lost
while the server holds the message leaves it unknown whether it was accepted (unconfirmed).
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr

from desk.delivery import (
    DeliveryConfigError,
    PermanentDeliveryError,
    TransientDeliveryError,
    UncertainDeliveryError,
)

__all__ = ["SmtpSettings", "send"]


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to submit mail; `mail_from` is the From and envelope sender."""

    host: str
    mail_from: str
    port: int = 25
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    use_ssl: bool = False
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.starttls and self.use_ssl:
            raise DeliveryConfigError(
                "SMTP_STARTTLS/SMTP_SSL", "set one of them: SSL from the start (465) or STARTTLS (587)"
            )
        if not 0 < self.port < 65536:
            raise DeliveryConfigError("SMTP_PORT", f"{self.port} is not a TCP port")
        if "@" not in parseaddr(self.mail_from)[1]:
            raise DeliveryConfigError("MAIL_FROM", f"{self.mail_from!r} is not an e-mail address")
        if self.user and self.password is None:
            raise DeliveryConfigError("SMTP_PASSWORD", "SMTP_USER is set but the password is not")

    @property
    def sender(self) -> str:
        return parseaddr(self.mail_from)[1]

    @property
    def domain(self) -> str:
        return self.sender.rsplit("@", 1)[1]


def send(settings: SmtpSettings, message: EmailMessage) -> str:
    """Submit `message` to its To/Cc recipients; returns the server's acceptance as evidence."""
    recipients = [addr for _name, addr in getaddresses(message.get_all("To", []) + message.get_all("Cc", []))]
    if not recipients:
        raise PermanentDeliveryError("the message has no recipient address")
    raw = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    try:
        smtp = _connect(settings)
    except (OSError, smtplib.SMTPException) as err:
        raise TransientDeliveryError(
            f"cannot connect to SMTP {settings.host}:{settings.port}: {_describe(err)}"
        ) from err
    try:
        _envelope(smtp, settings, recipients)
        try:
            code, reply = smtp.data(raw)
        except smtplib.SMTPDataError as err:
            raise _refused("message", err.smtp_code, err.smtp_error) from err
        except (OSError, smtplib.SMTPServerDisconnected) as err:
            raise UncertainDeliveryError(
                f"connection to {settings.host} lost after the message was sent ({_describe(err)}); "
                "it may have been accepted"
            ) from err
        if code != 250:  # smtplib returns the verdict on the message itself instead of raising
            raise _refused("message", code, reply)
        return f"{code} {reply.decode('utf-8', 'replace')}"
    except (OSError, smtplib.SMTPServerDisconnected) as err:
        raise TransientDeliveryError(
            f"SMTP {settings.host} dropped the connection: {_describe(err)}"
        ) from err
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    if settings.use_ssl:
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=ssl.create_default_context()
        )
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        smtp.ehlo()
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.user:
            smtp.login(settings.user, settings.password or "")
    except smtplib.SMTPAuthenticationError as err:
        smtp.close()
        raise smtplib.SMTPException(
            f"login as {settings.user!r} refused ({err.smtp_code}); check SMTP_USER/SMTP_PASSWORD"
        ) from err
    except BaseException:
        smtp.close()
        raise
    return smtp


def _envelope(smtp: smtplib.SMTP, settings: SmtpSettings, recipients: list[str]) -> None:
    """MAIL FROM and RCPT TO; a refusal here means the message was not delivered to anyone."""
    code, reply = smtp.mail(settings.sender)
    if code != 250:
        raise _refused(f"sender {settings.sender}", code, reply)
    refused: list[tuple[str, int, bytes]] = []
    for rcpt in recipients:
        code, reply = smtp.rcpt(rcpt)
        if code not in (250, 251):
            refused.append((rcpt, code, reply))
    if len(refused) == len(recipients):
        rcpt, code, reply = max(refused, key=lambda r: r[1])
        raise _refused(f"recipient {rcpt}", code, reply)


def _refused(what: str, code: int, reply: bytes | str) -> TransientDeliveryError | PermanentDeliveryError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    reason = f"SMTP server refused the {what}: {code} {text}"
    return PermanentDeliveryError(reason) if 500 <= code < 600 else TransientDeliveryError(reason)


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
