"""Client for the handoff service's internal API (authenticated with a shared token)."""
from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request


class HandoffUnavailable(Exception):
    pass


def _post(url: str, token: str, body: dict, timeout: float) -> dict:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (our own service)
        return json.loads(resp.read())


async def request_handoff(conversation_id: str, topic: str | None, question: str, *, language: str = "sv") -> dict:
    """Ask the switchboard for a person; the answer names the official or says when."""
    base = os.environ.get("HANDOFF_URL", "http://127.0.0.1:8000").rstrip("/")
    token = os.environ.get("HANDOFF_INTERNAL_TOKEN")
    if not token:
        raise HandoffUnavailable("HANDOFF_INTERNAL_TOKEN is not set")
    body = {"conversation_id": conversation_id, "topic": topic, "question": question[:4000], "language": language}
    try:
        return await asyncio.to_thread(_post, f"{base}/internal/handoffs", token, body, 10.0)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise HandoffUnavailable(str(exc)) from exc
