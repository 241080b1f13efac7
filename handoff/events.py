"""Fan-out of committed changes to open websockets: in-process, or through Redis pub/sub
when several replicas run, so no replica keeps state that matters."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator

log = logging.getLogger(__name__)


class LocalBus:
    """Delivers to subscribers in this process."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue]] = defaultdict(set)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, channel: str, event: dict) -> None:
        self._deliver(channel, event)

    def _deliver(self, channel: str, event: dict) -> None:
        for queue in list(self._queues.get(channel, ())):
            queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[asyncio.Queue]:
        queue: asyncio.Queue = asyncio.Queue()
        for channel in channels:
            self._queues[channel].add(queue)
        try:
            yield queue
        finally:
            for channel in channels:
                self._queues[channel].discard(queue)
                if not self._queues[channel]:
                    del self._queues[channel]


class RedisBus(LocalBus):
    """Publishes to Redis; one listener per process hands events to local subscribers.

    Redis is not a reason to fail a resident or an official: everything that matters is already
    committed when an event is published. While Redis is unreachable (also at start) events reach this
    replica's own subscribers directly and the listener keeps reconnecting; once it is back, every
    local subscriber is told to read what it may have missed from the database ("resync")."""

    PREFIX = "handoff:"
    RECONNECT_MIN, RECONNECT_MAX = 0.2, 5.0

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        self._redis = None
        self._task: asyncio.Task | None = None
        self.connected = False

    async def start(self) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(self._url, socket_connect_timeout=2, socket_timeout=None,
                                     health_check_interval=10)
        self._task = asyncio.create_task(self._listen_forever())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._redis is not None:
            await self._redis.aclose()

    async def publish(self, channel: str, event: dict) -> None:
        if self.connected:
            try:
                await self._redis.publish(self.PREFIX + channel, json.dumps(event))
                return
            except Exception as exc:  # noqa: BLE001 - redis errors of every kind: fall back, never fail the caller
                log.warning("Redis publish failed (%s); events stay on this replica until it is back",
                            type(exc).__name__)
                self.connected = False
        self._deliver(channel, event)

    async def _listen_forever(self) -> None:
        wait, was_down = self.RECONNECT_MIN, False
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(f"{self.PREFIX}*")
                self.connected = True
                if was_down:
                    log.info("Redis is back; live events flow again")
                    self._resync()
                wait, was_down = self.RECONNECT_MIN, False
                async for item in pubsub.listen():
                    if item.get("type") != "pmessage":
                        continue
                    channel = item["channel"].decode()[len(self.PREFIX):]
                    try:
                        self._deliver(channel, json.loads(item["data"]))
                    except Exception:  # one bad event must not stop the listener
                        log.exception("could not deliver an event on %s", channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - connection lost or refused: try again
                if not was_down:
                    log.warning("Redis unreachable (%s); reconnecting", type(exc).__name__)
                self.connected, was_down = False, True
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(wait)
            wait = min(wait * 2, self.RECONNECT_MAX)

    def _resync(self) -> None:
        """Events may have been missed while Redis was away: every subscriber reads the database again."""
        for channel in list(self._queues):
            self._deliver(channel, {"type": "resync"} if channel != "console" else {"type": "queue", "resync": True})


def make_bus(redis_url: str | None) -> LocalBus:
    return RedisBus(redis_url) if redis_url else LocalBus()
