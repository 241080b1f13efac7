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
    """Publishes to Redis; one listener per process hands events to local subscribers."""

    PREFIX = "handoff:"

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        self._redis = None
        self._pubsub = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(self._url)
        self._pubsub = self._redis.pubsub()
        await self._pubsub.psubscribe(f"{self.PREFIX}*")
        self._task = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._redis is not None:
            await self._redis.aclose()

    async def publish(self, channel: str, event: dict) -> None:
        await self._redis.publish(self.PREFIX + channel, json.dumps(event))

    async def _listen(self) -> None:
        async for item in self._pubsub.listen():
            if item.get("type") != "pmessage":
                continue
            channel = item["channel"].decode()[len(self.PREFIX):]
            try:
                self._deliver(channel, json.loads(item["data"]))
            except Exception:  # one bad event must not stop the listener
                log.exception("could not deliver an event on %s", channel)


def make_bus(redis_url: str | None) -> LocalBus:
    return RedisBus(redis_url) if redis_url else LocalBus()
