"""A resident's send that is retried (a time-out, a lost answer, a double click) is stored once: the widget
sends its own id with each message, and the same id returns what the first send gave."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from conftest import open_conversation
from handoff.models import Author, Message


def count(client, conversation_id: str, author: Author | None = None) -> int:
    with client.app.state.services.sessions() as session:
        query = select(func.count()).select_from(Message).where(Message.conversation_id == conversation_id)
        if author is not None:
            query = query.where(Message.author == author)
        return session.scalar(query)


def test_a_retried_send_is_stored_once_and_returns_the_first_result(client):
    conv_id, headers = open_conversation(client)
    body = {"text": "hur ansöker jag om förskola?", "client_id": uuid.uuid4().hex}
    first = client.post(f"/api/conversations/{conv_id}/messages", json=body, headers=headers)
    assert first.status_code == 201, first.text
    stored = count(client, conv_id)
    again = client.post(f"/api/conversations/{conv_id}/messages", json=body, headers=headers)
    assert again.status_code == 201, again.text
    assert again.json() == first.json()  # the resident's message and the answer it got, as the first time
    assert count(client, conv_id) == stored
    assert count(client, conv_id, Author.resident) == 1


def test_the_same_words_with_a_new_id_are_a_new_message(client):
    conv_id, headers = open_conversation(client)
    for _ in range(2):
        resp = client.post(f"/api/conversations/{conv_id}/messages", headers=headers,
                           json={"text": "hej", "client_id": uuid.uuid4().hex})
        assert resp.status_code == 201, resp.text
    assert count(client, conv_id, Author.resident) == 2


def test_a_send_without_an_id_is_still_taken(client):
    conv_id, headers = open_conversation(client)
    resp = client.post(f"/api/conversations/{conv_id}/messages", json={"text": "hej"}, headers=headers)
    assert resp.status_code == 201, resp.text
    assert count(client, conv_id, Author.resident) == 1


def test_an_id_is_kept_per_conversation(client):
    shared = uuid.uuid4().hex
    for _ in range(2):
        conv_id, headers = open_conversation(client)
        resp = client.post(f"/api/conversations/{conv_id}/messages", json={"text": "hej", "client_id": shared},
                           headers=headers)
        assert resp.status_code == 201, resp.text
        assert count(client, conv_id, Author.resident) == 1


def test_a_malformed_id_is_refused_in_swedish_and_nothing_is_stored(client):
    conv_id, headers = open_conversation(client)
    before = count(client, conv_id)
    for bad in ("short", "x" * 65, "åäö-åäö-åäö", "a b c d e f g h", 12345678):
        resp = client.post(f"/api/conversations/{conv_id}/messages", json={"text": "hej", "client_id": bad},
                           headers=headers)
        assert resp.status_code == 422, (bad, resp.text)
        assert resp.json()["detail"]
    assert count(client, conv_id) == before


def test_the_same_id_sent_twice_at_once_is_stored_once(client):
    conv_id, headers = open_conversation(client)
    body = {"text": "vad kostar bygglov?", "client_id": uuid.uuid4().hex}

    def send(_):
        return client.post(f"/api/conversations/{conv_id}/messages", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(send, range(4)))
    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    assert count(client, conv_id, Author.resident) == 1
    firsts = {a.json()["messages"][0]["seq"] for a in answers}
    assert len(firsts) == 1  # every answer shows the one stored message
