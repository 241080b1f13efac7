"""Rasa's tracker hears of every return from a person, also when Rasa was down at that moment: the
resume is written with the change (a transactional outbox) and sent before the conversation's next
message, or by the background check, exactly once per change."""
from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from conftest import internal_headers, load_roster, login, open_conversation
from handoff.app import create_app
from handoff.models import BotEvent

NAMES = {"Anna Holm": "anna.holm", "Erik Sandberg": "erik.sandberg"}


class RasaStandIn:
    """Rasa's two HTTP doors the switchboard uses, recording what arrives in order (started late, on a
    port that refused connections until then, as a Rasa server that comes back)."""

    def __init__(self, port: int) -> None:
        self.port, self.calls, self._server = port, [], None

    def start(self) -> "RasaStandIn":
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"null")
                if self.path.startswith("/webhooks/rest/webhook"):
                    calls.append(("message", body["sender"], body["message"]))
                    answer = [{"text": "Hej igen! Vad kan jag hjälpa dig med?"}]
                else:
                    calls.append(("events", self.path.split("/")[2], [e["event"] for e in body]))
                    answer = {}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def rasa_later(settings):
    port = free_port()
    stand_in = RasaStandIn(port)
    yield settings.model_copy(update={"rasa_url": f"http://127.0.0.1:{port}", "claim_check_seconds": 0.2}), stand_in
    stand_in.stop()


def handed_to_an_official_and_closed(client, settings) -> tuple[str, dict]:
    conv_id, resident = open_conversation(client)
    answer = client.post("/internal/handoffs", json={"conversation_id": conv_id, "topic": "bygglov", "question": "altan"},
                         headers=internal_headers(settings)).json()
    official = login(client, NAMES[answer["official"]["name"]])
    assert client.post(f"/api/console/conversations/{conv_id}/messages", headers=official,
                       json={"text": "Du behöver inget bygglov för den altanen."}).status_code == 201
    assert client.post(f"/api/console/conversations/{conv_id}/close", headers=official,
                       json={"outcome": "resolved"}).status_code == 204
    return conv_id, resident


def pending(client) -> list[str]:
    with client.app.state.services.sessions() as session:
        return list(session.scalars(select(BotEvent.conversation_id).where(BotEvent.sent_at.is_(None))))


def eventually(check, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def test_a_close_while_rasa_is_down_reaches_rasa_before_the_next_message_and_once(rasa_later):
    settings, rasa = rasa_later
    load_roster(settings.database_url)
    with TestClient(create_app(settings.model_copy(update={"claim_check_seconds": 3600}))) as client:
        conv_id, resident = handed_to_an_official_and_closed(client, settings)
        assert pending(client) == [conv_id]  # Rasa was down: the resume waits in the outbox
        rasa.start()
        out = client.post(f"/api/conversations/{conv_id}/messages", headers=resident, json={"text": "en fråga till"})
        assert out.status_code == 201 and out.json()["state"] == "bot"
        assert [m["text"] for m in out.json()["messages"]][-1] == "Hej igen! Vad kan jag hjälpa dig med?"
        client.post(f"/api/conversations/{conv_id}/messages", headers=resident, json={"text": "och en till"})
    assert rasa.calls == [("events", conv_id, ["resume", "slot", "action"]),
                          ("message", conv_id, "en fråga till"), ("message", conv_id, "och en till")]
    assert pending(client) == []


def test_the_background_check_sends_what_rasa_missed_without_waiting_for_the_resident(rasa_later):
    settings, rasa = rasa_later
    load_roster(settings.database_url)
    with TestClient(create_app(settings)) as client:
        first, _ = handed_to_an_official_and_closed(client, settings)
        second, _ = handed_to_an_official_and_closed(client, settings)
        assert sorted(pending(client)) == sorted([first, second])
        rasa.start()
        eventually(lambda: not pending(client), "the pending events to be sent")
        time.sleep(0.5)  # a few more rounds of the check: nothing is sent twice
    assert sorted(c[1] for c in rasa.calls) == sorted([first, second])
    assert all(c[0] == "events" and c[2] == ["resume", "slot", "action"] for c in rasa.calls)
