"""Two replicas share live events through a real Redis, and Redis going away (at start or while running)
costs nobody an answer: requests still succeed, this replica's own clients stay live, and once Redis is
back every client catches up on what it missed."""
from __future__ import annotations

import socket
import subprocess
import threading
import time

import pytest
from fastapi.testclient import TestClient

from conftest import eventually, free_port, internal_headers, load_roster, login, open_conversation
from handoff.app import create_app

NAMES = {"Anna Holm": "anna.holm", "Erik Sandberg": "erik.sandberg"}




class RedisServer:
    """A private redis-server on a free port, so a test can kill it and start it again."""

    def __init__(self, tmp) -> None:
        self.port, self.dir, self.proc = free_port(), tmp, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    yield server
    server.kill()


def receive(ws, timeout: float = 10.0) -> dict:
    """The next event on a test WebSocket, or a failure after `timeout` (never a hung test)."""
    box: list = []
    reader = threading.Thread(target=lambda: box.append(ws.receive_json()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert box, f"no event within {timeout} s"
    return box[0]


def until_state(ws) -> None:
    while receive(ws)["type"] != "state":
        pass


def message_with(ws, text: str, timeout: float = 10.0) -> dict:
    """Events until the message with this text (an official's first reply also brings "Du pratar nu med …")."""
    deadline = time.monotonic() + timeout
    while True:
        event = receive(ws, max(0.1, deadline - time.monotonic()))
        if event.get("type") == "message" and event["text"] == text:
            return event


def nothing_within(ws, seconds: float) -> None:
    box: list = []
    reader = threading.Thread(target=lambda: box.append(ws.receive_json()), daemon=True)
    reader.start()
    reader.join(seconds)
    assert not box, f"unexpected event {box}"
    return reader


def healthy_events(client) -> str:
    return client.get("/health").json()["events"]




def handed_off(client, settings) -> tuple[str, dict, dict]:
    conv_id, resident = open_conversation(client)
    answer = client.post("/internal/handoffs", json={"conversation_id": conv_id, "topic": "bygglov", "question": "altan"},
                         headers=internal_headers(settings)).json()
    return conv_id, resident, answer


def test_a_resident_on_one_replica_sees_live_what_an_official_writes_on_another(settings, redis_server):
    redis_server.start()
    shared = settings.model_copy(update={"redis_url": redis_server.url})
    load_roster(shared.database_url)
    with TestClient(create_app(shared)) as a, TestClient(create_app(shared)) as b:
        eventually(lambda: healthy_events(a) == "ok" and healthy_events(b) == "ok", "both replicas on Redis")
        conv_id, resident, answer = handed_off(a, shared)
        official = login(b, NAMES[answer["official"]["name"]])
        with a.websocket_connect(f"/api/conversations/{conv_id}/ws") as ws:
            ws.send_json({"secret": resident["X-Resident-Secret"], "after": 0})
            until_state(ws)
            assert b.post(f"/api/console/conversations/{conv_id}/messages", headers=official,
                          json={"text": "Hej, jag heter Anna."}).status_code == 201
            assert message_with(ws, "Hej, jag heter Anna.")["official"]["name"] == answer["official"]["name"]


def test_the_service_starts_and_serves_while_redis_is_down_and_joins_it_when_it_comes(settings, redis_server):
    shared = settings.model_copy(update={"redis_url": redis_server.url})
    load_roster(shared.database_url)
    with TestClient(create_app(shared)) as a:
        assert a.get("/health").json() == {"status": "ok", "events": "reconnecting"}
        conv_id, resident, answer = handed_off(a, shared)
        official = login(a, NAMES[answer["official"]["name"]])
        with a.websocket_connect(f"/api/conversations/{conv_id}/ws") as ws:
            ws.send_json({"secret": resident["X-Resident-Secret"], "after": 0})
            until_state(ws)
            assert a.post(f"/api/console/conversations/{conv_id}/messages", headers=official,
                          json={"text": "Svar utan Redis."}).status_code == 201
            message_with(ws, "Svar utan Redis.")  # this replica's own client stays live
            redis_server.start()
            eventually(lambda: healthy_events(a) == "ok", "the replica to join Redis")
        with TestClient(create_app(shared)) as b:
            eventually(lambda: healthy_events(b) == "ok", "the second replica on Redis")
            with a.websocket_connect(f"/api/conversations/{conv_id}/ws") as ws:
                ws.send_json({"secret": resident["X-Resident-Secret"], "after": 0})
                until_state(ws)
                b_official = login(b, NAMES[answer["official"]["name"]])
                assert b.post(f"/api/console/conversations/{conv_id}/messages", headers=b_official,
                              json={"text": "Svar via Redis."}).status_code == 201
                message_with(ws, "Svar via Redis.")


def test_redis_killed_while_chatting_costs_no_request_and_clients_catch_up_when_it_returns(settings, redis_server):
    redis_server.start()
    shared = settings.model_copy(update={"redis_url": redis_server.url})
    load_roster(shared.database_url)
    with TestClient(create_app(shared)) as a, TestClient(create_app(shared)) as b:
        eventually(lambda: healthy_events(a) == "ok" and healthy_events(b) == "ok", "both replicas on Redis")
        conv_id, resident, answer = handed_off(a, shared)
        official = login(b, NAMES[answer["official"]["name"]])
        with a.websocket_connect(f"/api/conversations/{conv_id}/ws") as ws:
            ws.send_json({"secret": resident["X-Resident-Secret"], "after": 0})
            until_state(ws)
            redis_server.kill()
            eventually(lambda: healthy_events(a) == "reconnecting" and healthy_events(b) == "reconnecting",
                       "both replicas to notice")
            assert b.post(f"/api/console/conversations/{conv_id}/messages", headers=official,
                          json={"text": "Skrivet medan Redis var borta."}).status_code == 201
            assert a.post(f"/api/conversations/{conv_id}/typing", headers=resident).status_code == 204
            assert b.post(f"/api/console/conversations/{conv_id}/typing", headers=official).status_code == 204
            assert b.get("/api/console/queue", headers=official).status_code == 200
            redis_server.start()
            # once a's listener is back it reads the database: the official's line from b arrives
            message_with(ws, "Skrivet medan Redis var borta.", timeout=20)
