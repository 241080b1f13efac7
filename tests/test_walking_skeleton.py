"""The whole path against the real running services: the action server, a Rasa server
trained from data/nlu, and the handoff service, each started as its own process."""
from __future__ import annotations

import httpx
import pytest

from conftest import PASSWORD

pytestmark = pytest.mark.e2e


def test_resident_bot_official_and_back(stack):
    base = f"http://127.0.0.1:{stack.handoff_port}"
    rasa = f"http://127.0.0.1:{stack.rasa_port}"
    with httpx.Client(base_url=base, timeout=60) as resident, httpx.Client(base_url=base, timeout=60) as official:
        opened = resident.post("/api/conversations", json={}).json()
        conv, headers = opened["id"], {"X-Resident-Secret": opened["secret"]}

        # 0. a greeting names the municipality (facts come from data/municipality.yml)
        out = resident.post(f"/api/conversations/{conv}/messages", headers=headers, json={"text": "hej"}).json()
        greeting = out["messages"][1]["text"]
        assert out["messages"][1]["author"] == "bot" and "Exempelby kommun" in greeting and "{" not in greeting

        # personal data never reaches Rasa, storage or logs: the personnummer is hidden, and the resident told
        out = resident.post(f"/api/conversations/{conv}/messages", headers=headers,
                            json={"text": "mitt personnummer är 811218-9876"}).json()
        assert out["messages"][1]["text"].startswith("Vi dolde ett personnummer i ditt meddelande.")
        tracker = httpx.get(f"{rasa}/conversations/{conv}/tracker", params={"token": stack.rasa_token}).json()
        said = [e.get("text") or "" for e in tracker["events"] if e["event"] == "user"]
        assert said[-1] == "mitt personnummer är [personnummer borttaget]"
        assert not any("811218" in t for t in said)
        stored = resident.get(f"/api/conversations/{conv}/messages", headers=headers).json()["messages"]
        assert "mitt personnummer är [personnummer borttaget]" in [m["text"] for m in stored]
        assert not any("811218" in m["text"] for m in stored)
        for service in stack.services:  # nor any log
            assert "811218" not in service.log_path.read_text(errors="replace"), service.name

        # 1. a topic question in Swedish; the real Rasa answers in Swedish; both stored in sequence
        out = resident.post(f"/api/conversations/{conv}/messages", headers=headers,
                            json={"text": "behöver jag bygglov för att bygga en altan"}).json()
        assert [m["author"] for m in out["messages"]][:2] == ["resident", "bot"]
        answer = out["messages"][1]["text"]
        assert "bygglov" in answer.lower() and "{" not in answer  # placeholders filled from municipality.yml
        # then "Fick du svar på din fråga?" with Ja / Nej about this answer, and the way to a person
        asked = out["messages"][2]
        assert asked["text"] == "Fick du svar på din fråga?"
        assert [b["payload"] for b in asked["buttons"]][-1] == "/request_human"
        assert asked["buttons"][0]["payload"].startswith('/feedback_yes{"svar":"bygglov/')
        stored = resident.get(f"/api/conversations/{conv}/messages", headers=headers).json()["messages"]
        assert [m["seq"] for m in stored] == list(range(1, len(stored) + 1))

        # 2. the resident asks for a person: the action server calls the handoff service, which names an official
        out = resident.post(f"/api/conversations/{conv}/messages", headers=headers,
                            json={"text": "jag vill prata med en människa"}).json()
        texts = [m["text"] for m in out["messages"] if m["author"] == "bot"]
        named = [t for t in texts if t.startswith("Jag kopplar dig till ")]
        assert named, texts
        assert out["state"] == "waiting"
        name = named[0].removeprefix("Jag kopplar dig till ").split(",")[0]
        assert name in {"Anna Holm", "Erik Sandberg"}
        assert "bygglovshandläggare" in named[0]

        # 3. the official claims and replies; the resident's next message goes to the official, not to Rasa
        username = {"Anna Holm": "anna.holm", "Erik Sandberg": "erik.sandberg"}[name]
        me = official.post("/api/console/login", json={"username": username, "password": PASSWORD}).json()
        csrf = {"X-CSRF-Token": me["csrf_token"]}
        queue = official.get("/api/console/queue").json()
        item = next(q for q in queue if q["conversation_id"] == conv)
        assert item["topic"] == "bygglov" and "altan" in item["question"]
        assert official.post(f"/api/console/handoffs/{item['handoff_id']}/claim", headers=csrf).status_code == 204
        assert official.post(f"/api/console/conversations/{conv}/messages", headers=csrf,
                             json={"text": "Hej, jag heter " + name + ". Hur stor blir altanen?"}).status_code == 201
        seen = resident.get(f"/api/conversations/{conv}/messages", headers=headers).json()["messages"]
        assert seen[-1]["author"] == "official" and seen[-1]["official"]["name"] == name
        assert f"Du pratar nu med {name}, bygglovshandläggare." in [m["text"] for m in seen]

        before = httpx.get(f"{rasa}/conversations/{conv}/tracker", params={"token": stack.rasa_token}).json()
        out = resident.post(f"/api/conversations/{conv}/messages", headers=headers,
                            json={"text": "ungefär 20 kvadratmeter"}).json()
        assert [m["author"] for m in out["messages"]] == ["resident"]
        transcript = official.get(f"/api/console/conversations/{conv}/messages").json()
        assert transcript[-1]["text"] == "ungefär 20 kvadratmeter"
        after = httpx.get(f"{rasa}/conversations/{conv}/tracker", params={"token": stack.rasa_token}).json()
        assert len(after["events"]) == len(before["events"])  # Rasa never saw it
        assert after["paused"] is True

        # 4. the official hands the chat back; the bot answers again and Rasa's tracker is resumed
        assert official.post(f"/api/console/conversations/{conv}/return-to-bot", headers=csrf).status_code == 204
        assert httpx.get(f"{rasa}/conversations/{conv}/tracker", params={"token": stack.rasa_token}).json()["paused"] is False
        out = resident.post(f"/api/conversations/{conv}/messages", headers=headers,
                            json={"text": "hur lång tid tar ett bygglov"}).json()
        assert out["state"] == "bot", out
        assert [m["author"] for m in out["messages"]][:2] == ["resident", "bot"]


def test_after_an_official_closes_the_chat_the_bot_answers_again(stack):
    base = f"http://127.0.0.1:{stack.handoff_port}"
    with httpx.Client(base_url=base, timeout=60) as resident, httpx.Client(base_url=base, timeout=60) as official:
        opened = resident.post("/api/conversations", json={}).json()
        conv, headers = opened["id"], {"X-Resident-Secret": opened["secret"]}
        resident.post(f"/api/conversations/{conv}/messages", headers=headers, json={"text": "vem ska jag prata med"})
        out = resident.post(f"/api/conversations/{conv}/messages", headers=headers,
                            json={"text": "Ja, koppla mig till en person", "payload": "/request_human"}).json()
        named = next(m["text"] for m in out["messages"] if m["text"].startswith("Jag kopplar dig till "))
        name = named.removeprefix("Jag kopplar dig till ").split(",")[0]
        username = {"Linda Karlsson": "linda.karlsson", "Hassan Omar": "hassan.omar"}[name]
        me = official.post("/api/console/login", json={"username": username, "password": PASSWORD}).json()
        csrf = {"X-CSRF-Token": me["csrf_token"]}
        official.post(f"/api/console/conversations/{conv}/messages", headers=csrf, json={"text": "Hej! Ring 031-390 06 00."})
        assert official.post(f"/api/console/conversations/{conv}/close", headers=csrf,
                             json={"outcome": "resolved"}).status_code == 204
        out = resident.post(f"/api/conversations/{conv}/messages", headers=headers, json={"text": "hej igen"}).json()
        assert out["state"] == "bot" and [m["author"] for m in out["messages"]][:2] == ["resident", "bot"]


def _listening_addresses(port: int) -> set[str]:
    """The local addresses a TCP port is listened on, from /proc/net/tcp and tcp6 (state 0A: LISTEN)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@pytest.mark.e2e
def test_the_services_behind_the_switchboard_listen_on_loopback_only(stack):
    """Nobody but Rasa may call the action server (it can ask for a person), nobody but the switchboard Rasa."""
    loopback = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1 as /proc writes them
    for port in (stack.actions_port, stack.rasa_port):
        addresses = _listening_addresses(port)
        assert addresses and addresses <= loopback, (port, addresses)
