"""A local stand-in for Telegram's Bot API: answers in Telegram's JSON shape, records every call,
and can be told to fail the next call of a method (429 with retry_after, 403 blocked, 502)."""
from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BOT_USER = {"id": 7000000001, "is_bot": True, "first_name": "Exempelby kommun", "username": "exempelby_test_bot",
            "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}
JSON_PARAMS = {"reply_markup", "allowed_updates", "entities", "link_preview_options", "reply_parameters"}

FAILURES = {
    429: {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}},
    403: {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    502: {"ok": False, "error_code": 502, "description": "Bad Gateway"},
    400: {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
}


@dataclass
class Call:
    method: str
    params: dict
    ok: bool
    files: dict = field(default_factory=dict)  # name -> (filename, bytes)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _value(name: str, raw):
    if name in JSON_PARAMS and isinstance(raw, str):
        return json.loads(raw)
    if name in ("chat_id", "from_chat_id") and isinstance(raw, str) and raw.lstrip("-").isdigit():
        return int(raw)
    return raw


class FakeTelegram:
    def __init__(self) -> None:
        self.port = _free_port()
        self.calls: list[Call] = []
        self.webhook_url = ""
        self._lock = threading.Lock()
        self._failures: dict[str, deque] = defaultdict(deque)
        self._updates: deque[dict] = deque()
        self._message_id = 1000
        app = Starlette(routes=[Route("/bot{token}/{method}", self._handle, methods=["GET", "POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE_URL is set to (PTB appends the token)."""
        return f"http://127.0.0.1:{self.port}/bot"

    def start(self) -> "FakeTelegram":
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake Telegram server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self._failures.clear()
            self._updates.clear()
            self.webhook_url = ""

    # -- steering --

    def fail_next(self, method: str, status: int) -> None:
        """The next call of `method` fails as Telegram would with this status (429, 403, 502, 400)."""
        with self._lock:
            self._failures[method].append((status, FAILURES[status]))

    def queue_update(self, update: dict) -> None:
        """An update that the next getUpdates (polling) hands out."""
        with self._lock:
            self._updates.append(update)

    # -- reading --

    def sent(self, method: str = "sendMessage", **match) -> list[Call]:
        """Successful calls of a method whose params contain every `match` item."""
        with self._lock:
            return [c for c in self.calls if c.method == method and c.ok
                    and all(c.params.get(k) == v for k, v in match.items())]

    def all_calls(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def texts(self, chat_id: int) -> list[str]:
        return [c.params.get("text", "") for c in self.sent("sendMessage", chat_id=chat_id)]

    def wait_for(self, predicate, timeout: float = 20.0, what: str = "a call"):
        """Poll until predicate() is truthy; returns its value. Fails with what was recorded."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                with self._lock:
                    seen = [(c.method, c.ok, c.params.get("chat_id"), str(c.params.get("text", ""))[:80]) for c in self.calls]
                raise AssertionError(f"timed out waiting for {what}; calls: {seen}")
            time.sleep(0.05)

    # -- the API --

    async def _handle(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        params, files = dict(request.query_params), {}
        ctype = request.headers.get("content-type", "")
        if "json" in ctype:
            params.update(await request.json())
        elif request.method == "POST":
            form = await request.form()
            for name, raw in form.multi_items():
                if isinstance(raw, UploadFile):
                    files[name] = (raw.filename, await raw.read())
                else:
                    params[name] = raw
        params = {k: _value(k, v) for k, v in params.items()}
        with self._lock:
            failure = self._failures[method].popleft() if self._failures[method] else None
            self.calls.append(Call(method, params, failure is None, files))
        if failure is not None:
            status, body = failure
            return JSONResponse(body, status_code=status)
        if method == "getUpdates":
            return JSONResponse({"ok": True, "result": await self._get_updates(params)})
        return JSONResponse({"ok": True, "result": self._result(method, params, files)})

    async def _get_updates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 1.0)
        while True:
            with self._lock:
                while self._updates and self._updates[0]["update_id"] < offset:
                    self._updates.popleft()
                if self._updates:
                    return list(self._updates)
            if time.monotonic() >= deadline:
                return []
            await asyncio.sleep(0.05)

    def _message(self, params: dict, **content) -> dict:
        with self._lock:
            self._message_id += 1
            message_id = self._message_id
        chat_id = params.get("chat_id")
        chat = {"id": chat_id, "type": "private", "first_name": "Resident"} if isinstance(chat_id, int) and chat_id > 0 \
            else {"id": chat_id, "type": "supergroup", "title": "Group"}
        return {"message_id": message_id, "from": BOT_USER, "chat": chat, "date": int(time.time()), **content}

    def _result(self, method: str, params: dict, files: dict):
        if method == "getMe":
            return BOT_USER
        if method == "sendMessage":
            extra = {"reply_markup": params["reply_markup"]} if params.get("reply_markup") else {}
            return self._message(params, text=params.get("text", ""), **extra)
        if method == "sendDocument":
            filename = files.get("document", ("file.txt", b""))[0]
            return self._message(params, document={"file_id": "BQACAgQAAxkBAAIC", "file_unique_id": "AgADdoc",
                                                   "file_name": filename}, caption=params.get("caption", ""))
        if method == "setWebhook":
            self.webhook_url = params.get("url", "")
            return True
        if method == "deleteWebhook":
            self.webhook_url = ""
            return True
        if method == "getWebhookInfo":
            return {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": 0}
        return True  # answerCallbackQuery, leaveChat, ...
