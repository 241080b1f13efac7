"""State changes of conversations and handoffs. Functions take a session, may flush,
never commit: the endpoint owns the transaction and notifies only after commit."""
from __future__ import annotations

import hashlib
import secrets
import statistics
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from . import roster, routing, texts
from .access import can_act_on, can_work_on
from .models import (
    AuditEvent,
    Author,
    BotEvent,
    Conversation,
    ConversationState,
    Delivery,
    Handoff,
    Message,
    Official,
    Outcome,
    RoutingDecision,
    utcnow,
)

MAX_MESSAGE_CHARS = 4000
MAX_SEQ = 2**31 - 1  # the largest sequence number the database stores (a 32-bit integer)
WAIT_HISTORY_DAYS = 14
WAIT_HISTORY_MIN_SAMPLES = 3


class NotFound(Exception):
    pass


class Conflict(Exception):
    def __init__(self, message: str, *, holder: Official | None = None) -> None:
        super().__init__(message)
        self.holder = f"{holder.name}, {holder.title}" if holder else None


class Forbidden(Exception):
    pass


@dataclass
class Outbox:
    """Events to publish once the transaction has committed."""

    events: list[tuple[str, dict]] = field(default_factory=list)
    # (channel, message) for messages a channel other than the web must carry to the resident; each has
    # a pending Delivery row from the same transaction, so a message stored is a message that goes out.
    deliveries: list[tuple[str, dict]] = field(default_factory=list)
    # conversations with new events for Rasa's tracker (BotEvent rows from the same transaction)
    bot_events: list[str] = field(default_factory=list)

    def message(self, msg: Message, channel: str = "web", delivery: dict | None = None) -> None:
        self.events.append((f"conversation:{msg.conversation_id}", {"type": "message", **message_dict(msg)}))
        if delivery is not None:
            self.deliveries.append((channel, {**message_dict(msg), **delivery}))
        self.events.append(("console", {"type": "message", "conversation_id": msg.conversation_id, "seq": msg.seq}))

    def clear(self) -> None:
        """Forget what a transaction that did not commit would have published."""
        self.events.clear()
        self.deliveries.clear()
        self.bot_events.clear()

    def queue_changed(self, conversation_id: str) -> None:
        self.events.append(("console", {"type": "queue", "conversation_id": conversation_id}))

    def state(self, conv: Conversation) -> None:
        self.events.append(
            (f"conversation:{conv.id}", {"type": "state", "state": _state(conv), "conversation_id": conv.id})
        )


def state_name(conv: Conversation) -> str:
    return conv.state.value if isinstance(conv.state, ConversationState) else str(conv.state)


_state = state_name


def title_for(official: Official, language: str | None) -> str:
    """The official's title in the resident's language (the roster's title_en for English)."""
    return official.title_en if language == "en" and official.title_en else official.title


def message_dict(msg: Message) -> dict:
    official = msg.official
    return {
        "conversation_id": msg.conversation_id,
        "seq": msg.seq,
        "author": msg.author.value if isinstance(msg.author, Author) else msg.author,
        "text": msg.text,
        "buttons": msg.buttons or [],
        "official": {"name": official.name, "title": official.title} if official else None,
        "created_at": msg.created_at.replace(tzinfo=timezone.utc).isoformat(),
    }


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def audit(session: Session, actor: str, action: str, *, conversation_id=None, handoff_id=None, **detail) -> None:
    session.add(
        AuditEvent(actor=actor, action=action, conversation_id=conversation_id, handoff_id=handoff_id, detail=detail)
    )


# ---- conversations and messages -------------------------------------------------------------

def open_web_conversation(session: Session, *, language: str = "sv") -> tuple[Conversation, str]:
    """A new web conversation and the resident's secret (256 bits), of which only a hash is kept."""
    secret = secrets.token_urlsafe(32)
    conv = Conversation(id=str(uuid.uuid4()), channel="web", resident_key=f"web:{secret_hash(secret)}", language=language)
    session.add(conv)
    session.flush()
    audit(session, "resident", "conversation_opened", conversation_id=conv.id, channel="web")
    return conv, secret


def telegram_conversation(session: Session, chat_id: int, *, language: str = "sv") -> Conversation:
    """The Telegram chat's conversation; a Telegram chat is one resident."""
    conv = session.scalar(
        select(Conversation).where(Conversation.telegram_chat_id == chat_id).order_by(Conversation.created_at.desc())
    )
    if conv is None:
        conv = Conversation(
            id=str(uuid.uuid4()), channel="telegram", resident_key=f"telegram:{chat_id}",
            telegram_chat_id=chat_id, language=language,
        )
        session.add(conv)
        session.flush()
        audit(session, "resident", "conversation_opened", conversation_id=conv.id, channel="telegram")
    return conv


def resident_conversation(session: Session, conversation_id: str, secret: str | None) -> Conversation:
    """The conversation if the secret fits; NotFound otherwise, with no hint which was wrong."""
    conv = session.get(Conversation, conversation_id) if conversation_id else None
    if conv is None or conv.channel != "web" or not secret:
        raise NotFound
    if not secrets.compare_digest(conv.resident_key, f"web:{secret_hash(secret)}"):
        raise NotFound
    return conv


def append_message(
    session: Session, conv: Conversation, author: Author, text: str, *,
    outbox: Outbox, official_id: int | None = None, buttons: list[dict] | None = None, client_id: str | None = None,
) -> Message:
    """Store a message under the conversation's next sequence number (atomic on every database)."""
    seq = session.execute(
        update(Conversation)
        .where(Conversation.id == conv.id)
        .values(last_seq=Conversation.last_seq + 1, updated_at=utcnow())
        .returning(Conversation.last_seq)
    ).scalar_one()
    msg = Message(conversation_id=conv.id, seq=seq, author=author, text=text, official_id=official_id, buttons=buttons,
                  client_id=client_id)
    session.add(msg)
    session.flush()
    session.refresh(conv, ["last_seq"])
    delivery = None
    if conv.channel != "web" and author != Author.resident:
        # The transactional outbox of the channel: the row commits with the message; the channel sends it
        # after commit, and any replica sends what a stopped process left pending.
        row = Delivery(message_id=msg.id, channel=conv.channel, state="pending", attempts=0)
        session.add(row)
        session.flush()
        delivery = {"message_id": msg.id, "delivery_id": row.id, "chat_id": conv.telegram_chat_id,
                    "language": conv.language}
    outbox.message(msg, conv.channel, delivery)
    return msg


TYPING_FOR = timedelta(seconds=5)


def mark_typing(session: Session, conv: Conversation, who: str, *, outbox: Outbox, name: str | None = None) -> None:
    """The other side sees "skriver ..." for a few seconds, live and on its next poll."""
    until = utcnow() + TYPING_FOR
    session.execute(update(Conversation).where(Conversation.id == conv.id).values(
        **({"resident_typing_until": until} if who == "resident" else {"official_typing_until": until})))
    event = {"type": "typing", "who": who, "conversation_id": conv.id, "name": name}
    outbox.events.append((f"conversation:{conv.id}", event))
    outbox.events.append(("console", event))


def is_typing(until: datetime | None) -> bool:
    return until is not None and until > utcnow()


def messages_after(session: Session, conversation_id: str, after: int = 0, limit: int = 500) -> list[Message]:
    return list(
        session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.seq > after)
            .order_by(Message.seq)
            .limit(limit)
        )
    )


def deliveries_of(session: Session, conversation_id: str) -> list[dict]:
    rows = session.execute(
        select(Message.seq, Delivery.state, Delivery.attempts, Delivery.last_error)
        .join(Delivery, Delivery.message_id == Message.id)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.seq)
    )
    return [{"seq": seq, "state": state, "attempts": attempts, "last_error": error} for seq, state, attempts, error in rows]


def open_handoff(session: Session, conversation_id: str) -> Handoff | None:
    return session.scalar(
        select(Handoff)
        .where(Handoff.conversation_id == conversation_id, Handoff.closed_at.is_(None))
        .order_by(Handoff.requested_at.desc())
    )


# ---- routing ----------------------------------------------------------------------------------

@dataclass
class HandoffResult:
    handoff: Handoff | None  # None: nobody at all can take it (an empty roster); the bot keeps the chat
    official: Official | None
    already_open: bool
    queue_position: int
    expected_wait_minutes: int | None
    answer_by_local: datetime | None


def _open_chat_counts(session: Session) -> dict[int, int]:
    rows = session.execute(
        select(Handoff.official_id, func.count())
        .where(Handoff.closed_at.is_(None), Handoff.official_id.is_not(None))
        .group_by(Handoff.official_id)
    )
    return {official_id: count for official_id, count in rows}


def _snapshots(session: Session) -> list[routing.OfficialSnapshot]:
    counts = _open_chat_counts(session)
    return [
        routing.OfficialSnapshot(
            id=o.id, name=o.name, unit=o.unit, topics=frozenset(o.topics or ()),
            languages=frozenset(o.languages or ()), working_hours=o.working_hours or {},
            active=o.active, present=o.present, open_chats=counts.get(o.id, 0),
            last_assigned_at=o.last_assigned_at,
        )
        for o in session.scalars(select(Official).order_by(Official.id))
    ]


def _previous_official(session: Session, conv: Conversation) -> int | None:
    """The official who last answered this resident (same web identity or Telegram chat)."""
    return session.scalar(
        select(Handoff.official_id)
        .join(Conversation, Conversation.id == Handoff.conversation_id)
        .where(
            Conversation.resident_key == conv.resident_key,
            Handoff.first_reply_at.is_not(None),
            Handoff.official_id.is_not(None),
        )
        .order_by(Handoff.first_reply_at.desc())
        .limit(1)
    )


def queue_position(session: Session, handoff: Handoff) -> int:
    ahead = session.scalar(
        select(func.count())
        .select_from(Handoff)
        .where(
            Handoff.official_id == handoff.official_id,
            Handoff.closed_at.is_(None),
            Handoff.claimed_at.is_(None),
            Handoff.requested_at < handoff.requested_at,
        )
    )
    return int(ahead or 0) + 1


def expected_wait_minutes(session: Session, topic: str, now: datetime) -> int | None:
    """Median time from request to a person's first reply over recent handoffs; None without history."""
    rows = session.execute(
        select(Handoff.requested_at, Handoff.first_reply_at).where(
            Handoff.topic == topic,
            Handoff.after_hours.is_(False),
            Handoff.first_reply_at.is_not(None),
            Handoff.requested_at >= now - timedelta(days=WAIT_HISTORY_DAYS),
        )
    ).all()
    if len(rows) < WAIT_HISTORY_MIN_SAMPLES:
        return None
    median = statistics.median((reply - asked).total_seconds() for asked, reply in rows)
    return max(1, round(median / 60))


def request_handoff(
    session: Session, conv: Conversation, *, topic: str | None, question: str, reason: str,
    known_topics: set[str], tz: ZoneInfo, service_time: timedelta, contact_centre_unit: str,
    actor: str, outbox: Outbox, now: datetime | None = None,
) -> HandoffResult:
    """Give the conversation a named official, or honestly say who answers when."""
    now = now or utcnow()
    existing = open_handoff(session, conv.id)
    if existing is not None:
        return HandoffResult(
            existing, existing.official, True, queue_position(session, existing),
            expected_wait_minutes(session, existing.topic, now),
            existing.answer_by.replace(tzinfo=timezone.utc).astimezone(tz) if existing.answer_by else None,
        )
    topic_key = topic if topic in known_topics else None
    local_now = now.replace(tzinfo=timezone.utc).astimezone(tz)
    decision = routing.route(
        routing.RouteRequest(topic=topic_key, language=conv.language, previous_official_id=_previous_official(session, conv)),
        _snapshots(session), local_now=local_now, service_time=service_time, contact_centre_unit=contact_centre_unit,
    )
    if decision.official_id is None:
        audit(session, actor, "handoff_unroutable", conversation_id=conv.id, topic=topic_key,
              candidates=list(decision.candidates))
        return HandoffResult(None, None, False, 0, None, None)
    official = session.get(Official, decision.official_id)
    answer_by = decision.answer_by.astimezone(timezone.utc).replace(tzinfo=None) if decision.answer_by else None
    handoff = Handoff(
        conversation_id=conv.id, topic=topic_key or "kontakt", question=question[:MAX_MESSAGE_CHARS],
        reason=reason, official_id=decision.official_id, after_hours=decision.after_hours, answer_by=answer_by,
        requested_at=now, assigned_at=now if official else None,
    )
    session.add(handoff)
    conv.state = ConversationState.waiting
    conv.topic = topic_key or conv.topic
    if official is not None:
        official.last_assigned_at = now
    session.flush()
    session.add(
        RoutingDecision(
            handoff_id=handoff.id, rule=decision.rule, chosen_official_id=decision.official_id,
            candidates=list(decision.candidates), decided_at=now,
        )
    )
    audit(session, actor, "handoff_requested", conversation_id=conv.id, handoff_id=handoff.id,
          topic=handoff.topic, rule=decision.rule, official_id=decision.official_id)
    outbox.queue_changed(conv.id)
    outbox.state(conv)
    return HandoffResult(
        handoff, official, False, queue_position(session, handoff),
        expected_wait_minutes(session, handoff.topic, now),
        decision.answer_by,
    )


# ---- the official's side ----------------------------------------------------------------------

def claim(session: Session, handoff_id: int, official: Official, *, outbox: Outbox, now: datetime | None = None) -> Handoff:
    """Exactly one official wins a claim, however many try at once."""
    now = now or utcnow()
    handoff = session.get(Handoff, handoff_id)
    if handoff is None or handoff.closed_at is not None:
        raise NotFound
    if not can_work_on(official, handoff):
        raise Forbidden
    won = session.execute(
        update(Handoff)
        .where(Handoff.id == handoff_id, Handoff.claimed_at.is_(None), Handoff.closed_at.is_(None))
        .values(claimed_at=now, official_id=official.id)
    ).rowcount
    session.refresh(handoff)
    if not won:
        if handoff.official_id == official.id:
            return handoff
        raise Conflict("already claimed", holder=handoff.official)
    conv = handoff.conversation
    conv.state = ConversationState.with_official
    append_message(session, conv, Author.system, texts.text("claimed", conv.language, namn=official.name, titel=title_for(official, conv.language)), outbox=outbox)
    audit(session, f"official:{official.id}", "claimed", conversation_id=conv.id, handoff_id=handoff.id)
    outbox.queue_changed(conv.id)
    outbox.state(conv)
    return handoff


def _own_open_handoff(session: Session, conversation_id: str, official: Official) -> Handoff:
    handoff = open_handoff(session, conversation_id)
    if handoff is None:
        raise NotFound
    if not can_act_on(official, handoff):
        raise Forbidden
    return handoff


def official_reply(session: Session, conversation_id: str, official: Official, text: str, *, outbox: Outbox) -> Message:
    handoff = open_handoff(session, conversation_id)
    if handoff is None:
        raise NotFound
    if handoff.claimed_at is None and handoff.official_id == official.id:
        claim(session, handoff.id, official, outbox=outbox)
    elif not can_act_on(official, handoff) or handoff.claimed_at is None:
        raise Forbidden
    now = utcnow()
    if handoff.first_reply_at is None:
        handoff.first_reply_at = now
    conv = handoff.conversation
    msg = append_message(session, conv, Author.official, text, official_id=official.id, outbox=outbox)
    audit(session, f"official:{official.id}", "replied", conversation_id=conv.id, handoff_id=handoff.id)
    return msg


def return_to_bot(
    session: Session, conversation_id: str, official: Official, *, label: Callable[[str | None], str | None], outbox: Outbox
) -> Handoff:
    """The bot has the chat again and says so, naming the topic it was about."""
    handoff = _own_open_handoff(session, conversation_id, official)
    conv = handoff.conversation
    topic_label = label(conv.topic, conv.language)
    handoff.closed_at = utcnow()
    handoff.outcome = Outcome.returned_to_bot
    conv.state = ConversationState.bot
    if topic_label:
        line = texts.text("returned_to_bot", conv.language, amne=topic_label if conv.language == "en" else topic_label.lower())
    else:
        line = texts.text("returned_to_bot_no_topic", conv.language)
    append_message(session, conv, Author.system, line, outbox=outbox)
    audit(session, f"official:{official.id}", "returned_to_bot", conversation_id=conv.id, handoff_id=handoff.id)
    resume_bot_later(session, conv, handoff.topic, outbox=outbox)
    outbox.queue_changed(conv.id)
    outbox.state(conv)
    return handoff


def resume_bot_later(session: Session, conv: Conversation, topic: str | None, *, outbox: Outbox) -> None:
    """Rasa's tracker resumes (the handoff paused it) and remembers the topic; the events are sent after
    commit, and again until Rasa has them, before the conversation's next message reaches Rasa."""
    events = [{"event": "resume"}]
    if topic:
        events.append({"event": "slot", "name": "topic", "value": topic})
    # The handoff action paused the tracker before Rasa listened again: listen now, so the next message
    # is predicted as a fresh turn and not as a follow-up of the handoff.
    events.append({"event": "action", "name": "action_listen"})
    session.add(BotEvent(conversation_id=conv.id, events=events))
    outbox.bot_events.append(conv.id)


def close(session: Session, conversation_id: str, official: Official, outcome: Outcome, *, outbox: Outbox) -> Handoff:
    handoff = _own_open_handoff(session, conversation_id, official)
    handoff.closed_at = utcnow()
    handoff.outcome = outcome
    conv = handoff.conversation
    conv.state = ConversationState.closed
    append_message(session, conv, Author.system, texts.text("closed", conv.language, namn=official.name), outbox=outbox)
    audit(session, f"official:{official.id}", "closed", conversation_id=conv.id, handoff_id=handoff.id, outcome=outcome.value)
    resume_bot_later(session, conv, handoff.topic, outbox=outbox)  # the next message goes to the bot, which must listen
    outbox.queue_changed(conv.id)
    outbox.state(conv)
    return handoff


def resident_leaves(session: Session, conv: Conversation, *, outbox: Outbox) -> Handoff | None:
    """The resident ends the talk with a person (outcome abandoned); None when no handoff is open."""
    handoff = open_handoff(session, conv.id)
    if handoff is None:
        return None
    handoff.closed_at = utcnow()
    handoff.outcome = Outcome.abandoned
    conv.state = ConversationState.closed
    official = handoff.official
    line = (texts.text("left", conv.language, namn=official.name) if official is not None
            else texts.text("left_no_name", conv.language))
    append_message(session, conv, Author.system, line, outbox=outbox)
    audit(session, "resident", "resident_left", conversation_id=conv.id, handoff_id=handoff.id,
          outcome=Outcome.abandoned.value)
    resume_bot_later(session, conv, handoff.topic, outbox=outbox)
    outbox.queue_changed(conv.id)
    outbox.state(conv)
    return handoff


def transfer(
    session: Session, conversation_id: str, official: Official, colleague_id: int, reason: str, *, outbox: Outbox
) -> Handoff:
    handoff = _own_open_handoff(session, conversation_id, official)
    colleague = session.get(Official, colleague_id)
    if colleague is None or not colleague.active or colleague.id == official.id:
        raise NotFound
    handoff.official_id = colleague.id
    handoff.claimed_at = None
    handoff.assigned_at = utcnow()
    conv = handoff.conversation
    conv.state = ConversationState.waiting
    key = "transferred_reason" if reason.strip() else "transferred"
    append_message(
        session, conv, Author.system,
        texts.text(key, conv.language, namn=colleague.name, titel=title_for(colleague, conv.language), orsak=reason.strip()), outbox=outbox,
    )
    audit(session, f"official:{official.id}", "transferred", conversation_id=conv.id, handoff_id=handoff.id,
          to_official_id=colleague.id)
    outbox.queue_changed(conv.id)
    outbox.state(conv)
    return handoff


def queue_for(session: Session, official: Official) -> list[Handoff]:
    """Open handoffs the official may work on: their own first, then their topics', oldest first."""
    handoffs = session.scalars(
        select(Handoff).where(Handoff.closed_at.is_(None)).order_by(Handoff.requested_at)
    ).all()
    mine = [h for h in handoffs if can_work_on(official, h)]
    return sorted(mine, key=lambda h: (h.official_id != official.id, h.requested_at))


def _reroute(session: Session, handoff: Handoff, *, excluded_id: int, local_now: datetime,
             service_time: timedelta, contact_centre_unit: str) -> routing.Decision:
    """Route the handoff again as if the excluded official were not on the roster."""
    return routing.route(
        routing.RouteRequest(topic=handoff.topic, language=handoff.conversation.language),
        [s for s in _snapshots(session) if s.id != excluded_id],
        local_now=local_now, service_time=service_time, contact_centre_unit=contact_centre_unit,
    )


def _record_move(session: Session, handoff: Handoff, decision: routing.Decision, *, rule: str, action: str,
                 from_id: int, text_key: str, outbox: Outbox, now: datetime, **text_values: str) -> None:
    """Store why the chat moved, and tell the resident who has it now."""
    successor = session.get(Official, decision.official_id) if decision.official_id else None
    session.add(RoutingDecision(handoff_id=handoff.id, rule=f"{rule}:{decision.rule}",
                                chosen_official_id=decision.official_id, candidates=list(decision.candidates)))
    if successor is not None:
        successor.last_assigned_at = now
        append_message(session, handoff.conversation, Author.system,
                       texts.text(text_key, handoff.conversation.language, namn=successor.name,
                                  titel=title_for(successor, handoff.conversation.language), **text_values), outbox=outbox)
    audit(session, "system", action, conversation_id=handoff.conversation_id, handoff_id=handoff.id,
          from_official_id=from_id, to_official_id=decision.official_id)
    outbox.queue_changed(handoff.conversation_id)


def reassign_from(
    session: Session, official_id: int, *, tz: ZoneInfo, service_time: timedelta, contact_centre_unit: str,
    outbox: Outbox,
) -> list[Handoff]:
    """An official has left: every open chat they had goes to a colleague, and the resident is told who."""
    leaver = session.get(Official, official_id)
    now = utcnow()
    local_now = now.replace(tzinfo=timezone.utc).astimezone(tz)
    moved = session.scalars(
        select(Handoff).where(Handoff.official_id == official_id, Handoff.closed_at.is_(None))
    ).all()
    for handoff in moved:
        decision = _reroute(session, handoff, excluded_id=official_id, local_now=local_now,
                            service_time=service_time, contact_centre_unit=contact_centre_unit)
        handoff.official_id = decision.official_id
        handoff.claimed_at = None
        handoff.assigned_at = now
        handoff.after_hours = decision.after_hours
        handoff.answer_by = decision.answer_by.astimezone(timezone.utc).replace(tzinfo=None) if decision.answer_by else None
        handoff.conversation.state = ConversationState.waiting
        _record_move(session, handoff, decision, rule="reassign", action="reassigned", from_id=official_id,
                     text_key="reassigned_left", outbox=outbox, now=now, gammal=leaver.name)
    session.flush()
    return list(moved)


def load_roster(
    session: Session, officials: list[roster.OfficialIn], *, actor: str, outbox: Outbox, tz: ZoneInfo,
    service_time: timedelta, contact_centre_unit: str,
) -> roster.RosterChange:
    """Replace the roster: officials not listed are deactivated, never deleted; their open chats go to a colleague."""
    change = roster.apply(session, officials)
    for official_id in change.left_ids:
        reassign_from(session, official_id, tz=tz, service_time=service_time, contact_centre_unit=contact_centre_unit,
                      outbox=outbox)
    audit(session, actor, "roster_loaded", arrived=change.arrived, left=change.left, updated=change.updated)
    return change


def reassign_unclaimed(
    session: Session, *, timeout: timedelta, tz: ZoneInfo, service_time: timedelta, contact_centre_unit: str,
    outbox: Outbox, now: datetime | None = None,
) -> list[Handoff]:
    """A chat nobody claimed in time (in working hours) is offered to the next competent official.
    Safe with several replicas: each move is a conditional update on the assignment time."""
    now = now or utcnow()
    local_now = now.replace(tzinfo=timezone.utc).astimezone(tz)
    stale = session.scalars(
        select(Handoff).where(
            Handoff.closed_at.is_(None), Handoff.claimed_at.is_(None), Handoff.after_hours.is_(False),
            Handoff.official_id.is_not(None), Handoff.assigned_at < now - timeout,
        )
    ).all()
    moved = []
    for handoff in stale:
        previous_id = handoff.official_id
        decision = _reroute(session, handoff, excluded_id=previous_id, local_now=local_now,
                            service_time=service_time, contact_centre_unit=contact_centre_unit)
        if decision.official_id is None or decision.after_hours:
            continue  # nobody else at work: the assigned official keeps it
        won = session.execute(
            update(Handoff)
            .where(Handoff.id == handoff.id, Handoff.assigned_at == handoff.assigned_at, Handoff.claimed_at.is_(None))
            .values(official_id=decision.official_id, assigned_at=now)
        ).rowcount
        if not won:
            continue  # another replica moved it, or someone claimed it meanwhile
        session.refresh(handoff)
        _record_move(session, handoff, decision, rule="unclaimed", action="reassigned_unclaimed",
                     from_id=previous_id, text_key="reassigned_timeout", outbox=outbox, now=now)
        moved.append(handoff)
    session.flush()
    return moved
