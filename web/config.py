"""The only module that reads the environment and `.env`; everything else receives values."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

from engine.retention import parse_history_ttl, parse_window_time


def _flag(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def load_config(instance_path: str) -> dict[str, Any]:
    """Read settings from the environment (and `.env` in the working directory)."""
    load_dotenv(override=False)
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    env = os.environ.get
    return {
        "DATABASE_URL": env("DATABASE_URL") or f"sqlite:///{Path(instance_path) / 'desk.db'}",
        "REDIS_URL": env("REDIS_URL") or None,
        "SECRET_KEY": env("SECRET_KEY") or _instance_secret(instance_path),
        "ALLOW_SCRIPT_TASKS": _flag(env("ALLOW_SCRIPT_TASKS")),
        # Multi-instance activities asking for more instances become an incident (engine.limits).
        "MAX_MI_CARDINALITY": int(env("MAX_MI_CARDINALITY") or 1000),
        # The task list counts each tab up to this many and then shows "1000+" (engine.tasklist).
        "TASK_LIST_COUNT_BOUND": int(env("TASK_LIST_COUNT_BOUND") or 1000),
        "INLINE_JOBS": _flag(env("INLINE_JOBS"), default=not env("REDIS_URL")),
        "WORKER_ID": env("WORKER_ID") or f"{os.uname().nodename}:{os.getpid()}",
        "BPMN_DIR": env("BPMN_DIR") or str(Path(__file__).resolve().parent.parent / "bpmn"),
        "DEFAULT_LANGUAGE": env("DEFAULT_LANGUAGE") or "ru",
        "SESSION_COOKIE_SECURE": _flag(env("SESSION_COOKIE_SECURE")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Notifications out (web/outbox.py): SMTP, the SMS gateway, retries and the e-mail fallback.
        "SMTP_HOST": env("SMTP_HOST") or None,
        "SMTP_PORT": int(
            env("SMTP_PORT")
            or (465 if _flag(env("SMTP_SSL")) else 587 if _flag(env("SMTP_STARTTLS")) else 25)
        ),
        "SMTP_USER": env("SMTP_USER") or None,
        "SMTP_PASSWORD": env("SMTP_PASSWORD"),
        "SMTP_STARTTLS": _flag(env("SMTP_STARTTLS")),
        "SMTP_SSL": _flag(env("SMTP_SSL")),
        "SMTP_TIMEOUT": float(env("SMTP_TIMEOUT") or 30),
        "MAIL_FROM": env("MAIL_FROM") or None,
        "SMS_GATEWAY_URL": env("SMS_GATEWAY_URL") or None,
        "SMS_GATEWAY_TIMEOUT": float(env("SMS_GATEWAY_TIMEOUT") or 15),
        "NOTIFY_FALLBACK_MINUTES": float(env("NOTIFY_FALLBACK_MINUTES") or 10),
        "OUTBOX_MAX_ATTEMPTS": int(env("OUTBOX_MAX_ATTEMPTS") or 8),
        "OUTBOX_LEASE_SECONDS": float(env("OUTBOX_LEASE_SECONDS") or 300),
        # E-mail in: IMAP polling (off unless IMAP_HOST is set) and ingest limits.
        "IMAP_HOST": env("IMAP_HOST") or None,
        "IMAP_PORT": int(env("IMAP_PORT") or (993 if _flag(env("IMAP_SSL"), default=True) else 143)),
        "IMAP_USER": env("IMAP_USER") or "",
        "IMAP_PASSWORD": env("IMAP_PASSWORD") or "",
        "IMAP_FOLDER": env("IMAP_FOLDER") or "INBOX",
        "IMAP_SSL": _flag(env("IMAP_SSL"), default=True),
        "IMAP_POLL_INTERVAL": float(env("IMAP_POLL_INTERVAL") or 60),
        "MAIL_REOPEN_DAYS": float(env("MAIL_REOPEN_DAYS") or 7),
        "MAIL_MAX_ATTACHMENT_BYTES": int(env("MAIL_MAX_ATTACHMENT_BYTES") or 10 * 1024 * 1024),
        "MAIL_MAX_MESSAGE_BYTES": int(env("MAIL_MAX_MESSAGE_BYTES") or 25 * 1024 * 1024),
        # Field service: who the invoice is from, and a TrueType font with Cyrillic for its PDF.
        "COMPANY_NAME": env("COMPANY_NAME") or "ООО «Сервис»",
        "COMPANY_DETAILS": env("COMPANY_DETAILS") or "",
        "INVOICE_FONT": env("INVOICE_FONT") or "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "PHONE_REGION": env("PHONE_REGION") or "RU",
        "TELEPHONY_QUEUE_GROUP": env("TELEPHONY_QUEUE_GROUP") or "operators",
        "PUBLIC_FORM_RATE": env("PUBLIC_FORM_RATE") or "5/hour",
        "PUBLIC_FORM_MAX_FILE_KB": int(env("PUBLIC_FORM_MAX_FILE_KB") or 10240),
        "PUBLIC_FORM_MAX_FILES": int(env("PUBLIC_FORM_MAX_FILES") or 5),
        # History cleanup (engine.retention, web.retention): the default time to live of diagrams
        # without camunda:historyTimeToLive ("none": keep), Camunda's daily batch window, batch size.
        "HISTORY_TIME_TO_LIVE": _ttl(env("HISTORY_TIME_TO_LIVE") or "180"),
        "HISTORY_CLEANUP_ENABLED": _flag(env("HISTORY_CLEANUP_ENABLED"), default=True),
        "HISTORY_CLEANUP_BATCH_WINDOW_START_TIME": _window_time(
            "HISTORY_CLEANUP_BATCH_WINDOW_START_TIME", env("HISTORY_CLEANUP_BATCH_WINDOW_START_TIME", "22:00")
        ),
        "HISTORY_CLEANUP_BATCH_WINDOW_END_TIME": _window_time(
            "HISTORY_CLEANUP_BATCH_WINDOW_END_TIME", env("HISTORY_CLEANUP_BATCH_WINDOW_END_TIME", "06:00")
        ),
        "HISTORY_CLEANUP_BATCH_SIZE": int(env("HISTORY_CLEANUP_BATCH_SIZE") or 500),
        "HISTORY_CLEANUP_PAUSE_SECONDS": float(env("HISTORY_CLEANUP_PAUSE_SECONDS") or 0),
        "HISTORY_CLEANUP_LEASE_SECONDS": float(env("HISTORY_CLEANUP_LEASE_SECONDS") or 60),
        "HISTORY_CLEANUP_SLICE_SECONDS": float(env("HISTORY_CLEANUP_SLICE_SECONDS") or 20),
        "HISTORY_CLEANUP_INTERVAL": float(env("HISTORY_CLEANUP_INTERVAL") or 3600),
    }


def _window_time(name: str, raw: str) -> str | None:
    """A batch window end as Camunda writes it ("22:00", "23:00+0300"), checked now; empty: no window."""
    if not raw.strip():
        return None
    parse_window_time(raw, name)
    return raw.strip()


def _ttl(raw: str) -> int | None:
    """HISTORY_TIME_TO_LIVE: days or P<n>D, or "none" to keep diagrams without their own for ever."""
    return None if raw.strip().lower() == "none" else parse_history_ttl(raw, "HISTORY_TIME_TO_LIVE")


def _instance_secret(instance_path: str) -> str:
    """A per-installation secret kept in instance/, so sessions survive restarts without configuration."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
