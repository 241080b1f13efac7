"""Shared dependencies: the app's state, a database session, who is calling."""
from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy.orm import Session

from .. import auth
from ..models import ConsoleSession
from ..switchboard import Switchboard


Services = Switchboard  # the name routes depend on


def services(request: Request) -> Services:
    return request.app.state.services


def db(svc: Services = Depends(services)) -> Iterator[Session]:
    with svc.sessions() as session:
        yield session


def console_session(request: Request, session: Session = Depends(db)) -> ConsoleSession:
    row = auth.session_for(session, request.cookies.get(auth.SESSION_COOKIE))
    if row is None:
        raise HTTPException(401, "not logged in")
    if request.method not in ("GET", "HEAD", "OPTIONS") and not auth.csrf_ok(row, request.headers.get(auth.CSRF_HEADER)):
        raise HTTPException(403, "missing or wrong CSRF token")
    return row


def internal_caller(svc: Services = Depends(services), authorization: str | None = Header(default=None)) -> None:
    if not auth.internal_token_ok(svc.settings.handoff_internal_token.get_secret_value(), authorization):
        raise HTTPException(401, "wrong or missing internal token")
