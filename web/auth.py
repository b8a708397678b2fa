"""Who is calling: staff passwords and API bearer tokens, checked against desk users."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from desk.models import ApiToken, User


def check_password(session: Session, username: str, password: str) -> User | None:
    user = session.scalars(select(User).where(User.username == username, User.active.is_(True))).first()
    if user is None or not user.password_hash or not check_password_hash(user.password_hash, password):
        return None
    return user


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_token(session: Session, token: str) -> User | None:
    row = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == token_hash(token), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    return session.scalars(select(User).where(User.username == row.username, User.active.is_(True))).first()


def issue_token(session: Session, *, name: str, username: str, now: datetime) -> str:
    """Create a token for `username`; the plain token is returned once and never stored."""
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=token_hash(token), username=username, created_at=now))
    return token
