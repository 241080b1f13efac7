"""The assistant as residents meet it, against the real running services (Rasa trained from data/,
the action server, the handoff service): it answers the question asked, follows the conversation,
asks whether it helped, offers topics when unsure, speaks English, and keeps 112 for real danger."""
from __future__ import annotations

import json
import re

import httpx
import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.e2e

FEEDBACK = re.compile(r'^/feedback_yes\{"svar":"([a-z0-9_/]+)"\}$')


class Resident:
    """One resident in the web chat."""

    def __init__(self, stack) -> None:
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{stack.handoff_port}", timeout=60)
        opened = self.http.post("/api/conversations", json={})
        assert opened.status_code == 201, opened.text
        self.id, self.headers = opened.json()["id"], {"X-Resident-Secret": opened.json()["secret"]}
        self.language = opened.json().get("language")

    def messages(self) -> list[dict]:
        return self.http.get(f"/api/conversations/{self.id}/messages", headers=self.headers).json()["messages"]

    def says(self, words: str, payload: str | None = None) -> dict:
        body = {"text": words, **({"payload": payload} if payload else {})}
        out = self.http.post(f"/api/conversations/{self.id}/messages", headers=self.headers, json=body)
        assert out.status_code == 201, out.text
        out = out.json()
        out["bot"] = [m for m in out["messages"] if m["author"] != "resident"]
        return out

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def resident(stack):
    person = Resident(stack)
    yield person
    person.close()


def answered(out: dict) -> str | None:
    """Which answer (<topic>/<key>) the assistant gave, read off its "Fick du svar?" buttons."""
    for message in out["bot"]:
        for button in message.get("buttons") or []:
            match = FEEDBACK.match(button["payload"])
            if match:
                return match.group(1)
    return None


def bot_text(out: dict) -> str:
    return "\n".join(m["text"] for m in out["bot"])


def feedback_rows(stack, conversation_id: str) -> list[tuple]:
    engine = create_engine(stack.database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT answer, topic, helped FROM answer_feedback WHERE conversation_id = :c "
                                 "ORDER BY id"), {"c": conversation_id}).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def test_the_assistant_speaks_first_as_an_automated_assistant_with_topics_and_english(resident):
    first = resident.messages()
    assert len(first) == 1 and first[0]["author"] == "bot"
    welcome = first[0]["text"]
    assert "automatisk assistent" in welcome and "person" in welcome and "personnummer" in welcome
    payloads = [b["payload"] for b in first[0]["buttons"]]
    assert "/bygglov" in payloads and '/byt_sprak{"language":"en"}' in payloads


def test_a_carport_question_gets_the_answer_about_needing_a_permit_not_about_attefallshus(resident):
    out = resident.says("behöver jag bygglov för en carport?")
    assert answered(out) == "bygglov/behover_lov", bot_text(out)
    assert "{" not in bot_text(out)
    assert "Fick du svar på din fråga?" in [m["text"] for m in out["bot"]]


def test_follow_ups_are_answered_for_the_topic_of_the_conversation_and_another_topic_switches(resident):
    assert answered(resident.says("behöver jag bygglov för en carport?")) == "bygglov/behover_lov"
    assert answered(resident.says("och vad kostar det?")) == "bygglov/kostnad"
    assert answered(resident.says("hur lång tid tar det?")) == "bygglov/tid"
    assert answered(resident.says("hur ansöker jag?")) == "bygglov/ansokan"
    switched = resident.says("okej, och vad kostar förskolan?")
    assert answered(switched) == "forskola/kostnad", bot_text(switched)
    assert answered(resident.says("hur lång tid tar det?")).startswith("forskola/")


def test_a_follow_up_with_no_topic_yet_asks_which_topic(resident):
    out = resident.says("vad kostar det?")
    assert answered(out) is None
    payloads = [b["payload"] for m in out["bot"] for b in m.get("buttons") or []]
    assert "/bygglov" in payloads, bot_text(out)


def test_when_unsure_the_assistant_offers_likely_topics_then_a_person(resident):
    out = resident.says("jag undrar lite över papperet jag fick")
    buttons = [b for m in out["bot"] for b in m.get("buttons") or []]
    topic_buttons = [b for b in buttons if b["payload"] not in ("/request_human",) and not b["payload"].startswith("/feedback")]
    assert "Menade du" in bot_text(out), bot_text(out)
    assert 1 <= len(topic_buttons) <= 3 and "/request_human" in [b["payload"] for b in buttons]
    again = resident.says("asdfgh qwerty zxcv")
    assert "/request_human" in [b["payload"] for m in again["bot"] for b in m.get("buttons") or []]
    assert "Menade du" not in bot_text(again)


def test_yes_it_helped_is_stored_per_answer(stack, resident):
    key = answered(resident.says("när töms soptunnan?"))
    assert key and key.startswith("sophamtning/")
    out = resident.says("Ja", payload="/feedback_yes" + json.dumps({"svar": key}, separators=(",", ":")))
    assert out["bot"] and answered(out) is None
    assert feedback_rows(stack, resident.id) == [(key, "sophamtning", True)]


def test_no_it_did_not_help_offers_a_person_for_that_topic_and_is_stored(stack, resident):
    key = answered(resident.says("vad kostar en plats på förskolan?"))
    assert key == "forskola/kostnad"
    out = resident.says("Nej", payload='/feedback_no{"svar":"forskola/kostnad"}')
    assert "förskola" in bot_text(out).lower()
    assert "/request_human" in [b["payload"] for m in out["bot"] for b in m.get("buttons") or []]
    assert feedback_rows(stack, resident.id) == [("forskola/kostnad", "forskola", False)]


def test_english_from_greeting_to_a_named_official_who_speaks_english(resident):
    hello = resident.says("hello, do you speak english?")
    assert hello["language"] == "en"
    assert "assistant" in bot_text(hello).lower(), bot_text(hello)
    out = resident.says("do I need a building permit for a carport?")
    assert answered(out) == "bygglov/behover_lov", bot_text(out)
    assert "Did you get an answer" in bot_text(out) or "Did you get" in bot_text(out), bot_text(out)
    assert "Fick du svar" not in bot_text(out)
    handed = resident.says("I want to talk to a person")
    assert handed["state"] == "waiting", bot_text(handed)
    # routing prefers the official who speaks English, and names her with her English title
    assert "Anna Holm, building permit officer" in bot_text(handed), bot_text(handed)


def test_the_in_english_button_switches_the_conversation_and_back(resident):
    out = resident.says("In English", payload='/byt_sprak{"language":"en"}')
    assert out["language"] == "en" and "English" in bot_text(out), bot_text(out)
    out = resident.says("på svenska tack")
    assert out["language"] == "sv" and "svenska" in bot_text(out), bot_text(out)


@pytest.mark.parametrize("words", [
    "det brinner i köket och röken sprider sig",
    "min man andas inte",
    "my neighbour's house is on fire",
])
def test_real_danger_gets_112_first(resident, words):
    out = resident.says(words)
    assert "112" in out["bot"][0]["text"].split(".")[0], bot_text(out)


@pytest.mark.parametrize("words", [
    "en bil har stått på gatan i flera månader",
    "grannen hotar att anmäla mig för att jag eldar löv",
    "jag har väntat i veckor på svar och ingen svarar",
    "min pappa har demens och kan inte bo hemma längre",
])
def test_everyday_messages_with_alarm_words_get_no_emergency_answer(resident, words):
    out = resident.says(words)
    assert "112" not in bot_text(out), bot_text(out)
    # an answer for the topic, or (unsure) the likeliest topics to choose from: never the emergency answer
    assert answered(out) is not None or "Menade du" in bot_text(out), bot_text(out)
