"""The switchboard through HTTP: residents, the action server's internal call, officials."""
from __future__ import annotations

from conftest import internal_headers, login, open_conversation


def test_conversation_secret_is_long_and_required(client):
    conv_id, headers = open_conversation(client)
    assert len(headers["X-Resident-Secret"]) >= 43  # 32 random bytes, url-safe base64
    assert client.get(f"/api/conversations/{conv_id}/messages", headers=headers).status_code == 200
    wrong = client.get(f"/api/conversations/{conv_id}/messages", headers={"X-Resident-Secret": "x" * 43})
    unknown = client.get("/api/conversations/nope/messages", headers=headers)
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json() == unknown.json()  # no hint which was wrong


def test_message_is_stored_in_sequence_even_when_the_bot_is_down(client):
    conv_id, headers = open_conversation(client)
    resp = client.post(f"/api/conversations/{conv_id}/messages", json={"text": "behöver jag bygglov?"}, headers=headers)
    assert resp.status_code == 201
    msgs = resp.json()["messages"]
    # seq 1 is the assistant's welcome, stored when the conversation opened
    assert [(m["seq"], m["author"]) for m in msgs] == [(2, "resident"), (3, "system")]
    assert "031-390 06 00" in msgs[1]["text"]  # the honest fallback names the municipality's phone
    stored = client.get(f"/api/conversations/{conv_id}/messages", params={"after": 2}, headers=headers).json()
    assert [m["seq"] for m in stored["messages"]] == [3]


def test_empty_and_too_long_messages_are_refused_in_swedish_and_not_stored(client):
    conv_id, headers = open_conversation(client)
    empty = client.post(f"/api/conversations/{conv_id}/messages", json={"text": "   "}, headers=headers)
    assert empty.status_code == 422 and "Skriv ett meddelande" in empty.json()["detail"]
    long = client.post(f"/api/conversations/{conv_id}/messages", json={"text": "a" * 4001}, headers=headers)
    assert long.status_code == 413 and "för långt" in long.json()["detail"]
    garbage = client.post(f"/api/conversations/{conv_id}/messages", json={"text": 5}, headers=headers)
    assert garbage.status_code == 422 and "fel" in garbage.json()["detail"]
    stored = client.get(f"/api/conversations/{conv_id}/messages", headers=headers).json()["messages"]
    assert [m["author"] for m in stored] == ["bot"]  # only the welcome: nothing of the refused messages


def test_internal_handoff_needs_the_shared_token(client, settings):
    conv_id, _ = open_conversation(client)
    body = {"conversation_id": conv_id, "topic": "bygglov"}
    assert client.post("/internal/handoffs", json=body).status_code == 401
    assert client.post("/internal/handoffs", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_handoff_names_an_official_and_is_not_duplicated(client, settings):
    conv_id, headers = open_conversation(client)
    body = {"conversation_id": conv_id, "topic": "bygglov", "question": "får jag bygga en altan?"}
    first = client.post("/internal/handoffs", json=body, headers=internal_headers(settings)).json()
    assert first["status"] == "assigned"
    assert first["official"]["title"] == "bygglovshandläggare"
    assert first["queue_position"] == 1 and first["expected_wait_minutes"] is None  # no history yet
    again = client.post("/internal/handoffs", json=body, headers=internal_headers(settings)).json()
    assert again["status"] == "already_open" and again["handoff_id"] == first["handoff_id"]
    state = client.get(f"/api/conversations/{conv_id}", headers=headers).json()
    assert state["state"] == "waiting" and state["official"]["name"] == first["official"]["name"]


def test_unknown_topic_goes_to_the_contact_centre(client, settings):
    conv_id, _ = open_conversation(client)
    answer = client.post("/internal/handoffs", json={"conversation_id": conv_id, "topic": "raketer"},
                         headers=internal_headers(settings)).json()
    assert answer["official"]["title"] == "kommunvägledare"


def test_claim_reply_return_to_bot(client, settings):
    conv_id, resident = open_conversation(client)
    answer = client.post("/internal/handoffs", json={"conversation_id": conv_id, "topic": "bygglov"},
                         headers=internal_headers(settings)).json()
    assigned = {"Anna Holm": "anna.holm", "Erik Sandberg": "erik.sandberg"}[answer["official"]["name"]]
    other = ({"anna.holm", "erik.sandberg"} - {assigned}).pop()
    me, colleague = login(client, assigned), login(client, other)

    queue = client.get("/api/console/queue", headers=me).json()
    assert [q["conversation_id"] for q in queue] == [conv_id] and queue[0]["mine"]
    assert client.post(f"/api/console/handoffs/{answer['handoff_id']}/claim", headers=me).status_code == 204
    lost = client.post(f"/api/console/handoffs/{answer['handoff_id']}/claim", headers=colleague)
    assert lost.status_code == 409 and answer["official"]["name"] in lost.json()["detail"]

    reply = client.post(f"/api/console/conversations/{conv_id}/messages", json={"text": "Hej! Jag hjälper dig."}, headers=me)
    assert reply.status_code == 201
    sent = client.post(f"/api/conversations/{conv_id}/messages", json={"text": "tack, en fråga till"}, headers=resident)
    assert [m["author"] for m in sent.json()["messages"]] == ["resident"]  # nobody else answers: the official has it
    seen = client.get(f"/api/conversations/{conv_id}/messages", headers=resident).json()["messages"]
    assert f"Du pratar nu med {answer['official']['name']}, bygglovshandläggare." in [m["text"] for m in seen]
    official_msg = next(m for m in seen if m["author"] == "official")
    assert official_msg["official"]["name"] == answer["official"]["name"]

    assert client.post(f"/api/console/conversations/{conv_id}/return-to-bot", headers=me).status_code == 204
    state = client.get(f"/api/conversations/{conv_id}", headers=resident).json()
    assert state["state"] == "bot"
    last = client.get(f"/api/conversations/{conv_id}/messages", headers=resident).json()["messages"][-1]
    assert last["author"] == "system" and "bygglov" in last["text"].lower()


def test_console_changes_need_the_csrf_token(client, settings):
    headers = login(client, "anna.holm")
    no_csrf = {"Cookie": headers["Cookie"]}
    assert client.put("/api/console/presence", json={"present": False}, headers=no_csrf).status_code == 403
    assert client.put("/api/console/presence", json={"present": False}, headers=headers).json()["present"] is False
    assert client.get("/api/console/queue").status_code == 401


def test_wrong_password_is_refused_and_repeated_failures_lock(client):
    for _ in range(5):
        resp = client.post("/api/console/login", json={"username": "anna.holm", "password": "wrong"})
    assert resp.status_code == 429
    assert client.post("/api/console/login", json={"username": "nobody", "password": "x"}).status_code == 401


def test_pages_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/static/widget.js"' in page.text
    assert client.get("/static/widget.js").status_code == 200
    console = client.get("/console")
    assert console.status_code == 200 and "console.js" in console.text
    assert client.get("/health").json() == {"status": "ok", "events": "ok"}


def test_with_nobody_on_the_roster_the_bot_keeps_the_chat(settings):
    from fastapi.testclient import TestClient

    from handoff.app import create_app

    with TestClient(create_app(settings)) as empty:  # no roster loaded
        conv_id, headers = open_conversation(empty)
        answer = empty.post("/internal/handoffs", json={"conversation_id": conv_id, "topic": "bygglov"},
                            headers=internal_headers(settings)).json()
        assert answer["status"] == "nobody" and answer["official"] is None and answer["handoff_id"] is None
        assert empty.get(f"/api/conversations/{conv_id}", headers=headers).json()["state"] == "bot"
