"""The running switchboard: storage, events and Rasa together, for every channel.
A resident message is stored first, then goes to the bot or stays for the official."""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from . import access, service, texts
from .catalogue import Catalogue
from .config import Settings
from .events import LocalBus
from bot import emergency_phrases
from bot import language as languages

from . import roster
from .models import (AnswerFeedback, Author, BotEvent, Conversation, ConversationState, Handoff, Message, Official,
                     Outcome, utcnow)
from . import pii
from .rasa import RasaClient, RasaUnavailable
from .schemas import HandoffAnswer
from .service import Outbox
from .timefmt import said_datetime

T = TypeVar("T")
log = logging.getLogger(__name__)
LATE_ANSWER_LIMIT = timedelta(days=1)

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


_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def printable(text: str) -> str:
    """Text without control characters (tab and line breaks stay) and without lone surrogates, which
    no database stores and no reader sees."""
    return _UNPRINTABLE.sub("", text)


def _again_if_disconnected(work: Callable[[], T]) -> T:
    """Run a unit of work; if the database dropped the connection (a restart, a fail-over, a terminated
    backend), run it once more on a fresh one. Use-cases are safe to repeat: a resident's send finds its
    own client id, the others change state by conditional updates."""
    try:
        return work()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        log.warning("database connection lost (%s); the unit of work runs again", type(exc.orig).__name__)
        return work()


def _answered(replies: list[dict] | None) -> bool:
    """Rasa answered with something the resident can read."""
    return bool(replies) and any(r.get("text") for r in replies)


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

    # -- the one way a use-case runs --

    async def run(self, change: Callable[[Session, Outbox], T]) -> T:
        """One use-case's unit of work: in a worker thread (the event loop keeps serving everyone else),
        committed as a whole, then published. Nothing is shown or sent that was not stored."""
        outbox = Outbox()
        result = await asyncio.to_thread(self._commit, change, outbox)
        await self.publish(outbox)
        return result

    def _commit(self, change: Callable[[Session, Outbox], T], outbox: Outbox) -> T:
        def once() -> T:
            outbox.clear()  # what a first try that did not commit would have published
            with self.sessions() as session, session.begin():
                return change(session, outbox)

        return _again_if_disconnected(once)

    async def read(self, query: Callable[[Session], T]) -> T:
        """A read in a worker thread, off the event loop."""
        return await asyncio.to_thread(self._read, query)

    def _read(self, query: Callable[[Session], T]) -> T:
        def once() -> T:
            with self.sessions() as session:
                return query(session)

        return _again_if_disconnected(once)

    def _policy(self) -> dict:
        return {"tz": self.tz, "service_time": timedelta(minutes=self.settings.service_time_minutes),
                "contact_centre_unit": self.settings.contact_centre_unit}

    async def publish(self, outbox: Outbox) -> None:
        """Called after commit only, so nobody is shown what was not stored."""
        line_moved = any(channel == "console" and event.get("type") == "queue" for channel, event in outbox.events)
        for channel, event in outbox.events:
            await self.bus.publish(channel, event)
        outbox.events.clear()
        if line_moved:  # every waiting resident's place in line may have changed: tell them to look
            for conversation_id in await self.read(self._waiting_conversations):
                await self.bus.publish(f"conversation:{conversation_id}",
                                       {"type": "queue", "conversation_id": conversation_id})
        for name, message in outbox.deliveries:
            if name in self.channels:
                await self.channels[name].deliver(message)
        outbox.deliveries.clear()
        for conversation_id in dict.fromkeys(outbox.bot_events):
            await self.send_bot_events(conversation_id)
        outbox.bot_events.clear()

    async def send_bot_events(self, conversation_id: str | None = None) -> bool:
        """Send Rasa the tracker events still pending (of one conversation, or of all), oldest first; True
        when Rasa has them all. At least once: resuming and listening again twice changes nothing."""
        def pending(session: Session) -> list[tuple[int, str, list]]:
            query = select(BotEvent).where(BotEvent.sent_at.is_(None)).order_by(BotEvent.id).limit(200)
            if conversation_id is not None:
                query = query.where(BotEvent.conversation_id == conversation_id)
            return [(row.id, row.conversation_id, row.events) for row in session.scalars(query)]

        failed: set[str] = set()
        for row_id, conv_id, events in await self.read(pending):
            if conv_id in failed:
                continue  # keep each conversation's events in order
            try:
                await self.rasa.append_events(conv_id, events)
            except RasaUnavailable:
                failed.add(conv_id)
                continue
            await self.run(lambda session, outbox: session.execute(
                update(BotEvent).where(BotEvent.id == row_id).values(sent_at=utcnow())))
        return not failed

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

    def check_resident_text(self, text: str, payload: str | None) -> tuple[str, str | None, bool]:
        """The text to store, the button payload to pass on (only known intents) and whether a
        personnummer was hidden; or BadMessage. Control characters (NUL included) and broken
        characters are dropped, a message of only invisible characters is empty, and personnummer
        and samordningsnummer are masked before anything stores, shows, logs or sends them."""
        text = pii.INVISIBLE.sub("", printable(text or "")).strip()
        payload = payload if self._known_payload(payload) else None
        text = text or payload or ""
        if not text:
            raise BadMessage(422, texts.text("error_empty"))
        if len(text) > service.MAX_MESSAGE_CHARS:
            raise BadMessage(413, texts.text("error_too_long", max="4 000"))
        masked = pii.mask_personnummer(text)
        return masked, payload, masked != text

    @staticmethod
    def _waiting_conversations(session: Session) -> list[str]:
        return list(session.scalars(select(Handoff.conversation_id).where(
            Handoff.closed_at.is_(None), Handoff.claimed_at.is_(None))))

    async def first_result(self, conversation_id: str, client_id: str) -> tuple[str, str, list[dict]] | None:
        """What a send with this client id gave the first time; None if no message has this id."""
        return await self.read(lambda session: self._first_result(session, conversation_id, client_id))

    @staticmethod
    def _first_result(session: Session, conversation_id: str, client_id: str) -> tuple[str, str, list[dict]] | None:
        """The conversation's state and language, the resident's message with this client id and the
        answers stored after it (until the resident's next message); None if no message has this id."""
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

    # -- the resident's use-cases --

    async def open_web_conversation(self, language: str) -> tuple[str, str, str]:
        """A new web conversation (id, the resident's secret, language); the assistant speaks first."""
        def change(session: Session, outbox: Outbox) -> tuple[str, str, str]:
            conv, secret = service.open_web_conversation(session, language=language)
            return conv.id, secret, conv.language

        conversation_id, secret, language = await self.run(change)
        await self.welcome(conversation_id)
        return conversation_id, secret, language

    async def telegram_conversation(self, chat_id: int) -> str:
        """The Telegram chat's conversation, opened on first contact."""
        return await self.run(lambda session, outbox: service.telegram_conversation(session, chat_id).id)

    async def resident_says(self, conversation_id: str, text: str, payload: str | None = None,
                            client_id: str | None = None) -> tuple[str, str, list[dict]]:
        """Store the resident's message; while the bot has the chat, ask Rasa and store its answers.
        Returns the conversation's state and language and the new messages. A send with a client id that
        was already stored (a retry) stores nothing, asks nobody and returns what the first one gave."""
        text, payload, hidden = self.check_resident_text(text, payload)
        match = self._known_payload(payload)
        button = (match.group(1), match.group(3), match.group(4)) if match else None
        detected = None if payload else languages.detect(text)
        # Real danger is checked in every state, with the assistant's own definition: a resident who
        # waits for a person (after hours nobody may read the queue until morning) gets 112 at once.
        danger = not payload and emergency_phrases.matching(text) is not None

        def store(session: Session, outbox: Outbox):
            if client_id is not None:
                earlier = self._first_result(session, conversation_id, client_id)
                if earlier is not None:
                    return earlier, (False, False, None, None)
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
            new = [service.message_dict(first)]
            if hidden:  # the resident sees that, and why, the number is gone
                new.append(service.message_dict(service.append_message(
                    session, conv, Author.system, texts.text("personnummer_hidden", conv.language), outbox=outbox)))
            to_bot = conv.state == ConversationState.bot
            if danger and not to_bot:
                new.append(self._emergency(session, conv, first, outbox))
            behind = False
            if to_bot:
                # Rasa never sees a personnummer, and a typed "/restart" is text, not a command.
                first.awaiting_bot, first.bot_input = True, payload or text.lstrip("/")
                first.bot_tried_at = utcnow()
                # What Rasa has not had yet goes first: the resume of an earlier handoff (or Rasa stays
                # paused) and earlier messages it did not answer.
                behind = session.scalar(select(BotEvent.id).where(
                    BotEvent.conversation_id == conv.id, BotEvent.sent_at.is_(None)).limit(1)) is not None \
                    or session.scalar(select(Message.id).where(
                        Message.conversation_id == conv.id, Message.awaiting_bot.is_(True), Message.id != first.id)
                        .limit(1)) is not None
            return (service.state_name(conv), conv.language, new), (to_bot, behind, first.id, first.bot_input)

        try:
            result, (to_bot, behind, message_id, bot_input) = await self.run(store)
        except IntegrityError:
            # The same id sent twice at once: the other send stored it first, and this one is its retry.
            earlier = await self.first_result(conversation_id, client_id) if client_id else None
            if earlier is None:
                raise
            return earlier
        if not to_bot:
            return result
        _, language, new = result
        state, language, answers = await self._ask_bot(conversation_id, message_id, bot_input, language,
                                                       danger=danger, behind=behind)
        return state, language, new + answers

    async def welcome(self, conversation_id: str) -> list[dict]:
        """The assistant speaks first: who it is, that a person can take over, the personnummer notice,
        the most asked topics and the other language as buttons. Only in a conversation with no messages."""
        def change(session: Session, outbox: Outbox) -> list[dict]:
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
            return [service.message_dict(msg)]

        return await self.run(change)

    async def resident_typing(self, conversation_id: str, secret: str | None) -> None:
        """The resident is writing: the official sees it for a few seconds. NotFound if the secret is wrong."""
        def change(session: Session, outbox: Outbox) -> None:
            conv = service.resident_conversation(session, conversation_id, secret)
            service.mark_typing(session, conv, "resident", outbox=outbox)

        await self.run(change)

    async def resident_leaves(self, conversation_id: str) -> bool:
        """The resident ends the talk with a person (the handoff closes as abandoned) and the bot listens
        again; False when no handoff was open."""
        def change(session: Session, outbox: Outbox) -> Handoff | None:
            return service.resident_leaves(session, session.get(Conversation, conversation_id), outbox=outbox)

        return await self.run(change) is not None

    # -- the officials' use-cases --

    async def _official_does(self, official_id: int, act: Callable[[Session, Official, Outbox], T]) -> T:
        return await self.run(lambda session, outbox: act(session, session.get(Official, official_id), outbox))

    async def claim(self, handoff_id: int, official_id: int) -> None:
        await self._official_does(official_id, lambda s, o, box: service.claim(s, handoff_id, o, outbox=box))

    async def reply(self, conversation_id: str, official_id: int, text: str) -> dict:
        text = pii.mask_personnummer(printable(text)).strip()  # an official's line is stored too
        return await self._official_does(official_id, lambda s, o, box: service.message_dict(
            service.official_reply(s, conversation_id, o, text, outbox=box)))

    async def transfer(self, conversation_id: str, official_id: int, colleague_id: int, reason: str) -> None:
        await self._official_does(official_id, lambda s, o, box: service.transfer(
            s, conversation_id, o, colleague_id, reason, outbox=box))

    async def return_to_bot(self, conversation_id: str, official_id: int) -> None:
        await self._official_does(official_id, lambda s, o, box: service.return_to_bot(
            s, conversation_id, o, label=self.catalogue.label, outbox=box))

    async def close(self, conversation_id: str, official_id: int, outcome: Outcome) -> None:
        await self._official_does(official_id, lambda s, o, box: service.close(s, conversation_id, o, outcome, outbox=box))

    async def official_typing(self, conversation_id: str, official_id: int) -> None:
        """The official is writing: the resident sees it for a few seconds."""
        def mark(session: Session, official: Official, outbox: Outbox) -> None:
            handoff = service.open_handoff(session, conversation_id)
            if not access.can_act_on(official, handoff):
                raise service.Forbidden
            service.mark_typing(session, handoff.conversation, "official", outbox=outbox, name=official.name)

        await self._official_does(official_id, mark)

    async def set_presence(self, official_id: int, present: bool) -> None:
        def change(session: Session, official: Official, outbox: Outbox) -> None:
            official.present = present
            service.audit(session, f"official:{official.id}", "presence", present=present)

        await self._official_does(official_id, change)

    # -- the assistant's and the administrator's use-cases, and the background ones --

    async def request_handoff(self, conversation_id: str, *, topic: str | None, question: str, reason: str,
                              language: str | None) -> HandoffAnswer:
        """The assistant asks for a person: a named official now, or who answers when; NotFound if unknown."""
        def change(session: Session, outbox: Outbox) -> HandoffAnswer:
            conv = session.get(Conversation, conversation_id)
            if conv is None:
                raise service.NotFound
            if language:
                conv.language = language
            result = service.request_handoff(
                session, conv, topic=topic, question=pii.mask_personnummer(printable(question)), reason=reason,
                known_topics=self.catalogue.topic_keys, actor="action-server", outbox=outbox, **self._policy())
            official = result.official
            if result.already_open:
                status = "already_open"
            elif result.handoff is None:
                status = "nobody"
            else:
                status = "after_hours" if result.handoff.after_hours else "assigned"
            return HandoffAnswer(
                handoff_id=result.handoff.id if result.handoff else None, status=status,
                official={"id": official.id, "name": official.name,
                          "title": service.title_for(official, conv.language)} if official else None,
                queue_position=result.queue_position, expected_wait_minutes=result.expected_wait_minutes,
                answer_by=result.answer_by_local,
                answer_by_text=said_datetime(result.answer_by_local, conv.language) if result.answer_by_local else None,
            )

        return await self.run(change)

    async def load_roster(self, officials: list, *, actor: str = "admin") -> roster.RosterChange:
        """Replace the roster; officials not listed are deactivated and their open chats go to a colleague."""
        return await self.run(lambda session, outbox: service.load_roster(
            session, officials, actor=actor, outbox=outbox, **self._policy()))

    async def reassign_unclaimed(self) -> int:
        """Chats nobody claimed in time go to the next competent official."""
        return len(await self.run(lambda session, outbox: service.reassign_unclaimed(
            session, timeout=timedelta(seconds=self.settings.claim_timeout_seconds), outbox=outbox, **self._policy())))

    # -- helpers --

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

    async def _ask_bot(self, conversation_id: str, message_id: int, bot_input: str, language: str, *,
                       danger: bool = False, behind: bool = False) -> tuple[str, str, list[dict]]:
        """Rasa's answers to a stored message, stored; the conversation's state and language after them.
        `behind`: Rasa still lacks earlier events or messages of this conversation, which go first.
        When Rasa cannot answer, the resident is never left in silence: real danger gets 112, a request
        for a person gets a named official from the switchboard itself, anything else is told that the
        answer comes when the assistant is back (and it does: see answer_waiting)."""
        try:
            if behind and not await self._catch_up(conversation_id, before=message_id):
                raise RasaUnavailable
            replies = await self.rasa.send(conversation_id, bot_input, message_id=message_id)
        except RasaUnavailable:
            replies = None

        def store(session: Session, outbox: Outbox) -> tuple[str, str, list[dict]]:
            conv, said = session.get(Conversation, conversation_id), session.get(Message, message_id)
            if not said.awaiting_bot:  # answered meanwhile (this unit of work ran before and committed)
                return service.state_name(conv), conv.language, []
            # No text at all in the bot's state means a part of the assistant failed (the action server
            # is down): the resident is told, as when Rasa is down, and the message waits for its answer.
            if _answered(replies) or (replies is not None and conv.state != ConversationState.bot):
                stored = self._store_answers(session, conv, said, replies, outbox)
            elif danger:  # the assistant cannot say 112 now: the switchboard does
                said.awaiting_bot, said.bot_tried_at = False, None
                stored = [self._emergency(session, conv, said, outbox)]
            elif bot_input == "/request_human":
                said.awaiting_bot, said.bot_tried_at = False, None
                stored = [self._person_without_bot(session, conv, said, outbox)]
            else:
                said.bot_tried_at = None  # no send under way: the background check tries again
                telefon = self.catalogue.facts.get("telefon", "")
                msg = service.append_message(
                    session, conv, Author.system, texts.text("bot_unavailable", conv.language, telefon=telefon),
                    buttons=[{"title": texts.text("person_button", conv.language), "payload": "/request_human"}],
                    outbox=outbox)
                stored = [service.message_dict(msg)]
            return service.state_name(conv), conv.language, stored

        return await self.run(store)

    @staticmethod
    def _store_answers(session: Session, conv: Conversation, said: Message, replies: list[dict],
                       outbox: Outbox) -> list[dict]:
        said.awaiting_bot, said.bot_input, said.bot_tried_at = False, None, None
        stored = []
        for reply in replies:
            if not reply.get("text"):
                continue
            buttons = _unique_buttons(reply.get("buttons") or [])
            msg = service.append_message(session, conv, Author.bot, reply["text"], buttons=buttons or None, outbox=outbox)
            stored.append(service.message_dict(msg))
        return stored

    def _person_without_bot(self, session: Session, conv: Conversation, said: Message, outbox: Outbox) -> dict:
        """The resident asked for a person while Rasa is down: the switchboard owns handoffs and knows the
        topic, so it names the official itself."""
        result = service.request_handoff(
            session, conv, topic=conv.topic, question=self._last_question(session, conv.id, said.seq),
            reason="bot_unavailable", known_topics=self.catalogue.topic_keys, actor="switchboard", outbox=outbox,
            **self._policy())
        official = result.official
        if official is None:
            line = texts.text("person_nobody", conv.language, telefon=self.catalogue.facts.get("telefon", ""))
        elif result.answer_by_local is not None and (result.handoff is None or result.handoff.after_hours):
            line = texts.text("person_later", conv.language, namn=official.name,
                              titel=service.title_for(official, conv.language),
                              tid=said_datetime(result.answer_by_local, conv.language))
        else:
            line = texts.text("person_now", conv.language, namn=official.name,
                              titel=service.title_for(official, conv.language))
        return service.message_dict(service.append_message(session, conv, Author.system, line, outbox=outbox))

    @staticmethod
    def _last_question(session: Session, conversation_id: str, before_seq: int) -> str:
        """The resident's last written message before the request: the official's first view of the matter."""
        text = session.scalar(select(Message.text).where(
            Message.conversation_id == conversation_id, Message.author == Author.resident, Message.seq < before_seq,
            Message.bot_input.is_(None) | (Message.bot_input != "/request_human")).order_by(Message.seq.desc()).limit(1))
        return text or ""

    # -- what Rasa could not answer at the time --

    async def _catch_up(self, conversation_id: str, *, before: int) -> bool:
        """Rasa gets what it lacks of this conversation, in order: pending tracker events, then the earlier
        messages it did not answer. True when nothing is left."""
        if not await self.send_bot_events(conversation_id):
            return False
        waiting = await self.read(lambda session: list(session.scalars(select(Message.id).where(
            Message.conversation_id == conversation_id, Message.awaiting_bot.is_(True), Message.id < before)
            .order_by(Message.seq))))
        for message_id in waiting:
            if await self._answer_late(message_id, grace=timedelta(0)) is False:
                return False
        return True

    async def answer_waiting(self) -> int:
        """Resident messages stored but never answered by Rasa (the process stopped, Rasa was down or slow)
        are answered now, oldest first, once each: a message whose send may still be under way is left
        alone, and a message Rasa has already seen is answered from Rasa's tracker, not sent again."""
        grace = timedelta(seconds=self.settings.rasa_timeout_seconds + 5)
        waiting = await self.read(lambda session: [(m.conversation_id, m.id) for m in session.scalars(
            select(Message).where(Message.awaiting_bot.is_(True)).order_by(Message.id).limit(100))])
        answered, stuck = 0, set()
        for conversation_id, message_id in waiting:
            if conversation_id in stuck:
                continue  # keep each conversation's order
            done = await self._answer_late(message_id, grace=grace) if await self.send_bot_events(conversation_id) else False
            if done is False:
                stuck.add(conversation_id)
            elif done:
                answered += 1
        return answered

    async def _answer_late(self, message_id: int, *, grace: timedelta) -> bool | None:
        """Answer one waiting message: True when answered, None when there was nothing to answer (or
        another replica has it), False if Rasa cannot be reached (it stays waiting)."""
        def take(session: Session, outbox: Outbox) -> tuple[str, str] | None:
            said = session.get(Message, message_id)
            if said is None or not said.awaiting_bot:
                return None
            conv = session.get(Conversation, said.conversation_id)
            now = utcnow()
            # A person has the chat now and sees the message; or it is a day old, past being a useful
            # answer (the resident was told the assistant did not answer, and how to reach a person).
            if conv.state != ConversationState.bot or said.created_at < now - LATE_ANSWER_LIMIT:
                said.awaiting_bot, said.bot_tried_at = False, None
                return None
            if said.bot_tried_at is not None and said.bot_tried_at > now - grace:
                return None  # a send may still be under way
            taken = session.execute(update(Message).where(
                Message.id == message_id, Message.awaiting_bot.is_(True),
                Message.bot_tried_at.is_(None) if said.bot_tried_at is None else Message.bot_tried_at == said.bot_tried_at,
            ).values(bot_tried_at=now)).rowcount
            return (conv.id, said.bot_input) if taken else None

        taken = await self.run(take)
        if taken is None:
            return None
        conversation_id, bot_input = taken
        try:
            # Seen with an answer: take it. Not seen, or seen and left unanswered (the action server was
            # down): send it (again).
            replies = await self.rasa.answers_to(conversation_id, message_id)
            if not _answered(replies):
                replies = await self.rasa.send(conversation_id, bot_input or "", message_id=message_id)
        except RasaUnavailable:
            replies = None

        def store(session: Session, outbox: Outbox) -> bool:
            said = session.get(Message, message_id)
            if not said.awaiting_bot:
                return True
            conv = session.get(Conversation, said.conversation_id)
            if not _answered(replies) and conv.state == ConversationState.bot:
                said.bot_tried_at = None  # still waiting: the next round tries again
                return False
            self._store_answers(session, conv, said, replies or [], outbox)
            return True

        return await self.run(store)
