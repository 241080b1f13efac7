"""Who may see and do what: every decision about an official's access to chats, in one place."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Handoff, Official


def can_work_on(official: Official, handoff: Handoff) -> bool:
    """An official may take a chat assigned to them or one for a topic they handle."""
    return official.active and (handoff.official_id == official.id or handoff.topic in (official.topics or ()))


def can_act_on(official: Official, handoff: Handoff | None) -> bool:
    """Reply, transfer, return to the bot, close, type: only the official who holds the open handoff."""
    return handoff is not None and handoff.closed_at is None and official.active and handoff.official_id == official.id


def can_view(session: Session, official: Official | None, conversation_id: str) -> bool:
    """An official sees a conversation they have a handoff in, or an open one they may take."""
    if official is None or not official.active:
        return False
    handoffs = session.scalars(select(Handoff).where(Handoff.conversation_id == conversation_id)).all()
    return any(h.official_id == official.id or (h.closed_at is None and can_work_on(official, h)) for h in handoffs)
