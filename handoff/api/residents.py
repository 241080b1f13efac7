"""The resident's side: open a conversation, send, read since a sequence number."""
from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from sqlalchemy.orm import Session

from .. import service, texts
from ..models import Author, ConversationState
from ..pii import mask_personnummer
from ..rasa import RasaUnavailable
from ..schemas import OfficialBrief, ConversationCreate, ConversationCreated, ConversationRead, MessageCreate, MessagesOut
from .deps import Services, db, services

router = APIRouter(prefix="/api/conversations", tags=["resident"])
PAYLOAD = re.compile(r"^/([a-z_]{1,64})$")


def _conversation(session: Session, conversation_id: str, secret: str | None):
    try:
        return service.resident_conversation(session, conversation_id, secret)
    except service.NotFound:
        raise HTTPException(404, texts.text("error_not_found")) from None


@router.post("", status_code=201, response_model=ConversationCreated)
def open_conversation(body: ConversationCreate | None = None, svc: Services = Depends(services)):
    with svc.sessions() as session, session.begin():
        conv, secret = service.open_web_conversation(session, language=(body or ConversationCreate()).language)
        return ConversationCreated(id=conv.id, secret=secret, state="bot")


@router.get("/{conversation_id}", response_model=ConversationRead)
def read_conversation(
    conversation_id: str, x_resident_secret: str | None = Header(default=None),
    session: Session = Depends(db),
):
    conv = _conversation(session, conversation_id, x_resident_secret)
    handoff = service.open_handoff(session, conv.id)
    out = ConversationRead(id=conv.id, channel=conv.channel, state=conv.state, topic=conv.topic, last_seq=conv.last_seq)
    if handoff is not None and handoff.official is not None:
        out.official = OfficialBrief(name=handoff.official.name, title=handoff.official.title)
        if handoff.claimed_at is None:
            out.queue_position = service.queue_position(session, handoff)
            out.expected_wait_minutes = service.expected_wait_minutes(session, handoff.topic, service.utcnow())
    return out


@router.get("/{conversation_id}/messages", response_model=MessagesOut)
def read_messages(
    conversation_id: str, after: int = Query(default=0, ge=0),
    x_resident_secret: str | None = Header(default=None), session: Session = Depends(db),
):
    conv = _conversation(session, conversation_id, x_resident_secret)
    msgs = service.messages_after(session, conv.id, after)
    return MessagesOut(state=conv.state, messages=[service.message_dict(m) for m in msgs])


@router.post("/{conversation_id}/messages", status_code=201, response_model=MessagesOut)
async def send_message(
    conversation_id: str, body: MessageCreate, x_resident_secret: str | None = Header(default=None),
    svc: Services = Depends(services),
):
    """Store what the resident wrote, then let the bot or the official have it."""
    text = body.text.strip()
    payload = body.payload if body.payload and PAYLOAD.match(body.payload) else None
    if payload and PAYLOAD.match(payload).group(1) not in svc.catalogue.button_intents():
        payload = None
    if not text and payload:
        text = payload
    if not text:
        raise HTTPException(422, texts.text("error_empty"))
    if len(text) > service.MAX_MESSAGE_CHARS:
        raise HTTPException(413, texts.text("error_too_long", max="4 000"))
    outbox = service.Outbox()
    with svc.sessions() as session, session.begin():
        conv = _conversation(session, conversation_id, x_resident_secret)
        if conv.state == ConversationState.closed:
            conv.state = ConversationState.bot
        first = service.append_message(session, conv, Author.resident, text, outbox=outbox)
        to_bot = conv.state == ConversationState.bot
    await svc.publish(outbox)
    new = [service.message_dict(first)]
    if to_bot:
        new += await _ask_bot(svc, conversation_id, payload or mask_personnummer(text).lstrip("/"))
    with svc.sessions() as session:
        state = session.get(service.Conversation, conversation_id).state
    return MessagesOut(state=state, messages=new)


async def _ask_bot(svc: Services, conversation_id: str, message: str) -> list[dict]:
    author = Author.bot
    try:
        replies = await svc.rasa.send(conversation_id, message)
    except RasaUnavailable:
        author = Author.system
        replies = [{"text": texts.text("bot_unavailable", telefon=svc.catalogue.facts.get("telefon", ""))}]
    outbox = service.Outbox()
    stored = []
    with svc.sessions() as session, session.begin():
        conv = session.get(service.Conversation, conversation_id)
        for reply in replies:
            if not reply.get("text"):
                continue
            buttons = [{"title": b.get("title", ""), "payload": b.get("payload", "")} for b in reply.get("buttons") or []]
            stored.append(service.append_message(session, conv, author, reply["text"], buttons=buttons or None, outbox=outbox))
    await svc.publish(outbox)
    return [service.message_dict(m) for m in stored]
