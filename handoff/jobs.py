"""Background work each replica runs; safe to run on every replica at once."""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from . import service
from .switchboard import Switchboard

log = logging.getLogger(__name__)


def check_unclaimed_once(sb: Switchboard) -> service.Outbox:
    outbox = service.Outbox()
    with sb.sessions() as session, session.begin():
        moved = service.reassign_unclaimed(
            session, timeout=timedelta(seconds=sb.settings.claim_timeout_seconds), tz=sb.tz,
            service_time=timedelta(minutes=sb.settings.service_time_minutes),
            contact_centre_unit=sb.settings.contact_centre_unit, outbox=outbox,
        )
    if moved:
        log.info("offered %d unclaimed chat(s) to another official", len(moved))
    return outbox


STALE_DELIVERY = timedelta(minutes=2)


async def watch_unclaimed(sb: Switchboard) -> None:
    """Every few seconds: chats nobody claimed in time go to the next competent official, and
    channel messages a stopped process left undelivered go out again."""
    while True:
        await asyncio.sleep(sb.settings.claim_check_seconds)
        try:
            outbox = await asyncio.to_thread(check_unclaimed_once, sb)
            await sb.publish(outbox)
            for channel in sb.channels.values():
                resend = getattr(channel, "resend_stale", None)
                if resend is not None:
                    await resend(STALE_DELIVERY)
        except Exception:  # keep watching; the next round tries again
            log.exception("background check failed")
