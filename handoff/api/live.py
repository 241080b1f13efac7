"""WebSockets: the resident's conversation and the officials' console, live. A client says the
last sequence number it has; it gets what it missed from the database, then events as they are
committed, so a reconnect neither loses nor repeats a message."""
from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from .. import auth, service
from ..models import Conversation, Official
from ..access import can_view

router = APIRouter(tags=["live"])
HELLO_TIMEOUT = 10
CLOSE_NOT_FOUND = 4404
CLOSE_UNAUTHORIZED = 4401


async def _hello(ws: WebSocket) -> dict | None:
    try:
        hello = await asyncio.wait_for(ws.receive_json(), HELLO_TIMEOUT)
    except (asyncio.TimeoutError, WebSocketDisconnect, ValueError, KeyError):
        return None
    return hello if isinstance(hello, dict) else None


def _after(hello: dict) -> int:
    try:
        return min(max(0, int(hello.get("after") or 0)), service.MAX_SEQ)
    except (TypeError, ValueError, OverflowError):  # not a number, or 1e309
        return 0


async def _until_closed(ws: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await ws.receive_text()


QUIET = {"type": "quiet"}  # no event for a while: time to check that the official may still listen
RECHECK_SECONDS = 1.0


async def _next(queue: asyncio.Queue, closed: asyncio.Task, timeout: float | None = None) -> dict | None:
    """The next event (QUIET after `timeout` seconds without one), or None once the client has gone."""
    getter = asyncio.create_task(queue.get())
    done, _ = await asyncio.wait({getter, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if getter not in done:
        getter.cancel()
        return None if closed in done else QUIET
    return getter.result()


class _SessionWatch:
    """An official's socket asks, at most once a second, whether the console's session is still valid (not
    logged out, expired or deactivated) and the official may still see the conversation. The answer comes
    from the database, so a session ends on every replica at once."""

    def __init__(self, ws: WebSocket, conversation_id: str | None = None) -> None:
        self.ws, self.conversation_id = ws, conversation_id
        self.checked = asyncio.get_running_loop().time()

    async def ended(self) -> bool:
        now = asyncio.get_running_loop().time()
        if now - self.checked < RECHECK_SECONDS:
            return False
        self.checked = now
        token = self.ws.cookies.get(auth.SESSION_COOKIE)

        def may_listen(session) -> bool:
            row = auth.session_for(session, token)
            return row is not None and (self.conversation_id is None
                                        or can_view(session, row.official, self.conversation_id))

        return not await self.ws.app.state.services.read(may_listen)


async def stream_conversation(ws: WebSocket, conversation_id: str, after: int, *, official: bool = False) -> None:
    """Backlog after subscribing (nothing falls between), then live events in sequence. For an official,
    the stream ends as soon as their session does (or they may no longer see the chat)."""
    svc = ws.app.state.services
    closed = asyncio.create_task(_until_closed(ws))
    try:
        async with svc.bus.subscribe(f"conversation:{conversation_id}") as queue:
            last = after

            def backlog(session) -> tuple[list[dict], str]:
                conv = session.get(Conversation, conversation_id)
                return ([service.message_dict(m) for m in service.messages_after(session, conversation_id, last)],
                        conv.state)

            async def send_from_db() -> None:
                nonlocal last
                messages, state = await svc.read(backlog)
                for msg in messages:
                    await ws.send_json({"type": "message", **msg})
                    last = msg["seq"]
                await ws.send_json({"type": "state", "conversation_id": conversation_id, "state": state})

            await send_from_db()
            watch = _SessionWatch(ws, conversation_id) if official else None
            while (event := await _next(queue, closed, RECHECK_SECONDS if watch else None)) is not None:
                if watch and await watch.ended():
                    await ws.close(code=CLOSE_UNAUTHORIZED)
                    return
                if event is QUIET:
                    continue
                if event.get("type") == "resync":  # the event bus was away: the database has what was missed
                    await send_from_db()
                    continue
                if event.get("type") == "message":
                    if event["seq"] <= last:
                        continue  # already sent from the backlog
                    if event["seq"] > last + 1:
                        await send_from_db()  # an event was missed: the database has it
                        continue
                    last = event["seq"]
                await ws.send_json(event)
    except WebSocketDisconnect:
        pass
    finally:
        closed.cancel()


@router.websocket("/api/conversations/{conversation_id}/ws")
async def resident_live(ws: WebSocket, conversation_id: str):
    """First message from the client: {"secret": "...", "after": <last seq seen>}."""
    await ws.accept()
    hello = await _hello(ws)
    svc = ws.app.state.services
    try:
        await svc.read(lambda session: service.resident_conversation(session, conversation_id, (hello or {}).get("secret")))
    except service.NotFound:
        await ws.close(code=CLOSE_NOT_FOUND)
        return
    await stream_conversation(ws, conversation_id, _after(hello))


def _same_origin(ws: WebSocket) -> bool:
    """Console sockets carry the session cookie: refuse handshakes started by another site."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser
    return urlsplit(origin).netloc == ws.headers.get("host")


async def _may_see(ws: WebSocket, official_id: int, conversation_id: str) -> bool:
    return await ws.app.state.services.read(
        lambda session: can_view(session, session.get(Official, official_id), conversation_id))


async def _official(ws: WebSocket) -> int | None:
    if not _same_origin(ws):
        return None

    def who(session) -> int | None:
        row = auth.session_for(session, ws.cookies.get(auth.SESSION_COOKIE))
        return row.official_id if row else None

    return await ws.app.state.services.read(who)


@router.websocket("/api/console/conversations/{conversation_id}/ws")
async def official_conversation_live(ws: WebSocket, conversation_id: str):
    """The console's view of one chat; first message: {"after": <last seq seen>}."""
    official_id = await _official(ws)
    await ws.accept()
    allowed = official_id is not None and await _may_see(ws, official_id, conversation_id)
    if not allowed:
        await ws.close(code=CLOSE_UNAUTHORIZED if official_id is None else CLOSE_NOT_FOUND)
        return
    hello = await _hello(ws)
    await stream_conversation(ws, conversation_id, _after(hello or {}), official=True)


@router.websocket("/api/console/ws")
async def console_live(ws: WebSocket):
    """Notices for the console: the queue changed, a message arrived (ids only; details via the API),
    only about chats this official may see."""
    official_id = await _official(ws)
    if official_id is None:
        await ws.accept()
        await ws.close(code=CLOSE_UNAUTHORIZED)
        return
    await ws.accept()
    closed = asyncio.create_task(_until_closed(ws))
    try:
        async with ws.app.state.services.bus.subscribe("console") as queue:
            await ws.send_json({"type": "hello"})
            watch = _SessionWatch(ws)
            while (event := await _next(queue, closed, RECHECK_SECONDS)) is not None:
                if await watch.ended():  # logged out, expired or deactivated
                    await ws.close(code=CLOSE_UNAUTHORIZED)
                    return
                if event is QUIET:
                    continue
                conversation_id = event.get("conversation_id")
                if conversation_id and not await _may_see(ws, official_id, conversation_id):
                    continue
                await ws.send_json(event)
    except WebSocketDisconnect:
        pass
    finally:
        closed.cancel()
