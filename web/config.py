"""The only module that reads the environment and `.env`; everything else receives values."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from dotenv import load_dotenv


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
        "INLINE_JOBS": _flag(env("INLINE_JOBS"), default=not env("REDIS_URL")),
        "WORKER_ID": env("WORKER_ID") or f"{os.uname().nodename}:{os.getpid()}",
        "BPMN_DIR": env("BPMN_DIR") or str(Path(__file__).resolve().parent.parent / "bpmn"),
        "DEFAULT_LANGUAGE": env("DEFAULT_LANGUAGE") or "ru",
        "SESSION_COOKIE_SECURE": _flag(env("SESSION_COOKIE_SECURE")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
    }


def _instance_secret(instance_path: str) -> str:
    """A per-installation secret kept in instance/, so sessions survive restarts without configuration."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
