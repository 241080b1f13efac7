"""Behaviour that only shows with real servers: claims racing each other, and two replicas
sharing one database and Redis (scaling out is configuration)."""
from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
import time

import httpx
import uvicorn
import websockets

from conftest import PASSWORD, ROOT, internal_headers, load_roster
from handoff.app import create_app

sys.path.insert(0, str(ROOT / "scripts"))
from stack import free_port  # noqa: E402


@contextlib.contextmanager
def serving(settings):
    """The handoff app under a real uvicorn server in a thread."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def _login(base: str, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base, timeout=30)
    me = (await client.post("/api/console/login", json={"username": username, "password": PASSWORD})).json()
    client.headers["X-CSRF-Token"] = me["csrf_token"]
    return client


def test_concurrent_claims_have_exactly_one_winner(settings):
    load_roster(settings.database_url)
    with serving(settings) as base:
        conv = httpx.post(f"{base}/api/conversations", json={}).json()
        answer = httpx.post(f"{base}/internal/handoffs", json={"conversation_id": conv["id"], "topic": "bygglov"},
                            headers=internal_headers(settings)).json()

        async def race():
            anna, erik = await _login(base, "anna.holm"), await _login(base, "erik.sandberg")
            url = f"/api/console/handoffs/{answer['handoff_id']}/claim"
            attempts = [c.post(url) for _ in range(6) for c in (anna, erik)]
            results = await asyncio.gather(*attempts)
            await anna.aclose(), await erik.aclose()
            return results

        results = asyncio.run(race())
    winners = {("anna" if i % 2 == 0 else "erik") for i, r in enumerate(results) if r.status_code == 204}
    losers = [r for r in results if r.status_code == 409]
    assert len(winners) == 1, [r.status_code for r in results]
    assert len(losers) == 6 and all("already claimed by" in r.json()["detail"] for r in losers)


def test_two_replicas_share_events_through_redis(settings):
    load_roster(settings.database_url)
    shared = settings.model_copy(update={"redis_url": "redis://127.0.0.1:6379/0"})
    with serving(shared) as replica_a, serving(shared) as replica_b:
        conv = httpx.post(f"{replica_a}/api/conversations", json={}).json()
        httpx.post(f"{replica_a}/internal/handoffs", json={"conversation_id": conv["id"], "topic": "bygglov"},
                   headers=internal_headers(settings))

        async def scenario():
            ws_url = replica_a.replace("http", "ws") + f"/api/conversations/{conv['id']}/ws"
            async with websockets.connect(ws_url) as ws:
                await ws.send(json.dumps({"secret": conv["secret"], "after": 1}))  # seq 1: the welcome, already shown
                assert json.loads(await ws.recv())["type"] == "state"
                # the official works on the other replica
                queue = httpx.get(f"{replica_b}/api/console/queue")
                assert queue.status_code == 401
                official = None
                for username in ("anna.holm", "erik.sandberg"):
                    client = await _login(replica_b, username)
                    items = (await client.get("/api/console/queue")).json()
                    if any(i["mine"] for i in items):
                        official = client
                    else:
                        await client.aclose()
                resp = await official.post(f"/api/console/conversations/{conv['id']}/messages",
                                           json={"text": "Hej från den andra repliken"})
                assert resp.status_code == 201
                await official.aclose()
                seen = []
                while not any(e.get("text") == "Hej från den andra repliken" for e in seen):
                    seen.append(json.loads(await asyncio.wait_for(ws.recv(), timeout=5)))
                return seen

        events = asyncio.run(scenario())
    texts = [e["text"] for e in events if e.get("type") == "message"]
    assert texts[-1] == "Hej från den andra repliken"
    assert [e["seq"] for e in events if e.get("type") == "message"] == [2, 3]  # claim notice, reply: once each
