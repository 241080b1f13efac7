"""The running switchboard: storage, events and Rasa together, for every channel.
A resident message is stored first, then goes to the bot or stays for the official."""
from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from . import service, texts
from .catalogue import Catalogue
from .config import Settings
from .events import LocalBus
from bot import language as languages

from .models import AnswerFeedback, Author, Conversation, ConversationState, Handoff
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

    async def resident_says(self, conversation_id: str, text: str, payload: str | None = None) -> tuple[str, list[dict]]:
        """Store the resident's message; while the bot has the chat, ask Rasa and store its answers.
        Returns the conversation's state and the new messages."""
        text, payload = self.check_resident_text(text, payload)
        match = self._known_payload(payload)
        button = (match.group(1), match.group(3), match.group(4)) if match else None
        detected = None if payload else languages.detect(text)
        outbox = Outbox()
        with self.sessions() as session, session.begin():
            conv = session.get(Conversation, conversation_id)
            if conv.state == ConversationState.closed:
                conv.state = ConversationState.bot
            if button and button[1] == "language":
                conv.language = button[2]
            elif detected:
                conv.language = detected
            first = service.append_message(session, conv, Author.resident, text, outbox=outbox)
            if button and button[0] in ("feedback_yes", "feedback_no") and button[1] == "svar":
                session.add(AnswerFeedback(conversation_id=conv.id, answer=button[2], topic=button[2].split("/", 1)[0],
                                           helped=button[0] == "feedback_yes", language=conv.language))
            to_bot, language = conv.state == ConversationState.bot, conv.language
            new = [service.message_dict(first)]
        await self.publish(outbox)
        if to_bot:
            # Rasa never sees a personnummer, and a typed "/restart" is text, not a command.
            new += await self._ask_bot(conversation_id, payload or mask_personnummer(text).lstrip("/"), language)
        with self.sessions() as session:
            conv = session.get(Conversation, conversation_id)
            return conv.state, conv.language, new

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

    async def _ask_bot(self, conversation_id: str, message: str, language: str) -> list[dict]:
        author = Author.bot
        try:
            replies = await self.rasa.send(conversation_id, message)
        except RasaUnavailable:
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
