"""Personnummer and samordningsnummer are hidden before anything stores, shows or sends them, in the
forms residents really write; the resident is told. Control characters never reach the database."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from conftest import internal_headers, login, open_conversation
from handoff.models import Message
from handoff.pii import MASK, mask_personnummer

HIDDEN = [
    ("with a hyphen", "mitt nummer är 811218-9876", "mitt nummer är " + MASK),
    ("with the century", "19811218-9876", MASK),
    ("with the century and no separator", "198112189876", MASK),
    ("with hyphens between every part", "1981-12-18-9876", MASK),
    ("in groups of two", "81 12 18-9876", MASK),
    ("with an en dash", "811218\u20139876", MASK),
    ("with an em dash", "811218\u20149876", MASK),
    ("with a minus sign", "811218\u22129876", MASK),
    ("with a space before the last four", "19811218 9876", MASK),
    ("with a plus for someone over a hundred", "811218+9876", MASK),
    ("with a zero-width space inside", "8112\u200b18-9876", MASK),
    ("with a mistyped check digit", "811218-9875", MASK),
    ("as ten digits with a valid check digit", "8112189876", MASK),
    ("as a samordningsnummer (day plus 60)", "811278-9876", MASK),
]
KEPT = [
    ("a mobile number", "ring mig på 0701234567"),
    ("a mobile number in groups", "070-123 45 67"),
    ("a Stockholm number", "08-123 456 78"),
    ("a number with the country code", "+46 70 123 45 67"),
    ("ten digits with a wrong check digit and no separator", "8112189875"),
    ("a year and an amount", "år 2023 kostade det 1500 kr"),
    ("a date", "mötet är 2026-12-18"),
]


@pytest.mark.parametrize("what,text,masked", HIDDEN, ids=[h[0] for h in HIDDEN])
def test_a_personnummer_is_hidden_when_written(what, text, masked):
    assert mask_personnummer(text) == masked


@pytest.mark.parametrize("what,text", KEPT, ids=[k[0] for k in KEPT])
def test_numbers_a_resident_needs_to_give_are_kept(what, text):
    assert mask_personnummer(text) == text


def stored_texts(client, conv_id) -> list[str]:
    with client.app.state.services.sessions() as session:
        return list(session.scalars(select(Message.text).where(Message.conversation_id == conv_id).order_by(Message.seq)))


def test_a_resident_personnummer_is_never_stored_and_the_resident_is_told(client, settings):
    conv_id, resident = open_conversation(client)
    out = client.post(f"/api/conversations/{conv_id}/messages", headers=resident,
                      json={"text": "Hej, jag heter Eva och mitt personnummer är 19811218\u20139876. Har jag fått bygglov?"})
    assert out.status_code == 201
    said = [m["text"] for m in out.json()["messages"]]
    assert said[0] == f"Hej, jag heter Eva och mitt personnummer är {MASK}. Har jag fått bygglov?"
    assert said[1].startswith("Vi dolde ett personnummer i ditt meddelande.")
    assert not any("9876" in t for t in stored_texts(client, conv_id))
    # an official's reply and the question handed over are masked the same way
    answer = client.post("/internal/handoffs", headers=internal_headers(settings), json={
        "conversation_id": conv_id, "topic": "bygglov", "question": "status för 811218-9876"}).json()
    official = login(client, {"Anna Holm": "anna.holm", "Erik Sandberg": "erik.sandberg"}[answer["official"]["name"]])
    queue = client.get("/api/console/queue", headers=official).json()
    assert next(q for q in queue if q["conversation_id"] == conv_id)["question"] == f"status för {MASK}"
    reply = client.post(f"/api/console/conversations/{conv_id}/messages", headers=official,
                        json={"text": "Gäller det 811218-9876?"})
    assert reply.status_code == 201 and reply.json()["text"] == f"Gäller det {MASK}?"
    assert not any("9876" in t for t in stored_texts(client, conv_id))


def test_control_characters_are_dropped_and_invisible_only_messages_refused(client):
    conv_id, resident = open_conversation(client)
    raw = {**resident, "Content-Type": "application/json"}  # JSON escapes: a NUL, a bell, a lone surrogate
    out = client.post(f"/api/conversations/{conv_id}/messages", headers=raw,
                      content='{"text": "hej\\u0000 d\\u00e4r\\u0007\\ud800"}')
    assert out.status_code == 201 and out.json()["messages"][0]["text"] == "hej där"
    before = stored_texts(client, conv_id)
    for empty in ("\\u200b\\u200b", "\\u0000", " \\ufeff ", "\\udfff"):
        refused = client.post(f"/api/conversations/{conv_id}/messages", headers=raw, content=f'{{"text": "{empty}"}}')
        assert refused.status_code == 422 and refused.json()["detail"] == "Skriv ett meddelande innan du skickar."
    assert stored_texts(client, conv_id) == before  # nothing half-stored


def test_numbers_beyond_what_the_database_stores_are_a_clear_error_not_a_crash(client):
    conv_id, resident = open_conversation(client)
    too_far = client.get(f"/api/conversations/{conv_id}/messages", params={"after": 2**63}, headers=resident)
    assert too_far.status_code == 422 and too_far.json()["detail"] == "Något i meddelandet blev fel. Försök igen."
    with client.websocket_connect(f"/api/conversations/{conv_id}/ws") as ws:
        ws.send_text('{"secret": "%s", "after": 1e309}' % resident["X-Resident-Secret"])
        first = ws.receive_json()
        assert first["type"] == "message" and first["seq"] == 1  # read from the start: the welcome
