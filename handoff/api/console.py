"""The officials' side: log in, see the queue, claim, reply, transfer, return to the bot, close."""
from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from sqlalchemy import select

from .. import auth, service
from ..access import can_view
from ..switchboard import printable
from ..models import ConsoleSession, Conversation, Official, utcnow
from ..schemas import CloseIn, DeliveryRead, LoginIn, Me, MessageRead, OfficialBrief, PresenceIn, QueueItem, ReplyIn, TransferIn
from .deps import Services, console_session, services

router = APIRouter(prefix="/api/console", tags=["console"])


def _me(row: ConsoleSession, svc: Services) -> Me:
    o = row.official
    return Me(id=o.id, username=o.username, name=o.name, title=o.title, unit=o.unit,
              topics=o.topics or [], present=o.present, csrf_token=row.csrf_token, timezone=svc.settings.timezone)


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
        return _me(session.merge(row), svc)


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response, row: ConsoleSession = Depends(console_session),
           svc: Services = Depends(services)):
    with svc.sessions() as session, session.begin():
        auth.logout(session, request.cookies.get(auth.SESSION_COOKIE))
    response.delete_cookie(auth.SESSION_COOKIE, path="/")


@router.get("/me", response_model=Me)
def me(row: ConsoleSession = Depends(console_session), svc: Services = Depends(services)):
    return _me(row, svc)


@router.put("/presence", response_model=Me)
async def presence(body: PresenceIn, row: ConsoleSession = Depends(console_session), svc: Services = Depends(services)):
    await svc.set_presence(row.official_id, body.present)
    row.official.present = body.present
    return _me(row, svc)


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


@router.get("/conversations/{conversation_id}/messages", response_model=list[MessageRead])
def transcript(conversation_id: str, after: int = Query(default=0, ge=0, le=service.MAX_SEQ),
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


async def _act(use_case):
    """Run one of the switchboard's use-cases; its refusals become HTTP answers."""
    try:
        return await use_case
    except (service.NotFound, service.Forbidden, service.Conflict) as exc:
        raise _errors(exc) from None


@router.post("/handoffs/{handoff_id}/claim", status_code=204)
async def claim(handoff_id: int, row: ConsoleSession = Depends(console_session), svc: Services = Depends(services)):
    await _act(svc.claim(handoff_id, row.official_id))


@router.post("/conversations/{conversation_id}/messages", status_code=201, response_model=MessageRead)
async def reply(conversation_id: str, body: ReplyIn, row: ConsoleSession = Depends(console_session),
                svc: Services = Depends(services)):
    text = printable(body.text).strip()
    if not text:
        raise HTTPException(422, "empty reply")
    return await _act(svc.reply(conversation_id, row.official_id, text))


@router.post("/conversations/{conversation_id}/transfer", status_code=204)
async def transfer(conversation_id: str, body: TransferIn, row: ConsoleSession = Depends(console_session),
                   svc: Services = Depends(services)):
    await _act(svc.transfer(conversation_id, row.official_id, body.official_id, body.reason))


@router.post("/conversations/{conversation_id}/return-to-bot", status_code=204)
async def return_to_bot(conversation_id: str, row: ConsoleSession = Depends(console_session),
                        svc: Services = Depends(services)):
    await _act(svc.return_to_bot(conversation_id, row.official_id))


@router.post("/conversations/{conversation_id}/close", status_code=204)
async def close(conversation_id: str, body: CloseIn, row: ConsoleSession = Depends(console_session),
                svc: Services = Depends(services)):
    await _act(svc.close(conversation_id, row.official_id, body.outcome))


@router.post("/conversations/{conversation_id}/typing", status_code=204)
async def typing(conversation_id: str, row: ConsoleSession = Depends(console_session), svc: Services = Depends(services)):
    """The official is writing: the resident sees it for a few seconds."""
    await _act(svc.official_typing(conversation_id, row.official_id))
