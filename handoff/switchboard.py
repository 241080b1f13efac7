"""The running switchboard: storage, events and Rasa together, for every channel.
A resident message is stored first, then goes to the bot or stays for the official."""
from __future__ import annotations

import asyncio
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from . import service, texts
from .catalogue import Catalogue
from .config import Settings
from .events import LocalBus
from bot import emergency_phrases
from bot import language as languages

from .models import AnswerFeedback, Author, Conversation, ConversationState, Handoff, Message
from .pii import mask_personnummer
from .rasa import RasaClient, RasaUnavailable
from .service import Outbox

# A button's payload: "/intent", or "/intent{"entity":"value"}" for the entities the assistant's own
# buttons carry: which answer "Fick du svar?" is about, and the language to switch to.
PAYLOAD = re.compile(r'^/([a-z_]{1,64})(\{"(svar|language)":"([a-z0-9_/]{1,130})"\})?$')


class BadMessage(ValueError):
    """A resident message that cannot be taken; the text says why, in Swedish."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


class Channel(Protocol):
    """A way out to residents other than the web (which reads from the API itself)."""

    async def deliver(self, message: dict) -> None: ...


def _unique_buttons(buttons: list[dict]) -> list[dict]:
    """Rasa repeats a response's buttons when a custom action sends it: keep each once."""
    seen, unique = set(), []
    for b in buttons:
        key = (b.get("title", ""), b.get("payload", ""))
        if key not in seen:
            seen.add(key)
            unique.append({"title": key[0], "payload": key[1]})
    return unique


@dataclass
class Switchboard:
    settings: Settings
    sessions: sessionmaker[Session]
    bus: LocalBus
    rasa: RasaClient
    catalogue: Catalogue
    tz: ZoneInfo
    channels: dict[str, Channel] = field(default_factory=dict)

    async def publish(self, outbox: Outbox) -> None:
        """Called after commit only, so nobody is shown what was not stored."""
        line_moved = any(channel == "console" and event.get("type") == "queue" for channel, event in outbox.events)
        for channel, event in outbox.events:
            await self.bus.publish(channel, event)
        outbox.events.clear()
        if line_moved:  # every waiting resident's place in line may have changed: tell them to look
            for conversation_id in await asyncio.to_thread(self._waiting_conversations):
                await self.bus.publish(f"conversation:{conversation_id}",
                                       {"type": "queue", "conversation_id": conversation_id})
        for name, message in outbox.deliveries:
            if name in self.channels:
                await self.channels[name].deliver(message)
        outbox.deliveries.clear()

    def _known_payload(self, payload: str | None) -> re.Match | None:
        match = PAYLOAD.match(payload or "")
        if not match or match.group(1) not in self.catalogue.button_intents():
            return None
        entity, value = match.group(3), match.group(4)
        if entity == "language" and value not in languages.LANGUAGES:
            return None
        if entity == "svar" and value.split("/", 1)[0] not in self.catalogue.topic_keys:
            return None
        return match

    def check_resident_text(self, text: str, payload: str | None) -> tuple[str, str | None]:
        """The text to store and the button payload to pass on (only known intents), or BadMessage."""
        text = (text or "").strip()
        payload = payload if self._known_payload(payload) else None
        if not text and payload:
            text = payload
        if not text:
            raise BadMessage(422, texts.text("error_empty"))
        if len(text) > service.MAX_MESSAGE_CHARS:
            raise BadMessage(413, texts.text("error_too_long", max="4 000"))
        return text, payload

    def _waiting_conversations(self) -> list[str]:
        with self.sessions() as session:
            return list(session.scalars(select(Handoff.conversation_id).where(
                Handoff.closed_at.is_(None), Handoff.claimed_at.is_(None))))

    def first_result(self, conversation_id: str, client_id: str) -> tuple[str, str, list[dict]] | None:
        """What a send with this client id gave the first time: the conversation's state and language, the
        resident's message and the answers stored after it (until the resident's next message); None if
        no message has this id."""
        with self.sessions() as session:
            first = session.scalar(select(Message).where(Message.conversation_id == conversation_id,
                                                         Message.client_id == client_id))
            if first is None:
                return None
            conv = session.get(Conversation, conversation_id)
            later = session.scalars(select(Message).where(Message.conversation_id == conversation_id,
                                                          Message.seq > first.seq).order_by(Message.seq))
            answers = list(itertools.takewhile(lambda m: m.author != Author.resident, later))
            return (service.state_name(conv), conv.language,
                    [service.message_dict(first), *(service.message_dict(m) for m in answers)])

    async def resident_says(self, conversation_id: str, text: str, payload: str | None = None,
                            client_id: str | None = None) -> tuple[str, str, list[dict]]:
        """Store the resident's message; while the bot has the chat, ask Rasa and store its answers.
        Returns the conversation's state and language and the new messages. A send with a client id that
        was already stored (a retry) stores nothing, asks nobody and returns what the first one gave."""
        text, payload = self.check_resident_text(text, payload)
        if client_id is not None:
            earlier = await asyncio.to_thread(self.first_result, conversation_id, client_id)
            if earlier is not None:
                return earlier
        match = self._known_payload(payload)
        button = (match.group(1), match.group(3), match.group(4)) if match else None
        detected = None if payload else languages.detect(text)
        # Real danger is checked in every state, with the assistant's own definition: a resident who
        # waits for a person (after hours nobody may read the queue until morning) gets 112 at once.
        danger = not payload and emergency_phrases.matching(text) is not None
        outbox = Outbox()
        try:
            with self.sessions() as session, session.begin():
                conv = session.get(Conversation, conversation_id)
                if conv.state == ConversationState.closed:
                    conv.state = ConversationState.bot
                if button and button[1] == "language":
                    conv.language = button[2]
                elif detected:
                    conv.language = detected
                first = service.append_message(session, conv, Author.resident, text, outbox=outbox, client_id=client_id)
                if button and button[0] in ("feedback_yes", "feedback_no") and button[1] == "svar":
                    session.add(AnswerFeedback(conversation_id=conv.id, answer=button[2],
                                               topic=button[2].split("/", 1)[0],
                                               helped=button[0] == "feedback_yes", language=conv.language))
                to_bot, language = conv.state == ConversationState.bot, conv.language
                new = [service.message_dict(first)]
                if danger and not to_bot:
                    new.append(self._emergency(session, conv, first, outbox))
        except IntegrityError:
            # The same id sent twice at once: the other send stored it first, and this one is its retry.
            earlier = await asyncio.to_thread(self.first_result, conversation_id, client_id) if client_id else None
            if earlier is None:
                raise
            return earlier
        await self.publish(outbox)
        if to_bot:
            # Rasa never sees a personnummer, and a typed "/restart" is text, not a command.
            new += await self._ask_bot(conversation_id, payload or mask_personnummer(text).lstrip("/"), language,
                                       danger=danger)
        with self.sessions() as session:
            conv = session.get(Conversation, conversation_id)
            return service.state_name(conv), conv.language, new

    async def welcome(self, conversation_id: str) -> list[dict]:
        """The assistant speaks first: who it is, that a person can take over, the personnummer notice,
        the most asked topics and the other language as buttons. Only in a conversation with no messages."""
        outbox = Outbox()
        with self.sessions() as session, session.begin():
            conv = session.get(Conversation, conversation_id)
            if conv is None or conv.last_seq:
                return []
            lang = conv.language
            other = languages.ENGLISH if lang != languages.ENGLISH else languages.SWEDISH
            buttons = [{"title": self.catalogue.label(t, lang), "payload": f"/{t}"} for t in self.catalogue.most_asked()]
            switch = json.dumps({"language": other}, separators=(",", ":"))
            buttons.append({"title": texts.text("welcome_switch", lang), "payload": f"/byt_sprak{switch}"})
            msg = service.append_message(
                session, conv, Author.bot, texts.text("welcome", lang, kommun=self.catalogue.facts.get("kommun", "")),
                buttons=buttons, outbox=outbox)
            new = [service.message_dict(msg)]
        await self.publish(outbox)
        return new

    def _emergency(self, session: Session, conv: Conversation, said: Message, outbox: Outbox) -> dict:
        """112 to the resident, in their language, and an alert in the console for the official who has
        the chat (or the contact centre, when nobody has it)."""
        handoff = service.open_handoff(session, conv.id)
        official = handoff.official if handoff is not None else None
        who = official.name if official is not None else texts.text("emergency_staff_contact_centre", conv.language)
        msg = service.append_message(session, conv, Author.system, texts.text("emergency", conv.language, vem=who),
                                     outbox=outbox)
        outbox.events.append(("console", {"type": "emergency", "conversation_id": conv.id, "seq": said.seq,
                                          "official_id": official.id if official is not None else None}))
        return service.message_dict(msg)

    async def _ask_bot(self, conversation_id: str, message: str, language: str, *, danger: bool = False) -> list[dict]:
        author = Author.bot
        try:
            replies = await self.rasa.send(conversation_id, message)
        except RasaUnavailable:
            if danger:  # the assistant cannot say 112 now: the switchboard does
                outbox = Outbox()
                with self.sessions() as session, session.begin():
                    conv = session.get(Conversation, conversation_id)
                    said = session.scalar(select(Message).where(Message.conversation_id == conversation_id,
                                                                Message.author == Author.resident)
                                          .order_by(Message.seq.desc()).limit(1))
                    stored = [self._emergency(session, conv, said, outbox)]
                await self.publish(outbox)
                return stored
            author = Author.system
            replies = [{"text": texts.text("bot_unavailable", language, telefon=self.catalogue.facts.get("telefon", ""))}]
        outbox = Outbox()
        with self.sessions() as session, session.begin():
            conv = session.get(Conversation, conversation_id)
            stored = []
            for reply in replies:
                if not reply.get("text"):
                    continue
                buttons = _unique_buttons(reply.get("buttons") or [])
                msg = service.append_message(session, conv, author, reply["text"], buttons=buttons or None, outbox=outbox)
                stored.append(service.message_dict(msg))
        await self.publish(outbox)
        return stored

    async def resume_bot(self, conversation_id: str, topic: str | None) -> None:
        """Keep Rasa's history true: the tracker resumes and remembers the topic."""
        events = [{"event": "resume"}]
        if topic:
            events.append({"event": "slot", "name": "topic", "value": topic})
        # The handoff action paused the tracker before Rasa listened again: listen now, so
        # the next message is predicted as a fresh turn and not as a follow-up of the handoff.
        events.append({"event": "action", "name": "action_listen"})
        try:
            await self.rasa.append_events(conversation_id, events)
        except RasaUnavailable:
            pass  # the next resident message still goes to Rasa; its history only lacks the marker
