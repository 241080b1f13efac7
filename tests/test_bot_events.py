"""What Rasa must get, it gets, once: the resume after a person had the chat (written with the change, a
transactional outbox) and every resident message stored while Rasa was down or slow, which is answered
when Rasa answers again. While Rasa is down, a resident who asks for a person gets a named official."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from conftest import eventually, free_port, internal_headers, load_roster, login, open_conversation
from handoff.app import create_app
from handoff.models import BotEvent

NAMES = {"Anna Holm": "anna.holm", "Erik Sandberg": "erik.sandberg"}


class RasaStandIn:
    """Rasa's two HTTP doors the switchboard uses, recording what arrives in order (started late, on a
    port that refused connections until then, as a Rasa server that comes back)."""

    def __init__(self, port: int, *, slow_first: float = 0.0, silent_first: bool = False) -> None:
        self.port, self.calls, self._server, self.slow_first = port, [], None, slow_first
        self.silent_first = silent_first  # the first message gets no answer, as with the action server down
        self.trackers: dict[str, list[dict]] = {}

    def start(self) -> "RasaStandIn":
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the tracker, as Rasa's HTTP API gives it
                sender = self.path.split("/")[2]
                self._answer({"sender_id": sender, "events": stand_in.trackers.get(sender, [])})

            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"null")
                if self.path.startswith("/webhooks/rest/webhook"):
                    sender, text = body["sender"], body["message"]
                    first = not any(c[0] == "message" for c in stand_in.calls)
                    stand_in.calls.append(("message", sender, text))
                    answer = [{"recipient_id": sender, "text": f"Svar på: {text}"}]
                    user = {"event": "user", "text": text, "metadata": body.get("metadata") or {}}
                    if first and stand_in.silent_first:
                        stand_in.trackers.setdefault(sender, []).append(user)
                        answer = []
                    else:
                        stand_in.trackers.setdefault(sender, []).extend(
                            [user, {"event": "bot", "text": answer[0]["text"], "data": {}}])
                    if first and stand_in.slow_first:
                        time.sleep(stand_in.slow_first)  # answered, but too late for the switchboard's wait
                else:
                    stand_in.calls.append(("events", self.path.split("/")[2], [e["event"] for e in body]))
                    answer = {}
                self._answer(answer)

            def _answer(self, answer) -> None:
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




def test_a_close_while_rasa_is_down_reaches_rasa_before_the_next_message_and_once(rasa_later):
    settings, rasa = rasa_later
    load_roster(settings.database_url)
    with TestClient(create_app(settings.model_copy(update={"claim_check_seconds": 3600}))) as client:
        conv_id, resident = handed_to_an_official_and_closed(client, settings)
        assert pending(client) == [conv_id]  # Rasa was down: the resume waits in the outbox
        rasa.start()
        out = client.post(f"/api/conversations/{conv_id}/messages", headers=resident, json={"text": "en fråga till"})
        assert out.status_code == 201 and out.json()["state"] == "bot"
        assert [m["text"] for m in out.json()["messages"]][-1] == "Svar på: en fråga till"
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


def resident_texts(client, conv_id, resident) -> list[tuple[str, str]]:
    out = client.get(f"/api/conversations/{conv_id}/messages", headers=resident).json()["messages"]
    return [(m["author"], m["text"]) for m in out]


def test_messages_written_while_rasa_is_down_are_answered_in_order_once_it_is_back(rasa_later):
    settings, rasa = rasa_later
    load_roster(settings.database_url)
    with TestClient(create_app(settings)) as client:
        conv_id, resident = open_conversation(client)
        for text in ("får jag bygga en altan?", "och vad kostar det?"):
            out = client.post(f"/api/conversations/{conv_id}/messages", headers=resident, json={"text": text}).json()
            told = out["messages"][-1]
            assert told["author"] == "system" and told["text"].startswith("Den automatiska assistenten svarar inte just nu.")
            assert "Du får svar här när den är igång igen." in told["text"]
            assert told["buttons"] == [{"title": "Prata med en person", "payload": "/request_human"}]
        rasa.start()
        eventually(lambda: ("bot", "Svar på: och vad kostar det?") in resident_texts(client, conv_id, resident),
                   "the late answers")
        time.sleep(0.6)  # more rounds of the background check: nothing is answered twice
        said = resident_texts(client, conv_id, resident)
    assert [c for c in rasa.calls if c[0] == "message"] == [
        ("message", conv_id, "får jag bygga en altan?"), ("message", conv_id, "och vad kostar det?")]
    assert [t for a, t in said if a == "bot"][1:] == ["Svar på: får jag bygga en altan?", "Svar på: och vad kostar det?"]


def test_an_answer_rasa_gave_too_late_is_taken_from_its_tracker_not_asked_again(settings):
    port = free_port()
    rasa = RasaStandIn(port, slow_first=1.5).start()
    try:
        slow = settings.model_copy(update={"rasa_url": f"http://127.0.0.1:{port}", "rasa_timeout_seconds": 0.5,
                                           "claim_check_seconds": 0.2})
        with TestClient(create_app(slow)) as client:
            conv_id, resident = open_conversation(client)
            out = client.post(f"/api/conversations/{conv_id}/messages", headers=resident,
                              json={"text": "när töms soporna?"}).json()
            assert out["messages"][-1]["text"].startswith("Den automatiska assistenten svarar inte just nu.")
            eventually(lambda: ("bot", "Svar på: när töms soporna?") in resident_texts(client, conv_id, resident),
                       "the answer from the tracker")
            time.sleep(0.6)
            said = resident_texts(client, conv_id, resident)
    finally:
        rasa.stop()
    assert [c for c in rasa.calls if c[0] == "message"] == [("message", conv_id, "när töms soporna?")]  # seen once
    assert said.count(("bot", "Svar på: när töms soporna?")) == 1


def test_asking_for_a_person_while_rasa_is_down_names_the_official(client, settings):
    """conftest's client has no Rasa at all."""
    load_roster(settings.database_url)
    conv_id, resident = open_conversation(client)
    client.post(f"/api/conversations/{conv_id}/messages", headers=resident, json={"text": "får jag bygga en altan?"})
    out = client.post(f"/api/conversations/{conv_id}/messages", headers=resident,
                      json={"text": "Prata med en person", "payload": "/request_human"})
    assert out.status_code == 201 and out.json()["state"] == "waiting"
    line = out.json()["messages"][-1]["text"]
    assert line.startswith("Den automatiska assistenten svarar inte just nu. Därför har ")
    assert line.endswith("fått din fråga. Du får svar här i chatten.")
    name = line.removeprefix("Den automatiska assistenten svarar inte just nu. Därför har ").split(",")[0]
    official = login(client, {"Linda Karlsson": "linda.karlsson", "Hassan Omar": "hassan.omar", **NAMES}[name])
    item = next(q for q in client.get("/api/console/queue", headers=official).json() if q["conversation_id"] == conv_id)
    assert item["question"] == "får jag bygga en altan?" and item["mine"]


def test_a_message_left_unanswered_for_a_day_is_not_answered_out_of_the_blue(rasa_later):
    from datetime import timedelta

    from sqlalchemy import update

    from handoff.models import Message, utcnow

    settings, rasa = rasa_later
    load_roster(settings.database_url)
    with TestClient(create_app(settings)) as client:
        conv_id, resident = open_conversation(client)
        client.post(f"/api/conversations/{conv_id}/messages", headers=resident, json={"text": "gammal fråga"})
        client.post(f"/api/conversations/{conv_id}/messages", headers=resident, json={"text": "ny fråga"})
        with client.app.state.services.sessions() as session, session.begin():
            session.execute(update(Message).where(Message.conversation_id == conv_id, Message.text == "gammal fråga")
                            .values(created_at=utcnow() - timedelta(days=2)))
        rasa.start()
        eventually(lambda: ("bot", "Svar på: ny fråga") in resident_texts(client, conv_id, resident), "the new answer")
        time.sleep(0.6)
        with client.app.state.services.sessions() as session:
            assert session.scalars(select(Message.id).where(Message.awaiting_bot.is_(True))).all() == []
    assert [c[2] for c in rasa.calls if c[0] == "message"] == ["ny fråga"]


def test_a_message_the_assistant_answers_with_nothing_is_told_so_and_answered_later(settings):
    """With the action server down, Rasa answers a topic question with nothing at all."""
    port = free_port()
    rasa = RasaStandIn(port, silent_first=True).start()
    try:
        quick = settings.model_copy(update={"rasa_url": f"http://127.0.0.1:{port}", "claim_check_seconds": 0.2})
        with TestClient(create_app(quick)) as client:
            conv_id, resident = open_conversation(client)
            out = client.post(f"/api/conversations/{conv_id}/messages", headers=resident,
                              json={"text": "vad kostar bygglov?"}).json()
            assert out["messages"][-1]["text"].startswith("Den automatiska assistenten svarar inte just nu.")
            eventually(lambda: ("bot", "Svar på: vad kostar bygglov?") in resident_texts(client, conv_id, resident),
                       "the answer once the assistant works again")
            time.sleep(0.6)
            said = resident_texts(client, conv_id, resident)
    finally:
        rasa.stop()
    assert said.count(("bot", "Svar på: vad kostar bygglov?")) == 1
