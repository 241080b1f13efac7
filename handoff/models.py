"""Tables of the switchboard: who works here, who wrote what, who answered."""
from __future__ import annotations

import enum
from datetime import datetime, timezone

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Base


def utcnow() -> datetime:
    """Naive UTC: the same on SQLite and PostgreSQL; local time only at the edges."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class ConversationState(enum.StrEnum):
    bot = "bot"
    waiting = "waiting"
    with_official = "with_official"
    closed = "closed"


class Author(enum.StrEnum):
    resident = "resident"
    bot = "bot"
    official = "official"
    system = "system"


class Outcome(enum.StrEnum):
    resolved = "resolved"
    follow_up = "follow_up"
    referred = "referred"
    returned_to_bot = "returned_to_bot"
    abandoned = "abandoned"


class Official(Base):
    __tablename__ = "officials"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str | None] = mapped_column(String(200), default=None)
    unit: Mapped[str] = mapped_column(String(64), index=True)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    working_hours: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(default=True)
    present: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    last_assigned_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    # sha256 of the resident's web secret, or "telegram:<chat id>": who the resident is.
    resident_key: Mapped[str] = mapped_column(String(100), index=True)
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger, default=None, index=True)
    state: Mapped[ConversationState] = mapped_column(String(16), default=ConversationState.bot)
    language: Mapped[str] = mapped_column(String(8), default="sv")
    topic: Mapped[str | None] = mapped_column(String(64), default=None)
    last_seq: Mapped[int] = mapped_column(default=0)
    # "is typing" shown to the other side until these times (kept in the database: any replica answers)
    resident_typing_until: Mapped[datetime | None] = mapped_column(default=None)
    official_typing_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    handoffs: Mapped[list[Handoff]] = relationship(
        back_populates="conversation", order_by="Handoff.requested_at"
    )


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("conversation_id", "seq"),
                      Index("ux_messages_client_id", "conversation_id", "client_id", unique=True))

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    seq: Mapped[int]
    author: Mapped[Author] = mapped_column(String(16))
    official_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id"), default=None)
    text: Mapped[str] = mapped_column(Text)
    buttons: Mapped[list[dict] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The sender's own id for a resident message (the widget's, or "tg:<update_id>"): a send that is
    # retried, by the widget after a time-out or by Telegram, finds the first one instead of a second.
    client_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # A resident message the assistant has not answered yet (awaiting_bot): what goes to Rasa (personnummer
    # masked, or the button's payload) and since when a send is under way (None: none is). Cleared once the
    # answer is stored; a message left waiting (a crash, Rasa down) is answered when Rasa answers again.
    awaiting_bot: Mapped[bool] = mapped_column(default=False, index=True)
    bot_input: Mapped[str | None] = mapped_column(Text, default=None)
    bot_tried_at: Mapped[datetime | None] = mapped_column(default=None)

    official: Mapped[Official | None] = relationship()


class Handoff(Base):
    __tablename__ = "handoffs"
    __table_args__ = (Index("ix_handoffs_open", "conversation_id", "closed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    topic: Mapped[str] = mapped_column(String(64))
    question: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(String(64), default="resident_asked")
    official_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id"), default=None)
    after_hours: Mapped[bool] = mapped_column(default=False)
    answer_by: Mapped[datetime | None] = mapped_column(default=None)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    assigned_at: Mapped[datetime | None] = mapped_column(default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    first_reply_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    outcome: Mapped[Outcome | None] = mapped_column(String(32), default=None)

    conversation: Mapped[Conversation] = relationship(back_populates="handoffs")
    official: Mapped[Official | None] = relationship()


class Delivery(Base):
    """What became of a message sent out on a channel that can fail (Telegram)."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sent, failed, blocked
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RoutingDecision(Base):
    __tablename__ = "routing_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), index=True)
    rule: Mapped[str] = mapped_column(String(32))
    chosen_official_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id"))
    candidates: Mapped[list[dict]] = mapped_column(JSON, default=list)
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    handoff_id: Mapped[int | None] = mapped_column(default=None)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class AnswerFeedback(Base):
    """"Fick du svar på din fråga?" answered Ja or Nej under one of the assistant's answers: the share
    of questions the assistant answered is counted from these rows."""

    __tablename__ = "answer_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    answer: Mapped[str] = mapped_column(String(130))  # <topic>/<key>, the answer's response name
    topic: Mapped[str] = mapped_column(String(64), index=True)
    helped: Mapped[bool]
    language: Mapped[str] = mapped_column(String(8), default="sv")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BotEvent(Base):
    """Events Rasa's tracker must get (resume after a person had the chat), written in the same transaction
    as the change that needs them and sent after commit; a failed send is retried, before the
    conversation's next message goes to Rasa, and by any replica's background check."""

    __tablename__ = "bot_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    events: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None, index=True)


class ConsoleSession(Base):
    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    official_id: Mapped[int] = mapped_column(ForeignKey("officials.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

    official: Mapped[Official] = relationship()
