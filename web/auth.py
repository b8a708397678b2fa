"""Who is calling: staff passwords and API bearer tokens, checked against desk users."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from desk.models import ApiToken, User
from service.permissions import Principal, parse_scopes


def check_password(session: Session, username: str, password: str) -> User | None:
    user = session.scalars(select(User).where(User.username == username, User.active.is_(True))).first()
    if user is None or not user.password_hash or not check_password_hash(user.password_hash, password):
        return None
    return user


def hash_password(password: str) -> str:
    """A stored hash of `password` with werkzeug's default method (scrypt, deliberately slow).

    PASSWORD_HASH_METHOD (config only, not the environment) names another werkzeug method;
    the tests set a one-round pbkdf2 so that every login is not a 70 ms hash. Checking reads the
    method from the stored hash, so accounts hashed either way keep working.
    """
    method = current_app.config.get("PASSWORD_HASH_METHOD")
    return generate_password_hash(password, method) if method else generate_password_hash(password)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_token(session: Session, token: str) -> User | None:
    found = check_token_scopes(session, token)
    return found[0] if found is not None else None


def check_token_scopes(session: Session, token: str) -> tuple[User, list[str]] | None:
    """The active user behind a live token, with the token's scopes; None otherwise."""
    row = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == token_hash(token), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    user = session.scalars(select(User).where(User.username == row.username, User.active.is_(True))).first()
    return (user, list(row.scopes or [])) if user is not None else None


def token_principal(session: Session, token: str) -> Principal | None:
    """A bearer token as the permission model's principal (its scopes bound what it may do)."""
    found = check_token_scopes(session, token)
    if found is None:
        return None
    user, scopes = found
    return Principal.of(user.username, user.roles or (), user.groups or (), scopes)


def user_principal(user: User) -> Principal:
    return Principal.of(user.username, user.roles or (), user.groups or ())


def issue_token(
    session: Session, *, name: str, username: str, now: datetime, scopes: Iterable[str] = ()
) -> str:
    """Create a token for `username` with `scopes`; the plain token is returned once and never stored."""
    token = secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            name=name,
            token_hash=token_hash(token),
            username=username,
            created_at=now,
            scopes=parse_scopes(scopes),
        )
    )
    return token


def end_sessions(session: Session, username: str) -> None:
    """Invalidate every session cookie and cached Basic credential of `username` (logout,
    password change, deactivation): they carry the old session version."""
    session.execute(
        update(User).where(User.username == username).values(session_version=User.session_version + 1)
    )
