"""A handoff's life through HTTP and WebSocket: transfer, close, claim timeout, staff leaving,
waiting times from real history, live updates with resume."""
from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from conftest import FIXTURES, PASSWORD, internal_headers, login, open_conversation
from handoff.app import create_app


def hand_off(client, settings, topic="bygglov", question="får jag bygga en altan?"):
    conv_id, resident = open_conversation(client)
    answer = client.post("/internal/handoffs", json={"conversation_id": conv_id, "topic": topic, "question": question},
                         headers=internal_headers(settings)).json()
    return conv_id, resident, answer


USERNAMES = {"Anna Holm": "anna.holm", "Erik Sandberg": "erik.sandberg",
             "Linda Karlsson": "linda.karlsson", "Hassan Omar": "hassan.omar"}


def texts_seen(client, conv_id, resident):
    return [m["text"] for m in client.get(f"/api/conversations/{conv_id}/messages", headers=resident).json()["messages"]]


def test_transfer_to_a_named_colleague_tells_the_resident_who_and_why(client, settings):
    conv_id, resident, answer = hand_off(client, settings)
    me = login(client, USERNAMES[answer["official"]["name"]])
    colleague_name = ({"Anna Holm", "Erik Sandberg"} - {answer["official"]["name"]}).pop()
    colleague = login(client, USERNAMES[colleague_name])
    client.post(f"/api/console/handoffs/{answer['handoff_id']}/claim", headers=me)
    colleague_id = next(c["id"] for c in client.get("/api/console/colleagues", headers=me).json()
                        if c["name"] == colleague_name)
    resp = client.post(f"/api/console/conversations/{conv_id}/transfer", headers=me,
                       json={"official_id": colleague_id, "reason": "Hen är expert på altaner."})
    assert resp.status_code == 204
    assert f"{colleague_name}, bygglovshandläggare, tar över din fråga. Skälet är: Hen är expert på altaner." \
        in texts_seen(client, conv_id, resident)
    queue = client.get("/api/console/queue", headers=colleague).json()
    assert queue[0]["conversation_id"] == conv_id and queue[0]["mine"] and not queue[0]["claimed"]
    assert client.post(f"/api/console/conversations/{conv_id}/messages", headers=me,
                       json={"text": "hej"}).status_code == 403
    assert client.post(f"/api/console/conversations/{conv_id}/messages", headers=colleague,
                       json={"text": "Hej, jag tar över."}).status_code == 201


def test_close_with_outcome_then_a_new_message_reopens_with_the_bot(client, settings):
    conv_id, resident, answer = hand_off(client, settings)
    me = login(client, USERNAMES[answer["official"]["name"]])
    client.post(f"/api/console/conversations/{conv_id}/messages", headers=me, json={"text": "Klart, lycka till!"})
    bad = client.post(f"/api/console/conversations/{conv_id}/close", headers=me, json={"outcome": "maybe"})
    assert bad.status_code == 422
    assert client.post(f"/api/console/conversations/{conv_id}/close", headers=me,
                       json={"outcome": "resolved"}).status_code == 204
    assert client.get(f"/api/conversations/{conv_id}", headers=resident).json()["state"] == "closed"
    out = client.post(f"/api/conversations/{conv_id}/messages", headers=resident, json={"text": "en sak till"}).json()
    assert out["state"] == "bot"


def test_returning_resident_gets_the_same_official(client, settings):
    conv_id, resident, first = hand_off(client, settings)
    me = login(client, USERNAMES[first["official"]["name"]])
    client.post(f"/api/console/conversations/{conv_id}/messages", headers=me, json={"text": "Hej!"})
    client.post(f"/api/console/conversations/{conv_id}/close", headers=me, json={"outcome": "resolved"})
    # meanwhile the colleague answered less: least load alone would pick either; continuity picks the same
    for _ in range(3):
        again = client.post("/internal/handoffs", json={"conversation_id": conv_id, "topic": "bygglov"},
                            headers=internal_headers(settings)).json()
        assert again["official"]["name"] == first["official"]["name"]
        client.post(f"/api/console/conversations/{conv_id}/messages", headers=me, json={"text": "Hej igen!"})
        client.post(f"/api/console/conversations/{conv_id}/close", headers=me, json={"outcome": "resolved"})


def test_expected_wait_comes_from_real_history(client, settings):
    for _ in range(3):
        conv_id, _, answer = hand_off(client, settings)
        me = login(client, USERNAMES[answer["official"]["name"]])
        client.post(f"/api/console/conversations/{conv_id}/messages", headers=me, json={"text": "Hej!"})
    _, _, answer = hand_off(client, settings)
    assert answer["expected_wait_minutes"] == 1  # answered within seconds: rounded up to a minute


@pytest.fixture
def quick_timeout_client(settings):
    from conftest import load_roster

    load_roster(settings.database_url)
    fast = settings.model_copy(update={"claim_timeout_seconds": 1, "claim_check_seconds": 0.2})
    with TestClient(create_app(fast)) as c:
        yield c


def test_unclaimed_chat_is_offered_to_the_next_official(quick_timeout_client, settings):
    client = quick_timeout_client
    conv_id, resident, answer = hand_off(client, settings)
    other = ({"Anna Holm", "Erik Sandberg"} - {answer["official"]["name"]}).pop()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = client.get(f"/api/conversations/{conv_id}", headers=resident).json()
        if state["official"]["name"] == other:
            break
        time.sleep(0.2)
    assert state["official"]["name"] == other
    assert f"{other}, bygglovshandläggare, tar din fråga i stället, så att du får svar snabbare." \
        in texts_seen(client, conv_id, resident)


@pytest.fixture
def admin_client(settings):
    from conftest import load_roster

    load_roster(settings.database_url)
    with TestClient(create_app(settings.model_copy(update={"admin_token": SecretStr("a" * 32)}))) as c:
        yield c


def test_roster_reload_deactivates_leavers_and_hands_over_their_chats(admin_client, settings):
    client = admin_client
    conv_id, resident, answer = hand_off(client, settings)
    leaver = answer["official"]["name"]
    roster_yaml = (FIXTURES / "roster_always.yml").read_text(encoding="utf-8")
    kept = "\n".join(line for line in roster_yaml.splitlines() if leaver not in line)
    assert client.put("/api/admin/roster", content=kept, headers={"Authorization": "Bearer wrong"}).status_code == 401
    resp = client.put("/api/admin/roster", content=kept,
                      headers={"Authorization": "Bearer " + "a" * 32, "Content-Type": "application/yaml"})
    assert resp.status_code == 200 and resp.json()["left"] == [USERNAMES[leaver]]
    successor = ({"Anna Holm", "Erik Sandberg"} - {leaver}).pop()
    assert f"{leaver} arbetar inte kvar med det här. {successor}, bygglovshandläggare, tar över din fråga." \
        in texts_seen(client, conv_id, resident)
    assert client.post("/api/console/login", json={"username": USERNAMES[leaver], "password": "x"}).status_code == 401
    again = client.put("/api/admin/roster", content=kept,
                       headers={"Authorization": "Bearer " + "a" * 32, "Content-Type": "application/yaml"}).json()
    assert again == {"listed": 3, "arrived": [], "updated": [], "left": []}  # idempotent


def test_roster_from_csv_and_bad_roster_is_refused_whole(admin_client):
    headers = {"Authorization": "Bearer " + "a" * 32, "Content-Type": "text/csv"}
    csv_text = ("username,name,title,unit,topics,languages,hours\n"
                "nina.berg,Nina Berg,bygglovshandläggare,samhallsbyggnad,bygglov,sv|en,mon=08:00-16:00|tue=08:00-16:00\n")
    resp = admin_client.put("/api/admin/roster", content=csv_text, headers=headers)
    assert resp.status_code == 200 and resp.json()["arrived"] == ["nina.berg"]
    broken = csv_text + "olle.ek,Olle Ek,handläggare,gata,raketer,sv,mon=9-8\n"
    resp = admin_client.put("/api/admin/roster", content=broken, headers=headers)
    assert resp.status_code == 422 and "raketer" in resp.text
    assert resp.json()["detail"].startswith("roster not loaded")


def test_resident_websocket_resumes_without_loss_or_repeat(client, settings):
    conv_id, resident, answer = hand_off(client, settings)
    me = login(client, USERNAMES[answer["official"]["name"]])
    client.post(f"/api/console/conversations/{conv_id}/messages", headers=me, json={"text": "Första svaret"})
    with client.websocket_connect(f"/api/conversations/{conv_id}/ws") as ws:
        ws.send_json({"secret": resident["X-Resident-Secret"], "after": 0})
        backlog = [ws.receive_json(), ws.receive_json(), ws.receive_json()]
        assert [e.get("seq") for e in backlog] == [1, 2, 3]  # the welcome, "Du pratar nu med ..." and the reply
        assert ws.receive_json()["type"] == "state"
        client.post(f"/api/console/conversations/{conv_id}/messages", headers=me, json={"text": "Andra svaret"})
        live = ws.receive_json()
        assert (live["seq"], live["text"], live["official"]["name"]) == (4, "Andra svaret", answer["official"]["name"])
    client.post(f"/api/console/conversations/{conv_id}/messages", headers=me, json={"text": "Tredje svaret"})
    with client.websocket_connect(f"/api/conversations/{conv_id}/ws") as ws:
        ws.send_json({"secret": resident["X-Resident-Secret"], "after": 4})
        first = ws.receive_json()
        assert (first["seq"], first["text"]) == (5, "Tredje svaret")
        assert ws.receive_json()["type"] == "state"


def test_websocket_with_a_wrong_secret_is_closed(client):
    conv_id, _ = open_conversation(client)
    with client.websocket_connect(f"/api/conversations/{conv_id}/ws") as ws:
        ws.send_json({"secret": "wrong", "after": 0})
        message = ws.receive()
        assert message["type"] == "websocket.close" and message["code"] == 4404


def test_console_websocket_announces_a_new_chat(client, settings):
    me = login(client, "anna.holm")
    with client.websocket_connect("/api/console/ws", headers={"Cookie": me["Cookie"]}) as ws:
        assert ws.receive_json() == {"type": "hello"}
        conv_id, _, _ = hand_off(client, settings)
        event = ws.receive_json()
        assert event == {"type": "queue", "conversation_id": conv_id}


def test_typing_is_shown_both_ways(client, settings):
    conv_id, resident, answer = hand_off(client, settings)
    me = login(client, USERNAMES[answer["official"]["name"]])
    client.post(f"/api/console/handoffs/{answer['handoff_id']}/claim", headers=me)
    assert client.get(f"/api/conversations/{conv_id}", headers=resident).json()["official_typing"] is False
    assert client.post(f"/api/console/conversations/{conv_id}/typing", headers=me).status_code == 204
    assert client.get(f"/api/conversations/{conv_id}", headers=resident).json()["official_typing"] is True
    assert client.post(f"/api/conversations/{conv_id}/typing", headers=resident).status_code == 204
    item = next(q for q in client.get("/api/console/queue", headers=me).json() if q["conversation_id"] == conv_id)
    assert item["resident_typing"] is True
    colleague = login(client, ({"anna.holm", "erik.sandberg"} - {USERNAMES[answer["official"]["name"]]}).pop())
    assert client.post(f"/api/console/conversations/{conv_id}/typing", headers=colleague).status_code == 403


def test_widget_may_be_embedded_only_on_listed_sites(settings):
    from conftest import load_roster

    load_roster(settings.database_url)
    allowed = settings.model_copy(update={"widget_origins": ["https://www.exempelby.example"]})
    with TestClient(create_app(allowed)) as c:
        ok = c.options("/api/conversations", headers={"Origin": "https://www.exempelby.example",
                                                      "Access-Control-Request-Method": "POST",
                                                      "Access-Control-Request-Headers": "x-resident-secret"})
        assert ok.headers.get("access-control-allow-origin") == "https://www.exempelby.example"
        other = c.options("/api/conversations", headers={"Origin": "https://evil.example",
                                                         "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in other.headers


def test_console_websocket_is_refused_from_another_site_and_filtered(client, settings):
    me = login(client, "anna.holm")
    cc = login(client, "linda.karlsson")
    with client.websocket_connect("/api/console/ws", headers={"Cookie": me["Cookie"], "Origin": "https://evil.example"}) as ws:
        assert ws.receive()["code"] == 4401
    with client.websocket_connect("/api/console/ws", headers={"Cookie": cc["Cookie"]}) as ws:
        assert ws.receive_json() == {"type": "hello"}
        hand_off(client, settings, topic="bygglov")  # not a contact-centre chat: Linda is not told
        kontakt_conv, _, _ = hand_off(client, settings, topic="kontakt")
        assert ws.receive_json() == {"type": "queue", "conversation_id": kontakt_conv}


def test_waiting_residents_are_told_when_their_place_in_line_moves(client, settings):
    first_conv, _, first = hand_off(client, settings)
    official = first["official"]["name"]
    second_conv, second_resident, second = hand_off(client, settings)
    while second["official"]["name"] != official:  # two in the same official's line
        second_conv, second_resident, second = hand_off(client, settings)
    place = client.get(f"/api/conversations/{second_conv}", headers=second_resident).json()["queue_position"]
    with client.websocket_connect(f"/api/conversations/{second_conv}/ws") as ws:
        ws.send_json({"secret": second_resident["X-Resident-Secret"], "after": 999})
        assert ws.receive_json()["type"] == "state"
        me = login(client, USERNAMES[official])
        client.post(f"/api/console/handoffs/{first['handoff_id']}/claim", headers=me)
        assert ws.receive_json() == {"type": "queue", "conversation_id": second_conv}
    assert client.get(f"/api/conversations/{second_conv}", headers=second_resident).json()["queue_position"] == place - 1


def test_a_web_resident_who_leaves_the_wait_is_told_and_drops_out_of_the_queue(client, settings):
    conv_id, resident, answer = hand_off(client, settings)
    official = login(client, USERNAMES[answer["official"]["name"]])
    assert any(q["conversation_id"] == conv_id for q in client.get("/api/console/queue", headers=official).json())
    assert client.post(f"/api/conversations/{conv_id}/leave", headers={"X-Resident-Secret": "fel"}).status_code == 404
    assert client.post(f"/api/conversations/{conv_id}/leave", headers=resident).status_code == 204
    assert texts_seen(client, conv_id, resident)[-1] == \
        f"Du har avslutat samtalet med {answer['official']['name']}. Skriv igen om du har fler frågor."
    assert client.get(f"/api/conversations/{conv_id}", headers=resident).json()["state"] == "closed"
    assert not any(q["conversation_id"] == conv_id for q in client.get("/api/console/queue", headers=official).json())
    # leaving again changes nothing; the next message is the assistant's again
    assert client.post(f"/api/conversations/{conv_id}/leave", headers=resident).status_code == 204
    assert texts_seen(client, conv_id, resident).count(
        f"Du har avslutat samtalet med {answer['official']['name']}. Skriv igen om du har fler frågor.") == 1
    out = client.post(f"/api/conversations/{conv_id}/messages", headers=resident, json={"text": "en sak till"})
    assert out.json()["state"] == "bot"



@pytest.mark.parametrize("content_type,body", [
    ("application/yaml", ""),
    ("application/yaml", "officials: []\n"),
    ("text/csv", "username,name,title,unit,topics,languages,hours\n"),
    ("application/yaml", "just a string\n"),
    ("application/yaml", "- anna.holm\n- erik.sandberg\n"),
    ("application/yaml", "officials: anna.holm\n"),
    ("application/yaml", "officials: [: broken\n"),
], ids=["empty", "no officials", "a CSV header alone", "a YAML string", "a YAML list", "officials not a list",
        "broken YAML"])
def test_a_roster_that_lists_nobody_or_is_not_a_roster_changes_nothing(admin_client, content_type, body):
    admin = {"Authorization": "Bearer " + "a" * 32, "Content-Type": content_type}
    resp = admin_client.put("/api/admin/roster", content=body, headers=admin)
    assert resp.status_code == 422 and resp.json()["detail"].startswith("roster not loaded: ")
    assert admin_client.post("/api/console/login", json={"username": "anna.holm", "password": PASSWORD}).status_code == 200


def _closed_within(ws, seconds: float) -> int | None:
    """The close code if the server closes the socket within `seconds` (events before it are skipped)."""
    import threading

    from starlette.websockets import WebSocketDisconnect

    box: list = []

    def read() -> None:
        try:
            while True:
                ws.receive_json()
        except WebSocketDisconnect as exc:
            box.append(exc.code)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(seconds)
    return box[0] if box else None


def test_logging_out_closes_the_officials_open_sockets_at_once(client, settings):
    conv_id, _, answer = hand_off(client, settings)
    me = login(client, USERNAMES[answer["official"]["name"]])
    cookie = {"Cookie": me["Cookie"]}
    with client.websocket_connect("/api/console/ws", headers=cookie) as console, \
            client.websocket_connect(f"/api/console/conversations/{conv_id}/ws", headers=cookie) as chat:
        assert console.receive_json()["type"] == "hello"
        chat.send_json({"after": 0})
        assert client.post("/api/console/logout", headers=me).status_code == 204
        assert _closed_within(console, 3) == 4401
        assert _closed_within(chat, 3) == 4401


def test_a_deactivated_officials_open_socket_closes(admin_client, settings):
    client = admin_client
    conv_id, _, answer = hand_off(client, settings)
    leaver = answer["official"]["name"]
    cookie = {"Cookie": login(client, USERNAMES[leaver])["Cookie"]}
    with client.websocket_connect("/api/console/ws", headers=cookie) as console:
        assert console.receive_json()["type"] == "hello"
        kept = "\n".join(line for line in (FIXTURES / "roster_always.yml").read_text(encoding="utf-8").splitlines()
                         if leaver not in line)
        assert client.put("/api/admin/roster", content=kept, headers={
            "Authorization": "Bearer " + "a" * 32, "Content-Type": "application/yaml"}).status_code == 200
        assert _closed_within(console, 3) == 4401
