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

    async def send(self, conversation_id: str, message: str) -> list[dict]:
        """The bot's replies to one resident message (text and buttons)."""
        try:
            resp = await self._http.post(
                "/webhooks/rest/webhook", json={"sender": conversation_id, "message": message}
            )
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

    async def healthy(self) -> bool:
        try:
            return (await self._http.get("/")).status_code == 200
        except httpx.HTTPError:
            return False
