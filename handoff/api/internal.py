"""The action server's way in: ask for a person for a conversation (shared token)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException

from .. import service
from ..schemas import HandoffAnswer, HandoffRequest
from .deps import Services, internal_caller, services

router = APIRouter(prefix="/internal", tags=["internal"], dependencies=[Depends(internal_caller)])


@router.post("/handoffs", response_model=HandoffAnswer)
async def request_handoff(body: HandoffRequest, svc: Services = Depends(services)):
    try:
        return await svc.request_handoff(body.conversation_id, topic=body.topic, question=body.question,
                                         reason=body.reason, language=body.language)
    except service.NotFound:
        raise HTTPException(404, "unknown conversation") from None
