"""The officials' side: log in, see the queue, claim, reply, transfer, return to the bot, close."""
from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import auth, service
from ..models import ConsoleSession, Conversation, Handoff, Official, utcnow
from ..schemas import CloseIn, DeliveryRead, LoginIn, Me, MessageRead, OfficialBrief, PresenceIn, QueueItem, ReplyIn, TransferIn
from .deps import Services, console_session, services

router = APIRouter(prefix="/api/console", tags=["console"])


def _me(row: ConsoleSession) -> Me:
    o = row.official
    return Me(id=o.id, username=o.username, name=o.name, title=o.title, unit=o.unit,
              topics=o.topics or [], present=o.present, csrf_token=row.csrf_token)


def _errors(exc: Exception) -> HTTPException:
    if isinstance(exc, service.Conflict):
        return HTTPException(409, f"already claimed by {exc.holder or 'someone else'}")
    if isinstance(exc, service.Forbidden):
        return HTTPException(403, "this chat is not yours")
    return HTTPException(404, "no such open chat")


@router.post("/login", response_model=Me)
def login(body: LoginIn, request: Request, response: Response, svc: Services = Depends(services)):
    with svc.sessions() as session:
        with session.begin():
            try:
                row, token = auth.login(session, body.username, body.password, hours=svc.settings.session_hours)
                failed = None
            except auth.LoginFailed as exc:
                failed = exc
        if failed is not None:
            if failed.locked_until:
                raise HTTPException(429, "too many failed logins; try again later")
            raise HTTPException(401, "wrong username or password")
        response.set_cookie(
            auth.SESSION_COOKIE, token, httponly=True, samesite="strict", path="/",
            secure=svc.settings.cookie_secure or request.url.scheme == "https",
            max_age=svc.settings.session_hours * 3600,
        )
        return _me(session.merge(row))


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response, row: ConsoleSession = Depends(console_session),
           svc: Services = Depends(services)):
    with svc.sessions() as session, session.begin():
        auth.logout(session, request.cookies.get(auth.SESSION_COOKIE))
    response.delete_cookie(auth.SESSION_COOKIE, path="/")


@router.get("/me", response_model=Me)
def me(row: ConsoleSession = Depends(console_session)):
    return _me(row)


@router.put("/presence", response_model=Me)
def presence(body: PresenceIn, row: ConsoleSession = Depends(console_session), svc: Services = Depends(services)):
    with svc.sessions() as session, session.begin():
        official = session.get(Official, row.official_id)
        official.present = body.present
        service.audit(session, f"official:{official.id}", "presence", present=body.present)
        row.official.present = body.present
    return _me(row)


@router.get("/colleagues", response_model=list[OfficialBrief])
def colleagues(row: ConsoleSession = Depends(console_session), svc: Services = Depends(services)):
    with svc.sessions() as session:
        rows = session.scalars(select(Official).where(Official.active.is_(True), Official.id != row.official_id)
                               .order_by(Official.name))
        return [OfficialBrief(id=o.id, name=o.name, title=o.title) for o in rows]


@router.get("/queue", response_model=list[QueueItem])
def queue(row: ConsoleSession = Depends(console_session), svc: Services = Depends(services)):
    now = utcnow()
    with svc.sessions() as session:
        official = session.get(Official, row.official_id)
        return [
            QueueItem(
                handoff_id=h.id, conversation_id=h.conversation_id, channel=h.conversation.channel,
                state=h.conversation.state, topic=h.topic, topic_label=svc.catalogue.label(h.topic),
                question=h.question,
                official=OfficialBrief(id=h.official.id, name=h.official.name, title=h.official.title) if h.official else None,
                mine=h.official_id == official.id, claimed=h.claimed_at is not None, after_hours=h.after_hours,
                answer_by=h.answer_by, requested_at=h.requested_at,
                waiting_seconds=int((now - h.requested_at).total_seconds()),
                resident_typing=service.is_typing(h.conversation.resident_typing_until),
            )
            for h in service.queue_for(session, official)
        ]


def can_view(session: Session, official: Official, conversation_id: str) -> bool:
    """An official sees a conversation they have a handoff in, or an open one they may take."""
    handoffs = session.scalars(select(Handoff).where(Handoff.conversation_id == conversation_id)).all()
    return any(h.official_id == official.id or (h.closed_at is None and service.can_work_on(official, h))
               for h in handoffs)


@router.get("/conversations/{conversation_id}/messages", response_model=list[MessageRead])
def transcript(conversation_id: str, after: int = Query(default=0, ge=0),
               row: ConsoleSession = Depends(console_session), svc: Services = Depends(services)):
    with svc.sessions() as session:
        official = session.get(Official, row.official_id)
        if session.get(Conversation, conversation_id) is None or not can_view(session, official, conversation_id):
            raise HTTPException(404, "no such conversation")
        messages = service.messages_after(session, conversation_id, after)
        deliveries = {d["seq"]: d for d in service.deliveries_of(session, conversation_id)}
        return [{**service.message_dict(m), "delivery": deliveries.get(m.seq)} for m in messages]


@router.get("/conversations/{conversation_id}/deliveries", response_model=list[DeliveryRead])
def deliveries(conversation_id: str, row: ConsoleSession = Depends(console_session), svc: Services = Depends(services)):
    """What became of each message sent out on Telegram: sent, still trying, failed, or blocked by the resident."""
    with svc.sessions() as session:
        official = session.get(Official, row.official_id)
        if session.get(Conversation, conversation_id) is None or not can_view(session, official, conversation_id):
            raise HTTPException(404, "no such conversation")
        return service.deliveries_of(session, conversation_id)


async def _act(svc: Services, row: ConsoleSession, change):
    outbox = service.Outbox()
    try:
        with svc.sessions() as session, session.begin():
            result = change(session, session.get(Official, row.official_id), outbox)
    except (service.NotFound, service.Forbidden, service.Conflict) as exc:
        raise _errors(exc) from None
    await svc.publish(outbox)
    return result


@router.post("/handoffs/{handoff_id}/claim", status_code=204)
async def claim(handoff_id: int, row: ConsoleSession = Depends(console_session), svc: Services = Depends(services)):
    await _act(svc, row, lambda s, o, box: service.claim(s, handoff_id, o, outbox=box))


@router.post("/conversations/{conversation_id}/messages", status_code=201, response_model=MessageRead)
async def reply(conversation_id: str, body: ReplyIn, row: ConsoleSession = Depends(console_session),
                svc: Services = Depends(services)):
    text = body.text.strip()
    if not text:
        raise HTTPException(422, "empty reply")
    return await _act(svc, row, lambda s, o, box: service.message_dict(
        service.official_reply(s, conversation_id, o, text, outbox=box)))


@router.post("/conversations/{conversation_id}/transfer", status_code=204)
async def transfer(conversation_id: str, body: TransferIn, row: ConsoleSession = Depends(console_session),
                   svc: Services = Depends(services)):
    await _act(svc, row, lambda s, o, box: service.transfer(s, conversation_id, o, body.official_id, body.reason, outbox=box))


@router.post("/conversations/{conversation_id}/return-to-bot", status_code=204)
async def return_to_bot(conversation_id: str, row: ConsoleSession = Depends(console_session),
                        svc: Services = Depends(services)):
    handoff = await _act(svc, row, lambda s, o, box: service.return_to_bot(
        s, conversation_id, o, label=svc.catalogue.label, outbox=box))
    await svc.resume_bot(conversation_id, handoff.topic)


@router.post("/conversations/{conversation_id}/close", status_code=204)
async def close(conversation_id: str, body: CloseIn, row: ConsoleSession = Depends(console_session),
                svc: Services = Depends(services)):
    handoff = await _act(svc, row, lambda s, o, box: service.close(s, conversation_id, o, body.outcome, outbox=box))
    await svc.resume_bot(conversation_id, handoff.topic)  # the next message goes to the bot, which must listen


@router.post("/conversations/{conversation_id}/typing", status_code=204)
async def typing(conversation_id: str, row: ConsoleSession = Depends(console_session), svc: Services = Depends(services)):
    """The official is writing: the resident sees it for a few seconds."""
    def mark(session, official, outbox):
        handoff = service.open_handoff(session, conversation_id)
        if handoff is None or handoff.official_id != official.id:
            raise service.Forbidden
        service.mark_typing(session, handoff.conversation, "official", outbox=outbox, name=official.name)

    await _act(svc, row, mark)
