"""Real danger gets 112 whatever the state of the chat: while the resident waits for a person (after hours
nobody may read the queue until morning), while an official has the chat, and when the assistant is down.
The official who has the chat, or the contact centre, is alerted in the console."""
from __future__ import annotations

from conftest import login, open_conversation
from test_handoff_flow import USERNAMES, hand_off

DANGER = "det brinner i trapphuset och vi kommer inte ut"


def said(client, conv_id, resident, text):
    resp = client.post(f"/api/conversations/{conv_id}/messages", json={"text": text}, headers=resident)
    assert resp.status_code == 201, resp.text
    return resp.json()["messages"]


def test_danger_while_waiting_for_a_person_gets_112_and_alerts_the_named_official(client, settings):
    conv_id, resident, answer = hand_off(client, settings)
    name = answer["official"]["name"]
    me = login(client, USERNAMES[name])
    with client.websocket_connect("/api/console/ws", headers={"Cookie": me["Cookie"]}) as ws:
        assert ws.receive_json()["type"] == "hello"
        messages = said(client, conv_id, resident, DANGER)
        assert [m["author"] for m in messages] == ["resident", "system"]
        assert messages[1]["text"].startswith("Ring 112") and name in messages[1]["text"]
        events = [ws.receive_json() for _ in range(3)]
        alert = next(e for e in events if e["type"] == "emergency")
        assert alert["conversation_id"] == conv_id and alert["seq"] == messages[0]["seq"]
    state = client.get(f"/api/conversations/{conv_id}", headers=resident).json()
    assert state["state"] == "waiting"  # the resident keeps their place with the named official


def test_danger_while_an_official_has_the_chat_gets_112_in_english_too(client, settings):
    conv_id, resident, answer = hand_off(client, settings)
    me = login(client, USERNAMES[answer["official"]["name"]])
    assert client.post(f"/api/console/handoffs/{answer['handoff_id']}/claim", headers=me).status_code == 204
    messages = said(client, conv_id, resident, "there is a fire in my apartment and I cannot get out")
    assert [m["author"] for m in messages] == ["resident", "system"]
    assert messages[1]["text"].startswith("Call 112")


def test_danger_when_the_assistant_is_down_gets_112_not_the_phone_number(client):
    conv_id, resident = open_conversation(client)  # no Rasa listens in these tests
    messages = said(client, conv_id, resident, DANGER)
    assert [m["author"] for m in messages] == ["resident", "system"]
    assert messages[1]["text"].startswith("Ring 112") and "kontaktcenter" in messages[1]["text"]


def test_an_ordinary_message_while_waiting_gets_no_112(client, settings):
    conv_id, resident, _ = hand_off(client, settings)
    messages = said(client, conv_id, resident, "jag brinner för att bygga, när kommer handläggaren?")
    assert [m["author"] for m in messages] == ["resident"]
