"""The switchboard's side of the assistant: the welcome, the conversation's language and the answers'
"Fick du svar?" outcomes, through the HTTP API with a real database (SQLite, and PostgreSQL in
make test). Rasa does not run here, so the switchboard's own words are what the resident sees."""
from __future__ import annotations

from sqlalchemy import select

from conftest import open_conversation
from handoff.db import make_engine, make_sessionmaker
from handoff.models import AnswerFeedback, Conversation


def rows(settings, model, **where):
    engine = make_engine(settings.database_url)
    with make_sessionmaker(engine)() as session:
        found = list(session.scalars(select(model).filter_by(**where)))
        session.expunge_all()
    engine.dispose()
    return found


def send(client, conv, headers, words, payload=None):
    resp = client.post(f"/api/conversations/{conv}/messages", headers=headers,
                       json={"text": words, **({"payload": payload} if payload else {})})
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_a_new_conversation_starts_with_the_assistants_welcome(client):
    conv, headers = open_conversation(client)
    messages = client.get(f"/api/conversations/{conv}/messages", headers=headers).json()["messages"]
    assert [m["author"] for m in messages] == ["bot"]
    assert "automatisk assistent" in messages[0]["text"] and "Exempelby kommun" in messages[0]["text"]
    assert {"title": "Bygglov och anmälan", "payload": "/bygglov"} in messages[0]["buttons"]
    assert messages[0]["buttons"][-1] == {"title": "In English", "payload": '/byt_sprak{"language":"en"}'}


def test_the_conversations_language_follows_what_the_resident_writes(client, settings):
    conv, headers = open_conversation(client)
    out = send(client, conv, headers, "hello, where is the recycling centre?")
    assert out["language"] == "en"
    assert out["messages"][-1]["author"] == "system" and "assistant" in out["messages"][-1]["text"].lower()
    assert client.get(f"/api/conversations/{conv}", headers=headers).json()["language"] == "en"
    assert send(client, conv, headers, "ok")["language"] == "en"  # unclear: kept
    assert send(client, conv, headers, "var ligger återvinningscentralen?")["language"] == "sv"
    assert rows(settings, Conversation, id=conv)[0].language == "sv"


def test_the_language_button_switches_the_conversation(client):
    conv, headers = open_conversation(client)
    assert send(client, conv, headers, "In English", '/byt_sprak{"language":"en"}')["language"] == "en"
    assert send(client, conv, headers, "På svenska", '/byt_sprak{"language":"sv"}')["language"] == "sv"


def test_yes_and_no_under_an_answer_are_stored_with_the_answer_they_are_about(client, settings):
    conv, headers = open_conversation(client)
    send(client, conv, headers, "Ja", '/feedback_yes{"svar":"bygglov/behover_lov"}')
    send(client, conv, headers, "Nej", '/feedback_no{"svar":"forskola/kostnad"}')
    stored = sorted((r.answer, r.topic, r.helped) for r in rows(settings, AnswerFeedback, conversation_id=conv))
    assert stored == [("bygglov/behover_lov", "bygglov", True), ("forskola/kostnad", "forskola", False)]


def test_a_payload_about_an_unknown_topic_or_language_is_only_text(client, settings):
    conv, headers = open_conversation(client)
    send(client, conv, headers, "Ja", '/feedback_yes{"svar":"hittepa/x"}')
    send(client, conv, headers, "Nej", '/feedback_no{"svar":"bygglov/x","extra":"1"}')
    out = send(client, conv, headers, "Klingon", '/byt_sprak{"language":"tlh"}')
    assert out["language"] == "sv"
    assert rows(settings, AnswerFeedback, conversation_id=conv) == []
