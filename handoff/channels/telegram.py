"""The Telegram channel: residents write to the municipality's bot in a private chat, the
switchboard answers through deliver(), and every message sent out is a Delivery the official can trust.

Incoming updates reach the same handlers by webhook (POST /telegram/webhook, checked against
TELEGRAM_WEBHOOK_SECRET) or by polling (`python -m handoff telegram-poll`). The handlers only
store and route; everything the resident is shown goes out through deliver(), after commit."""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import random
import re
import traceback
import warnings
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import yaml
from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import SecretStr
from sqlalchemy import select, update
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.warnings import PTBDeprecationWarning

from .. import service, texts
from ..config import PLACEHOLDER_SECRETS, Settings
from ..models import Author, Conversation, Delivery, Message, utcnow
from ..switchboard import BadMessage, Switchboard
from ..timefmt import said_datetime

log = logging.getLogger(__name__)

LANGUAGES = ("sv", "en")  # handoff/texts/telegram_sv.yml, telegram_en.yml (same keys)
MAX_CHARS = 4096  # Telegram's limit for one message, counted in UTF-16 code units
CALLBACK_DATA_MAX_BYTES = 64
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_FORM = re.compile(r"^[A-Za-z0-9_-]{16,256}$")  # Telegram allows only these characters
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member", "channel_post"]
SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s+|\n\s*")
SPACE = re.compile(r"\s+")

Step = Callable[[], Awaitable[object]]


class TelegramSetupError(RuntimeError):
    """The channel cannot run as configured; the message tells the operator what to change."""


def _language(language: str | None) -> str:
    return language if language in LANGUAGES else "sv"


def say(key: str, language: str | None = "sv", **values: object) -> str:
    """What the channel says, in the conversation's language (sv or en; anything else is Swedish)."""
    return texts.text(key, f"telegram_{_language(language)}", **values)


@lru_cache(maxsize=len(LANGUAGES))
def _labels(language: str = "sv") -> dict[str, str]:
    doc = yaml.safe_load((texts.TEXTS_DIR / f"telegram_{_language(language)}.yml").read_text(encoding="utf-8"))
    return dict(doc.get("labels") or {})


# ---- what goes out ----------------------------------------------------------------------------

def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _pieces(text: str, boundary: re.Pattern) -> list[str]:
    """The text cut after every boundary match, each piece keeping its trailing separator."""
    pieces, start = [], 0
    for match in boundary.finditer(text):
        if match.end() > start:
            pieces.append(text[start:match.end()])
            start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _head(text: str, limit: int) -> str:
    """The longest start of text within limit UTF-16 units (never half a character)."""
    used = 0
    for i, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > limit:
            return text[:i]
    return text


def split_text(text: str, limit: int = MAX_CHARS) -> list[str]:
    """Parts of at most `limit` UTF-16 units, cut after whole sentences (or lines) where possible,
    else between words, and only inside a word longer than a whole message."""
    if _units(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""

    def flush() -> None:
        nonlocal current
        if current.strip():
            parts.append(current.rstrip())
        current = ""

    for sentence in _pieces(text, SENTENCE_END):
        if _units(current + sentence.rstrip()) <= limit:
            current += sentence
            continue
        flush()
        if _units(sentence.rstrip()) <= limit:
            current = sentence
            continue
        for word in _pieces(sentence, SPACE):
            if _units(current + word.rstrip()) <= limit:
                current += word
                continue
            flush()
            while _units(word.rstrip()) > limit:
                head = _head(word, limit)
                parts.append(head)
                word = word[len(head):]
            current = word
    flush()
    return parts


def render(message: dict, language: str | None = "sv") -> tuple[list[str], InlineKeyboardMarkup | None]:
    """A stored message as Telegram parts: an official's name and title first, buttons as an inline keyboard."""
    text = message["text"]
    official = message.get("official")
    if message.get("author") == Author.official and official:
        text = f"{say('official_says', language, namn=official['name'], titel=official['title'])}\n{text}"
    rows = [
        [InlineKeyboardButton(b["title"], callback_data=b["payload"])]
        for b in message.get("buttons") or []
        if b.get("title") and b.get("payload") and len(b["payload"].encode()) <= CALLBACK_DATA_MAX_BYTES
    ]
    return split_text(text), (InlineKeyboardMarkup(rows) if rows else None)


def _retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _error_line(exc: BaseException) -> str:
    """What went wrong, for the Delivery row: Telegram's own description, never the message text."""
    return f"{type(exc).__name__}: {getattr(exc, 'message', '') or exc}"[:500]


# ---- set-up -----------------------------------------------------------------------------------

def _file_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base[: -len("/bot")] + "/file/bot" if base.endswith("/bot") else base + "/file"


def check_webhook_secret(secret: SecretStr | str | None) -> str:
    """The webhook secret, or TelegramSetupError saying what a usable one looks like."""
    raw = secret.get_secret_value() if isinstance(secret, SecretStr) else (secret or "")
    if raw.strip().lower() in PLACEHOLDER_SECRETS or not SECRET_FORM.match(raw):
        raise TelegramSetupError(
            "TELEGRAM_WEBHOOK_SECRET must be set when TELEGRAM_BOT_TOKEN is: 16 to 256 characters of "
            "A-Z, a-z, 0-9, _ and - (Telegram's rule), e.g. from `python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`. Without a public address, use `python -m handoff telegram-poll`."
        )
    return raw


def build_application(settings: Settings, *, polling: bool = False) -> Application:
    """PTB's Application for the municipality's bot; without an updater in webhook mode."""
    builder = ApplicationBuilder().token(settings.telegram_bot_token.get_secret_value())
    if settings.telegram_api_base_url:
        builder = builder.base_url(settings.telegram_api_base_url).base_file_url(
            _file_url(settings.telegram_api_base_url))
    if not polling:
        builder = builder.updater(None)
    return builder.build()


def _bot(token: str, base_url: str | None) -> Bot:
    if base_url:
        return Bot(token, base_url=base_url, base_file_url=_file_url(base_url))
    return Bot(token)


async def register_webhook(*, token: str, url: str, secret: str | None, base_url: str | None = None) -> str:
    """Tell Telegram where to send updates, with the secret it must present; returns the URL Telegram has."""
    if not url.startswith("https://"):
        raise TelegramSetupError(f"Telegram only calls https:// addresses, not {url!r}.")
    secret = check_webhook_secret(secret)
    try:
        async with _bot(token, base_url) as bot:
            await bot.set_webhook(url=url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
            info = await bot.get_webhook_info()
    except InvalidToken:
        raise TelegramSetupError("Telegram refused TELEGRAM_BOT_TOKEN: copy it again from BotFather.") from None
    return info.url


async def remove_webhook(*, token: str, base_url: str | None = None) -> None:
    """Stop webhook delivery (before switching to polling, or when the service moves)."""
    try:
        async with _bot(token, base_url) as bot:
            await bot.delete_webhook()
    except InvalidToken:
        raise TelegramSetupError("Telegram refused TELEGRAM_BOT_TOKEN: copy it again from BotFather.") from None


# ---- the channel -----------------------------------------------------------------------------

def _kind(message) -> str:
    """Which of the not-shown texts fits what the resident sent."""
    for kind, attributes in (
        ("sticker", ("sticker",)), ("photo", ("photo",)), ("video", ("video", "video_note", "animation")),
        ("voice", ("voice", "audio")), ("location", ("location", "venue")), ("document", ("document",)),
        ("contact", ("contact",)),
    ):
        if any(getattr(message, a, None) for a in attributes):
            return kind
    return "other"


def _button_title(message, payload: str) -> str | None:
    markup = getattr(message, "reply_markup", None)
    for row in getattr(markup, "inline_keyboard", None) or ():
        for button in row:
            if button.callback_data == payload:
                return button.text
    return None


def _quiet_loggers() -> None:
    """httpx logs every request URL at INFO, and Bot API URLs carry the bot token; PTB logs each
    call's parameters (the message texts) at DEBUG. Neither belongs in the service's logs."""
    for name, floor in (("httpx", logging.WARNING), ("telegram", logging.INFO)):
        logger = logging.getLogger(name)
        if logger.level < floor:  # NOTSET (0) included: it would follow a root logger set to DEBUG
            logger.setLevel(floor)


class TelegramChannel:
    """One bot for the municipality: handlers for what residents send, deliver() for what goes out."""

    max_attempts = 5  # tries per outgoing message (each part resumes where the last try stopped)
    backoff_seconds = 1.0  # first wait after a network error; doubles each time
    backoff_max_seconds = 30.0
    shutdown_grace_seconds = 15.0

    def __init__(self, settings: Settings, *, polling: bool = False) -> None:
        self.settings = settings
        self.polling = polling
        self.application = build_application(settings, polling=polling)
        self.switchboard: Switchboard | None = None
        self.ready = False
        self._secret: str | None = None
        self._tasks: set[asyncio.Task] = set()
        self._tails: dict[int, asyncio.Task] = {}  # the last queued job per chat, so a chat's messages keep their order
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
        _quiet_loggers()
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
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=self.shutdown_grace_seconds)
            if pending:
                log.warning("%d Telegram deliveries still pending at shutdown", len(pending))
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
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
            self._enqueue(chat_id, [lambda: self.bot.send_message(chat_id, say("group_refused"))])
            self._enqueue(chat_id, [lambda: self.bot.leave_chat(chat_id)])
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
        title = _button_title(query.message, payload) or payload
        await self._resident_says(update.effective_chat.id, title, payload, update_id=update.update_id)

    async def _on_edited(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._notice(update.effective_chat.id, "edited")

    async def _on_not_shown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._notice(update.effective_chat.id, f"not_shown_{_kind(update.effective_message)}")

    async def _on_transcript(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The resident's whole conversation as a text file: who wrote what, and when."""
        chat_id = update.effective_chat.id
        tz = self.switchboard.tz
        now = datetime.now(tz)

        def transcript(session, outbox) -> tuple[str, list[str]]:
            conv = service.telegram_conversation(session, chat_id)
            lines, after = [], 0
            while batch := service.messages_after(session, conv.id, after):
                lines += [self._transcript_line(m, tz, conv.language) for m in batch]
                after = batch[-1].seq
            return conv.language, lines

        language, lines = await self.switchboard.run(transcript)
        if not lines:
            self._send_later(chat_id, say("transcript_empty", language))
            return
        title = say("transcript_title", language, kommun=self._kommun(), tid=said_datetime(now, _language(language)))
        body = title + "\n\n" + "\n\n".join(lines) + "\n"
        data, filename = body.encode("utf-8"), f"samtal-{now:%Y-%m-%d}.txt"
        self._enqueue(chat_id, [lambda: self.bot.send_document(
            chat_id, document=data, filename=filename, caption=say("transcript_caption", language))])

    @staticmethod
    def _transcript_line(msg: Message, tz, language: str | None = "sv") -> str:
        labels = _labels(_language(language))
        if msg.author == Author.official and msg.official is not None:
            who = f"{msg.official.name}, {msg.official.title}"
        else:
            who = labels.get(str(msg.author), str(msg.author))
        at = msg.created_at.replace(tzinfo=timezone.utc).astimezone(tz)
        text = "\n".join(f"    {line}" if line.strip() else "" for line in msg.text.splitlines())
        return f"{at:%Y-%m-%d %H:%M} {who}:\n{text}"

    async def _on_leave(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The resident leaves the person they were talking to: the handoff closes as abandoned."""
        chat_id = update.effective_chat.id
        conversation_id = await self.switchboard.telegram_conversation(chat_id)
        if not await self.switchboard.resident_leaves(conversation_id):
            self._send_later(chat_id, say("nothing_to_end", await self._chat_language(chat_id)))

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        exc = context.error
        # The exception's own text may quote what the resident wrote (SQL parameters): only its type and where.
        log.error("a Telegram update failed: %s\n%s", type(exc).__name__,
                  "".join(traceback.format_tb(exc.__traceback__)) if exc else "")
        if isinstance(update, Update) and update.effective_chat and update.effective_chat.type == ChatType.PRIVATE:
            chat_id = update.effective_chat.id
            self._send_later(chat_id, say("went_wrong", await self._chat_language(chat_id)))

    async def _resident_says(self, chat_id: int, text: str, payload: str | None = None, *, update_id: int) -> None:
        """Telegram posts an update again when it did not see our answer in time (or after a crash): the
        update's id is the message's client id, so the second post stores and answers nothing."""
        conversation_id = await self.switchboard.telegram_conversation(chat_id)
        try:
            await self.switchboard.resident_says(conversation_id, text, payload, client_id=f"tg:{update_id}")
        except BadMessage as exc:
            self._send_later(chat_id, str(exc))

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
        return _language(language)

    # -- what goes out --

    async def deliver(self, message: dict) -> None:
        """Send a committed message in the background (its Delivery row is already pending), so nobody's
        request waits on Telegram."""
        if message.get("chat_id") is None:
            log.warning("message %s has no Telegram chat to go to", message.get("message_id"))
            return
        self._send_delivery(message["delivery_id"], message["chat_id"], message.get("language"), message)

    def _send_delivery(self, delivery_id: int, chat_id: int, language: str | None, message: dict) -> None:
        parts, markup = render(message, language)
        steps = [(lambda part=part, last=(i == len(parts) - 1): self.bot.send_message(
            chat_id, part, reply_markup=markup if last else None)) for i, part in enumerate(parts)]
        self._enqueue(chat_id, steps, delivery_id=delivery_id)

    async def resend_stale(self, older_than: timedelta) -> int:
        """Deliveries a stopped process left pending go out again. Each is taken by one replica only:
        rows another replica is taking are skipped (FOR UPDATE SKIP LOCKED on PostgreSQL), and the take is
        a conditional update on the row's time, so nothing is sent twice by two replicas."""
        taken = await self.switchboard.run(lambda session, outbox: self._take_stale(session, older_than))
        for delivery_id, chat_id, language, message in taken:
            self._send_delivery(delivery_id, chat_id, language, message)
        return len(taken)

    @staticmethod
    def _take_stale(session, older_than: timedelta) -> list[tuple[int, int, str, dict]]:
        now = utcnow()
        stale = session.scalars(select(Delivery).where(
            Delivery.channel == "telegram", Delivery.state == "pending", Delivery.updated_at < now - older_than,
        ).order_by(Delivery.id).limit(200).with_for_update(skip_locked=True)).all()
        taken = []
        for delivery in stale:
            won = session.execute(update(Delivery).where(
                Delivery.id == delivery.id, Delivery.updated_at == delivery.updated_at).values(updated_at=now)
            ).rowcount
            msg = session.get(Message, delivery.message_id)
            conv = session.get(Conversation, msg.conversation_id)
            if won and conv.telegram_chat_id is not None:
                taken.append((delivery.id, conv.telegram_chat_id, conv.language,
                              {**service.message_dict(msg), "message_id": msg.id}))
        return taken

    def _send_later(self, chat_id: int, text: str) -> None:
        """A reply that is not part of the stored conversation (an error, a refusal): sent the same careful way."""
        self._enqueue(chat_id, [lambda part=part: self.bot.send_message(chat_id, part) for part in split_text(text)])

    def _enqueue(self, chat_id: int, steps: list[Step], *, delivery_id: int | None = None) -> None:
        previous = self._tails.get(chat_id)
        task = asyncio.create_task(self._run(previous, steps, delivery_id))
        self._tails[chat_id] = task
        self._tasks.add(task)

        def done(finished: asyncio.Task) -> None:
            self._tasks.discard(finished)
            if self._tails.get(chat_id) is finished:
                del self._tails[chat_id]

        task.add_done_callback(done)

    async def _run(self, previous: asyncio.Task | None, steps: list[Step], delivery_id: int | None) -> None:
        if previous is not None:
            await asyncio.wait([previous])  # keep the chat's order, whatever became of the one before
        try:
            state, attempts, error = await self._send(steps, delivery_id)
        except Exception as exc:  # noqa: BLE001 - a delivery must end in a state, not in a lost task
            log.error("Telegram delivery %s broke: %s", delivery_id, type(exc).__name__)
            state, attempts, error = "failed", None, _error_line(exc)
        await self._record(delivery_id, state=state, attempts=attempts, last_error=error)
        log.info("Telegram delivery %s: %s after %s attempt(s)", delivery_id, state, attempts)

    async def _send(self, steps: list[Step], delivery_id: int | None) -> tuple[str, int, str | None]:
        """Try until every part is through: Telegram's retry_after is honoured, network errors back off
        exponentially, a blocked bot stops at once; at most max_attempts tries."""
        done, attempts, error = 0, 0, None
        while True:
            attempts += 1
            try:
                while done < len(steps):
                    await steps[done]()
                    done += 1
                return "sent", attempts, error
            except Forbidden as exc:  # "bot was blocked by the user": trying again cannot help
                return "blocked", attempts, _error_line(exc)
            except RetryAfter as exc:
                error, wait = _error_line(exc), _retry_after_seconds(exc)
            except BadRequest as exc:  # the request itself is wrong (chat not found, ...): no retry
                return "failed", attempts, _error_line(exc)
            except NetworkError as exc:  # includes TimedOut
                error = _error_line(exc)
                wait = min(self.backoff_seconds * 2 ** (attempts - 1), self.backoff_max_seconds)
                wait += random.uniform(0, wait / 10)
            except TelegramError as exc:
                return "failed", attempts, _error_line(exc)
            if attempts >= self.max_attempts:
                return "failed", attempts, error
            await self._record(delivery_id, state="pending", attempts=attempts, last_error=error)
            await asyncio.sleep(wait)

    async def _record(self, delivery_id: int | None, *, state: str, attempts: int | None, last_error: str | None) -> None:
        if delivery_id is None:
            return
        values = {"state": state, "last_error": last_error, "updated_at": utcnow()}
        if attempts is not None:
            values["attempts"] = attempts
        await self.switchboard.run(lambda session, outbox: session.execute(
            update(Delivery).where(Delivery.id == delivery_id).values(**values)))
