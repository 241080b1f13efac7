"""Shapes of what goes in and out of the API."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from .models import Outcome


class ConversationCreate(BaseModel):
    language: str = Field(default="sv", pattern=r"^(sv|en)$")


class ConversationCreated(BaseModel):
    id: str
    secret: str = Field(description="the resident's key to this conversation; keep it, it is shown once")
    state: str
    language: str = "sv"


class OfficialBrief(BaseModel):
    id: int | None = None
    name: str
    title: str


class DeliveryRead(BaseModel):
    seq: int
    state: str = Field(description="pending | sent | failed | blocked")
    attempts: int
    last_error: str | None = None


class MessageRead(BaseModel):
    conversation_id: str
    seq: int
    author: str
    text: str
    buttons: list[dict] = []
    official: OfficialBrief | None = None
    created_at: datetime
    delivery: DeliveryRead | None = Field(default=None, description="Telegram: what became of the message")


class MessageCreate(BaseModel):
    text: str = Field(default="", description="what the resident wrote (or a button's title)")
    payload: str | None = Field(default=None, description="a button's payload, e.g. /request_human")
    client_id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]{8,64}$",
        description="the widget's own id for this message (8-64 letters, digits, - or _): a send retried with "
                    "the same id returns the first result and stores nothing new")


class MessagesOut(BaseModel):
    state: str
    language: str = Field(default="sv", description="the conversation's language (sv, en): the widget's texts follow it")
    messages: list[MessageRead]


class ConversationRead(BaseModel):
    id: str
    channel: str
    state: str
    topic: str | None
    last_seq: int
    language: str = "sv"
    official: OfficialBrief | None = None
    queue_position: int | None = None
    expected_wait_minutes: int | None = None
    official_typing: bool = False


class HandoffRequest(BaseModel):
    conversation_id: str
    topic: str | None = None
    question: str = Field(default="", max_length=4000)
    reason: str = Field(default="resident_asked", max_length=64)
    language: str | None = Field(default=None, pattern=r"^(sv|en)$", description="the assistant's language slot")


class HandoffAnswer(BaseModel):
    handoff_id: int | None
    status: str = Field(description="assigned | after_hours | already_open | nobody")
    official: OfficialBrief | None
    queue_position: int
    expected_wait_minutes: int | None
    answer_by: datetime | None = None
    answer_by_text: str | None = Field(default=None, description="e.g. 'måndag 23 november kl. 8.30'")


class LoginIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=200)


class Me(BaseModel):
    id: int
    username: str
    name: str
    title: str
    unit: str
    topics: list[str]
    present: bool
    csrf_token: str
    timezone: str = Field(default="Europe/Stockholm", description="the municipality's time zone: the console shows times in it")


class QueueItem(BaseModel):
    handoff_id: int
    conversation_id: str
    channel: str
    state: str
    topic: str
    topic_label: str | None
    question: str
    official: OfficialBrief | None
    mine: bool
    claimed: bool
    after_hours: bool
    answer_by: datetime | None
    requested_at: datetime
    waiting_seconds: int
    resident_typing: bool = False


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class TransferIn(BaseModel):
    official_id: int
    reason: str = Field(default="", max_length=500)


class CloseIn(BaseModel):
    outcome: Outcome


class PresenceIn(BaseModel):
    present: bool
