"""What goes out to Telegram: every stored message is a Delivery row (pending from the transaction
that stored it), sent after commit in the chat's order, retried with back-off, and recorded as sent,
failed or blocked; what a stopped process left pending, any replica sends."""
from __future__ import annotations

import asyncio
import logging
import random
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import select, update
from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from .. import service
from ..models import Conversation, Delivery, Message, utcnow
from .telegram_text import render, split_text

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[object]]


def _retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _error_line(exc: BaseException) -> str:
    """What went wrong, for the Delivery row: Telegram's own description, never the message text."""
    return f"{type(exc).__name__}: {getattr(exc, 'message', '') or exc}"[:500]



class TelegramDeliveries:
    """The channel's way out: one queue per chat, so a chat's messages keep their order."""

    max_attempts = 5  # tries per outgoing message (each part resumes where the last try stopped)
    backoff_seconds = 1.0  # first wait after a network error; doubles each time
    backoff_max_seconds = 30.0
    shutdown_grace_seconds = 15.0

    def __init__(self, bot: Callable[[], Bot], switchboard: Callable[[], object]) -> None:
        self.bot, self.switchboard = bot, switchboard
        self._tasks: set[asyncio.Task] = set()
        self._tails: dict[int, asyncio.Task] = {}  # the last queued job per chat

    async def drain(self) -> None:
        """Let queued messages go out (for a while) before the channel closes; the rest stay pending."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=self.shutdown_grace_seconds)
        if pending:
            log.warning("%d Telegram deliveries still pending at shutdown", len(pending))
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def deliver(self, message: dict) -> None:
        """Send a committed message in the background (its Delivery row is already pending), so nobody's
        request waits on Telegram."""
        if message.get("chat_id") is None:
            log.warning("message %s has no Telegram chat to go to", message.get("message_id"))
            return
        self._send_delivery(message["delivery_id"], message["chat_id"], message.get("language"), message)

    def _send_delivery(self, delivery_id: int, chat_id: int, language: str | None, message: dict) -> None:
        parts, markup = render(message, language)
        steps = [(lambda part=part, last=(i == len(parts) - 1): self.bot().send_message(
            chat_id, part, reply_markup=markup if last else None)) for i, part in enumerate(parts)]
        self.enqueue(chat_id, steps, delivery_id=delivery_id)

    async def resend_stale(self, older_than: timedelta) -> int:
        """Deliveries a stopped process left pending go out again. Each is taken by one replica only:
        rows another replica is taking are skipped (FOR UPDATE SKIP LOCKED on PostgreSQL), and the take is
        a conditional update on the row's time, so nothing is sent twice by two replicas."""
        taken = await self.switchboard().run(lambda session, outbox: self._take_stale(session, older_than))
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

    def send_later(self, chat_id: int, text: str) -> None:
        """A reply that is not part of the stored conversation (an error, a refusal): sent the same careful way."""
        self.enqueue(chat_id, [lambda part=part: self.bot().send_message(chat_id, part) for part in split_text(text)])

    def enqueue(self, chat_id: int, steps: list[Step], *, delivery_id: int | None = None) -> None:
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
        await self.switchboard().run(lambda session, outbox: session.execute(
            update(Delivery).where(Delivery.id == delivery_id).values(**values)))
