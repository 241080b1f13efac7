"""The action server's way in: ask for a person for a conversation (shared token)."""
from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, HTTPException

from .. import service
from ..models import Conversation
from ..schemas import HandoffAnswer, HandoffRequest
from ..timefmt import said_datetime
from .deps import Services, internal_caller, services

router = APIRouter(prefix="/internal", tags=["internal"], dependencies=[Depends(internal_caller)])


@router.post("/handoffs", response_model=HandoffAnswer)
async def request_handoff(body: HandoffRequest, svc: Services = Depends(services)):
    outbox = service.Outbox()
    with svc.sessions() as session, session.begin():
        conv = session.get(Conversation, body.conversation_id)
        if conv is None:
            raise HTTPException(404, "unknown conversation")
        if body.language:
            conv.language = body.language
        result = service.request_handoff(
            session, conv, topic=body.topic, question=body.question, reason=body.reason,
            known_topics=svc.catalogue.topic_keys, tz=svc.tz,
            service_time=timedelta(minutes=svc.settings.service_time_minutes),
            contact_centre_unit=svc.settings.contact_centre_unit, actor="action-server", outbox=outbox,
        )
        official = result.official
        if result.already_open:
            status = "already_open"
        elif result.handoff is None:
            status = "nobody"
        else:
            status = "after_hours" if result.handoff.after_hours else "assigned"
        answer = HandoffAnswer(
            handoff_id=result.handoff.id if result.handoff else None, status=status,
            official={"id": official.id, "name": official.name,
                      "title": service.title_for(official, conv.language)} if official else None,
            queue_position=result.queue_position, expected_wait_minutes=result.expected_wait_minutes,
            answer_by=result.answer_by_local,
            answer_by_text=said_datetime(result.answer_by_local, conv.language) if result.answer_by_local else None,
        )
    await svc.publish(outbox)
    return answer
