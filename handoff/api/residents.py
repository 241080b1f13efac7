"""The resident's side: open a conversation, send, read since a sequence number."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from sqlalchemy.orm import Session

from .. import service, texts
from ..schemas import OfficialBrief, ConversationCreate, ConversationCreated, ConversationRead, MessageCreate, MessagesOut
from ..switchboard import BadMessage
from .deps import Services, db, services

router = APIRouter(prefix="/api/conversations", tags=["resident"])


def _conversation(session: Session, conversation_id: str, secret: str | None):
    try:
        return service.resident_conversation(session, conversation_id, secret)
    except service.NotFound:
        raise HTTPException(404, texts.text("error_not_found")) from None


@router.post("", status_code=201, response_model=ConversationCreated)
async def open_conversation(body: ConversationCreate | None = None, svc: Services = Depends(services)):
    conversation_id, secret, language = await svc.open_web_conversation((body or ConversationCreate()).language)
    return ConversationCreated(id=conversation_id, secret=secret, state="bot", language=language)


@router.get("/{conversation_id}", response_model=ConversationRead)
def read_conversation(
    conversation_id: str, x_resident_secret: str | None = Header(default=None),
    session: Session = Depends(db),
):
    conv = _conversation(session, conversation_id, x_resident_secret)
    handoff = service.open_handoff(session, conv.id)
    out = ConversationRead(id=conv.id, channel=conv.channel, state=conv.state, topic=conv.topic, last_seq=conv.last_seq,
                           language=conv.language,
                           official_typing=service.is_typing(conv.official_typing_until))
    if handoff is not None and handoff.official is not None:
        out.official = OfficialBrief(name=handoff.official.name, title=service.title_for(handoff.official, conv.language))
        if handoff.claimed_at is None:
            out.queue_position = service.queue_position(session, handoff)
            out.expected_wait_minutes = service.expected_wait_minutes(session, handoff.topic, service.utcnow())
    return out


@router.get("/{conversation_id}/messages", response_model=MessagesOut)
def read_messages(
    conversation_id: str, after: int = Query(default=0, ge=0, le=service.MAX_SEQ),
    x_resident_secret: str | None = Header(default=None), session: Session = Depends(db),
):
    conv = _conversation(session, conversation_id, x_resident_secret)
    msgs = service.messages_after(session, conv.id, after)
    return MessagesOut(state=conv.state, language=conv.language, messages=[service.message_dict(m) for m in msgs])


@router.post("/{conversation_id}/messages", status_code=201, response_model=MessagesOut)
async def send_message(
    conversation_id: str, body: MessageCreate, x_resident_secret: str | None = Header(default=None),
    svc: Services = Depends(services),
):
    """Store what the resident wrote, then let the bot or the official have it. Sent again with the same
    client_id (a retry), it stores nothing and returns what the first send gave."""
    await svc.read(lambda session: _conversation(session, conversation_id, x_resident_secret))
    try:
        state, language, messages = await svc.resident_says(conversation_id, body.text, body.payload, body.client_id)
    except BadMessage as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return MessagesOut(state=state, language=language, messages=messages)


@router.post("/{conversation_id}/typing", status_code=204)
async def typing(conversation_id: str, x_resident_secret: str | None = Header(default=None),
                 svc: Services = Depends(services)):
    """The resident is writing: the official sees it for a few seconds."""
    try:
        await svc.resident_typing(conversation_id, x_resident_secret)
    except service.NotFound:
        raise HTTPException(404, texts.text("error_not_found")) from None


@router.post("/{conversation_id}/leave", status_code=204)
async def leave(conversation_id: str, x_resident_secret: str | None = Header(default=None),
                svc: Services = Depends(services)):
    """The resident ends the talk with the person (or the wait for one); the assistant has the chat again."""
    await svc.read(lambda session: _conversation(session, conversation_id, x_resident_secret))
    await svc.resident_leaves(conversation_id)
