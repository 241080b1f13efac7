"""Shared dependencies: the app's state, a database session, who is calling."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy.orm import Session, sessionmaker

from .. import auth
from ..catalogue import Catalogue
from ..config import Settings
from ..events import LocalBus
from ..models import ConsoleSession
from ..rasa import RasaClient, RasaUnavailable
from ..service import Outbox


@dataclass
class Services:
    settings: Settings
    sessions: sessionmaker[Session]
    bus: LocalBus
    rasa: RasaClient
    catalogue: Catalogue
    tz: ZoneInfo

    async def publish(self, outbox: Outbox) -> None:
        """Called after commit only, so nobody is shown what was not stored."""
        for channel, event in outbox.events:
            await self.bus.publish(channel, event)
        outbox.events.clear()

    async def resume_bot(self, conversation_id: str, topic: str | None) -> None:
        """Keep Rasa's history true: the tracker resumes and remembers the topic."""
        events = [{"event": "resume"}]
        if topic:
            events.append({"event": "slot", "name": "topic", "value": topic})
        # The handoff action paused the tracker before Rasa listened again: listen now, so
        # the next message is predicted as a fresh turn and not as a follow-up of the handoff.
        events.append({"event": "action", "name": "action_listen"})
        try:
            await self.rasa.append_events(conversation_id, events)
        except RasaUnavailable:
            pass  # the next resident message still goes to Rasa; its history only lacks the marker


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
