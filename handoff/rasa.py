"""Client of the Rasa server: the REST channel for answers, the tracker API for pause/resume."""
from __future__ import annotations

import logging

import httpx

log = logging.getLogger(__name__)


class RasaUnavailable(Exception):
    pass


class RasaClient:
    def __init__(self, base_url: str, token: str, timeout: float) -> None:
        self._token = token
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, conversation_id: str, message: str, *, message_id: int | None = None) -> list[dict]:
        """The bot's replies to one resident message (text and buttons). The message's id travels in the
        metadata of Rasa's user event, so the tracker can later tell whether Rasa has seen it."""
        body = {"sender": conversation_id, "message": message}
        if message_id is not None:
            body["metadata"] = {"handoff_message_id": message_id}
        try:
            resp = await self._http.post("/webhooks/rest/webhook", json=body)
            resp.raise_for_status()
            return [r for r in resp.json() if isinstance(r, dict)]
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("Rasa did not answer for conversation %s: %s", conversation_id, type(exc).__name__)
            raise RasaUnavailable from exc

    async def append_events(self, conversation_id: str, events: list[dict]) -> None:
        """Keep Rasa's own history true (pause on handoff, resume on return)."""
        try:
            resp = await self._http.post(
                f"/conversations/{conversation_id}/tracker/events",
                params={"token": self._token, "include_events": "NONE"},
                json=events,
            )
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("could not write tracker events for %s: %s", conversation_id, type(exc).__name__)
            raise RasaUnavailable from exc

    async def answers_to(self, conversation_id: str, message_id: int) -> list[dict] | None:
        """What Rasa answered to the message with this id, read from its tracker (text and buttons, as the
        REST channel gives them); None if Rasa never saw the message."""
        try:
            resp = await self._http.get(f"/conversations/{conversation_id}/tracker",
                                        params={"token": self._token, "include_events": "ALL"})
            resp.raise_for_status()
            events = resp.json().get("events") or []
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            log.warning("could not read the tracker of %s: %s", conversation_id, type(exc).__name__)
            raise RasaUnavailable from exc
        seen = next((i for i, e in enumerate(events) if e.get("event") == "user"
                     and (e.get("metadata") or {}).get("handoff_message_id") == message_id), None)
        if seen is None:
            return None
        answers = []
        for event in events[seen + 1:]:
            if event.get("event") == "user":
                break
            if event.get("event") == "bot" and event.get("text"):
                answers.append({"text": event["text"], "buttons": (event.get("data") or {}).get("buttons") or []})
        return answers

    async def healthy(self) -> bool:
        try:
            return (await self._http.get("/")).status_code == 200
        except httpx.HTTPError:
            return False
