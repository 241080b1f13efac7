"""Who may do what: officials log in with a password (argon2), get a server-side session
and a CSRF token; the action server presents a shared token. Small can_* checks decide."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .models import ConsoleSession, Official, utcnow

SESSION_COOKIE = "kc_session"
CSRF_HEADER = "X-CSRF-Token"
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginFailed(Exception):
    def __init__(self, locked_until: datetime | None = None) -> None:
        super().__init__("login failed")
        self.locked_until = locked_until


def login(session: Session, username: str, password: str, *, hours: int) -> tuple[ConsoleSession, str]:
    """A new session for the official, or LoginFailed (same answer for unknown user and wrong password)."""
    now = utcnow()
    official = session.scalar(select(Official).where(Official.username == username.strip().lower()))
    if official is None or not official.active or not official.password_hash:
        _hasher.hash(password)  # spend the same time either way
        raise LoginFailed
    if official.locked_until and official.locked_until > now:
        raise LoginFailed(official.locked_until)
    try:
        _hasher.verify(official.password_hash, password)
    except (VerificationError, InvalidHashError):
        official.failed_logins += 1
        if official.failed_logins >= MAX_FAILED_LOGINS:
            official.locked_until = now + LOCKOUT
            official.failed_logins = 0
        raise LoginFailed(official.locked_until) from None
    official.failed_logins = 0
    official.locked_until = None
    token = secrets.token_urlsafe(32)
    row = ConsoleSession(
        token_hash=_token_hash(token), csrf_token=secrets.token_urlsafe(24),
        official_id=official.id, expires_at=now + timedelta(hours=hours),
    )
    session.add(row)
    session.flush()
    return row, token


def session_for(session: Session, token: str | None) -> ConsoleSession | None:
    if not token:
        return None
    row = session.scalar(select(ConsoleSession).where(ConsoleSession.token_hash == _token_hash(token)))
    if row is None or row.expires_at <= utcnow() or not row.official.active:
        return None
    return row


def logout(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == _token_hash(token)))


def csrf_ok(row: ConsoleSession, presented: str | None) -> bool:
    return bool(presented) and secrets.compare_digest(row.csrf_token, presented)


def internal_token_ok(expected: str, authorization: str | None) -> bool:
    """Constant-time check of 'Bearer <token>' from the action server."""
    presented = (authorization or "").removeprefix("Bearer ").strip()
    return bool(presented) and secrets.compare_digest(presented.encode(), expected.encode())
