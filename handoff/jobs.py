"""Background work each replica runs; safe to run on every replica at once."""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from .switchboard import Switchboard

log = logging.getLogger(__name__)


async def watch_unclaimed(sb: Switchboard) -> None:
    """Every few seconds: chats nobody claimed in time go to the next competent official, and what
    must leave but has not (Rasa's tracker events, channel messages a stopped process left) goes out again."""
    while True:
        await asyncio.sleep(sb.settings.claim_check_seconds)
        try:
            moved = await sb.reassign_unclaimed()
            if moved:
                log.info("offered %d unclaimed chat(s) to another official", moved)
            await sb.send_bot_events()  # what Rasa could not take at the time
            if answered := await sb.answer_waiting():
                log.info("answered %d resident message(s) the assistant had not answered", answered)
            for channel in sb.channels.values():
                resend = getattr(channel, "resend_stale", None)
                if resend is not None:
                    await resend(timedelta(seconds=sb.settings.delivery_resend_seconds))
        except Exception:  # keep watching; the next round tries again
            log.exception("background check failed")
