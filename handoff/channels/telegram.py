"""The Telegram channel: residents write to the municipality's bot in a private chat, the
switchboard answers through deliver(), and every message sent out is a Delivery the official can trust.

Incoming updates reach the same handlers by webhook (POST /telegram/webhook, checked against
TELEGRAM_WEBHOOK_SECRET) or by polling (`python -m handoff telegram-poll`). The handlers only
translate updates into the switchboard's use-cases; what the resident is shown goes out through
deliver(), after commit. Its parts: telegram_setup.py (secret, application, webhook registration),
telegram_text.py (what the channel says, message cutting, keyboards), telegram_delivery.py (the way out)."""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import traceback
from datetime import datetime, timedelta

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import select
from telegram import Bot, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from .. import service
from ..config import Settings
from ..models import Author, Conversation
from ..switchboard import BadMessage, Switchboard
from ..timefmt import said_datetime
from .telegram_delivery import TelegramDeliveries
from .telegram_setup import (
    ALLOWED_UPDATES,
    SECRET_HEADER,
    TelegramSetupError,
    build_application,
    check_webhook_secret,
    quiet_loggers,
)
from .telegram_text import button_title, kind_of, language_of, say, transcript_line

log = logging.getLogger(__name__)


class TelegramChannel:
    """One bot for the municipality: handlers for what residents send, deliver() for what goes out."""

    backoff_seconds = 1.0  # first wait when Telegram cannot be reached at start; doubles each time
    backoff_max_seconds = 30.0

    def __init__(self, settings: Settings, *, polling: bool = False) -> None:
        self.settings = settings
        self.polling = polling
        self.application = build_application(settings, polling=polling)
        self.switchboard: Switchboard | None = None
        self.ready = False
        self._secret: str | None = None
        self.out = TelegramDeliveries(lambda: self.bot, lambda: self.switchboard)
        self._opener: asyncio.Task | None = None
        self._incoming: dict[int | None, tuple[asyncio.Lock, list[int]]] = {}  # chat -> lock, users
        self._add_handlers()
        self.router = self._make_router()

    @property
    def bot(self) -> Bot:
        return self.application.bot

    # -- life cycle --

    async def start(self, switchboard: Switchboard) -> None:
        """Connect to Telegram; if it cannot be reached now, keep trying in the background."""
        self.switchboard = switchboard
        if not self.polling:
            self._secret = check_webhook_secret(self.settings.telegram_webhook_secret)
        quiet_loggers()
        try:
            await self._open()
        except InvalidToken:
            raise TelegramSetupError("Telegram refused TELEGRAM_BOT_TOKEN: copy it again from BotFather.") from None
        except NetworkError as exc:
            log.warning("Telegram cannot be reached (%s); the channel keeps trying", type(exc).__name__)
            self._opener = asyncio.create_task(self._open_later())

    async def _open(self) -> None:
        await self.application.initialize()
        if not self.application.running:
            await self.application.start()
        if self.polling and not self.application.updater.running:
            await self.application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        self.ready = True
        log.info("Telegram channel ready (%s)", "polling" if self.polling else "webhook")

    async def _open_later(self) -> None:
        wait = self.backoff_seconds
        while not self.ready:
            await asyncio.sleep(wait)
            wait = min(wait * 2, self.backoff_max_seconds * 2)
            try:
                await self._open()
            except InvalidToken:
                log.error("Telegram refused TELEGRAM_BOT_TOKEN; the Telegram channel stays off")
                return
            except NetworkError as exc:
                log.warning("Telegram still cannot be reached (%s)", type(exc).__name__)

    async def stop(self) -> None:
        """Stop taking updates, let queued messages go out (for a while), then close."""
        self.ready = False
        if self._opener is not None:
            self._opener.cancel()
            await asyncio.gather(self._opener, return_exceptions=True)
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        await self.out.drain()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    # -- the webhook --

    def _make_router(self) -> APIRouter:
        router = APIRouter(tags=["telegram"])

        @router.post("/telegram/webhook", include_in_schema=False)
        async def telegram_webhook(request: Request) -> Response:
            given = request.headers.get(SECRET_HEADER)
            if self._secret is None or given is None or not hmac.compare_digest(given.encode(), self._secret.encode()):
                raise HTTPException(403, "forbidden")
            if not self.ready:
                raise HTTPException(503, "Telegram channel not ready")  # Telegram sends the update again later
            try:
                body = await request.json()
                update = Update.de_json(body, self.bot) if isinstance(body, dict) else None
            except Exception:  # noqa: BLE001 - any malformed body is the caller's problem
                update = None
            if update is None:
                raise HTTPException(400, "not a Telegram update")
            chat = update.effective_chat
            async with self._one_at_a_time(chat.id if chat else None):
                await self.application.process_update(update)
            return Response(status_code=200)

        return router

    @contextlib.asynccontextmanager
    async def _one_at_a_time(self, chat_id: int | None):
        """Telegram may post several updates at once: one chat's are handled in turn, so its messages
        keep their order and its first two messages do not open two conversations."""
        lock, users = self._incoming.setdefault(chat_id, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._incoming[chat_id]

    # -- what residents send --

    def _add_handlers(self) -> None:
        app = self.application
        new = filters.UpdateType.MESSAGE
        app.add_handler(TypeHandler(Update, self._only_private_chats), group=-1)
        app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, self._on_edited))
        app.add_handler(CommandHandler(["start", "hjalp", "help"], self._on_start, filters=new))
        app.add_handler(CommandHandler("person", self._on_person, filters=new))
        app.add_handler(CommandHandler("samtal", self._on_transcript, filters=new))
        app.add_handler(CommandHandler("avsluta", self._on_leave, filters=new))
        app.add_handler(CallbackQueryHandler(self._on_button))
        app.add_handler(MessageHandler(new & filters.TEXT, self._on_text))
        app.add_handler(MessageHandler(new & ~filters.TEXT & ~filters.StatusUpdate.ALL, self._on_not_shown))
        app.add_error_handler(self._on_error)

    async def _only_private_chats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A resident's matters are private: groups and channels get one polite no, and the bot leaves."""
        chat = update.effective_chat
        if chat is None or chat.type == ChatType.PRIVATE:
            return
        member = update.my_chat_member
        if member is None or member.new_chat_member.status in (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR):
            chat_id = chat.id
            # Nothing is stored for a group, so there is no conversation language: Swedish.
            self.out.enqueue(chat_id, [lambda: self.bot.send_message(chat_id, say("group_refused"))])
            self.out.enqueue(chat_id, [lambda: self.bot.leave_chat(chat_id)])
            log.info("refused a %s chat", chat.type)
        raise ApplicationHandlerStop

    async def _on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The first contact is the switchboard's welcome, as on the web (who answers, that a person can
        take over, the personnummer notice, the topic buttons); the channel's commands follow it.
        In a chat that has already begun, /start (or /hjalp) explains the chat and the commands again."""
        chat_id = update.effective_chat.id
        conversation_id = await self.switchboard.telegram_conversation(chat_id)
        if await self.switchboard.welcome(conversation_id):
            await self._notice(chat_id, "commands")
        else:
            await self._notice(chat_id, "help", kommun=self._kommun())

    def _kommun(self) -> str:
        return self.switchboard.catalogue.facts.get("kommun") or "kommunen"

    async def _on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._resident_says(update.effective_chat.id, update.effective_message.text, update_id=update.update_id)

    async def _on_person(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat_id = update.effective_chat.id
        await self._resident_says(chat_id, say("person_request", await self._chat_language(chat_id)), "/request_human",
                                  update_id=update.update_id)

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        try:
            await query.answer()
        except TelegramError as exc:  # the press still counts; only the spinner lingers
            log.info("could not answer a button press: %s", type(exc).__name__)
        if update.effective_chat is None:
            return
        payload = query.data or ""
        title = button_title(query.message, payload) or payload
        await self._resident_says(update.effective_chat.id, title, payload, update_id=update.update_id)

    async def _on_edited(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._notice(update.effective_chat.id, "edited")

    async def _on_not_shown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._notice(update.effective_chat.id, f"not_shown_{kind_of(update.effective_message)}")

    async def _on_transcript(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The resident's whole conversation as a text file: who wrote what, and when."""
        chat_id = update.effective_chat.id
        tz = self.switchboard.tz
        now = datetime.now(tz)

        def transcript(session, outbox) -> tuple[str, list[str]]:
            conv = service.telegram_conversation(session, chat_id)
            lines, after = [], 0
            while batch := service.messages_after(session, conv.id, after):
                lines += [transcript_line(m, tz, conv.language) for m in batch]
                after = batch[-1].seq
            return conv.language, lines

        language, lines = await self.switchboard.run(transcript)
        if not lines:
            self.out.send_later(chat_id, say("transcript_empty", language))
            return
        title = say("transcript_title", language, kommun=self._kommun(), tid=said_datetime(now, language_of(language)))
        body = title + "\n\n" + "\n\n".join(lines) + "\n"
        data, filename = body.encode("utf-8"), f"samtal-{now:%Y-%m-%d}.txt"
        self.out.enqueue(chat_id, [lambda: self.bot.send_document(
            chat_id, document=data, filename=filename, caption=say("transcript_caption", language))])

    async def _on_leave(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The resident leaves the person they were talking to: the handoff closes as abandoned."""
        chat_id = update.effective_chat.id
        conversation_id = await self.switchboard.telegram_conversation(chat_id)
        if not await self.switchboard.resident_leaves(conversation_id):
            self.out.send_later(chat_id, say("nothing_to_end", await self._chat_language(chat_id)))

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        exc = context.error
        # The exception's own text may quote what the resident wrote (SQL parameters): only its type and where.
        log.error("a Telegram update failed: %s\n%s", type(exc).__name__,
                  "".join(traceback.format_tb(exc.__traceback__)) if exc else "")
        if isinstance(update, Update) and update.effective_chat and update.effective_chat.type == ChatType.PRIVATE:
            chat_id = update.effective_chat.id
            self.out.send_later(chat_id, say("went_wrong", await self._chat_language(chat_id)))

    async def _resident_says(self, chat_id: int, text: str, payload: str | None = None, *, update_id: int) -> None:
        """Telegram posts an update again when it did not see our answer in time (or after a crash): the
        update's id is the message's client id, so the second post stores and answers nothing."""
        conversation_id = await self.switchboard.telegram_conversation(chat_id)
        try:
            await self.switchboard.resident_says(conversation_id, text, payload, client_id=f"tg:{update_id}")
        except BadMessage as exc:
            self.out.send_later(chat_id, str(exc))

    async def _notice(self, chat_id: int, key: str, **values: object) -> None:
        """Store what the service says to this resident, in the conversation's language; deliver() sends it,
        and an official in the chat sees it."""
        def notice(session, outbox) -> None:
            conv = service.telegram_conversation(session, chat_id)
            service.append_message(session, conv, Author.system, say(key, conv.language, **values), outbox=outbox)

        await self.switchboard.run(notice)

    async def _chat_language(self, chat_id: int) -> str:
        """The language of the chat's conversation, without opening one; Swedish when there is none
        (or when the database cannot say, e.g. while an error is being reported)."""
        try:
            language = await self.switchboard.read(lambda session: session.scalar(
                select(Conversation.language).where(Conversation.telegram_chat_id == chat_id)
                .order_by(Conversation.created_at.desc()).limit(1)))
        except Exception:  # noqa: BLE001 - only the language of an apology depends on it
            return "sv"
        return language_of(language)


    # -- what goes out (telegram_delivery.py) --

    async def deliver(self, message: dict) -> None:
        """Send a committed message; the switchboard calls this after every commit that stored one."""
        await self.out.deliver(message)

    async def resend_stale(self, older_than: timedelta) -> int:
        """What a stopped process left pending goes out (the background check calls this)."""
        return await self.out.resend_stale(older_than)

