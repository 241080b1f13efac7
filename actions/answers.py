"""Answers to what the resident asked: the topic comes from Rasa's intent classifier, the question
within it from Rasa's ResponseSelector (retrieval intents `<topic>/<key>`, answers in
data/answers/<topic>.yml), the language from the `language` slot (conditional variations).
Follow-ups without topic words ("och vad kostar det?") are answered for the topic in the slot."""
from __future__ import annotations

import json
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from . import facts

FOLLOWUP = "foljdfraga"
GENERAL = "allmant"
# A follow-up about a place or opening hours that a topic has no answer for goes to the
# contact centre's answer: the town hall's address and hours are the honest next step.
FALLBACK_TOPIC = {"plats": "kontakt", "oppettider": "kontakt"}
# Suggestions under "Menade du ...?" need at least this much of the classifier's belief.
SUGGEST_MIN_CONFIDENCE = 0.03
SUGGEST_AT_MOST = 3


def language(tracker: Tracker) -> str:
    return "en" if tracker.get_slot("language") == "en" else "sv"


def selected_key(tracker: Tracker, retrieval_intent: str) -> str | None:
    """The ResponseSelector's best `<retrieval_intent>/<key>` for the last message, or None."""
    selector = (tracker.latest_message or {}).get("response_selector") or {}
    prefix = f"{retrieval_intent}/"
    for name, output in selector.items():
        if name == "all_retrieval_intents" or not isinstance(output, dict):
            continue
        best = (output.get("response") or {}).get("intent_response_key") or ""
        if best.startswith(prefix):
            return best[len(prefix):]
        for entry in output.get("ranking") or []:
            key = entry.get("intent_response_key") or ""
            if key.startswith(prefix):
                return key[len(prefix):]
    return None


def feedback_buttons(answer: str, lang: str) -> list[dict]:
    """Ja / Nej under every answer, carrying which answer it was; and the way to a person."""
    svar = json.dumps({"svar": answer}, separators=(",", ":"))
    return [
        {"title": facts.button("helped_yes", lang), "payload": f"/feedback_yes{svar}"},
        {"title": facts.button("helped_no", lang), "payload": f"/feedback_no{svar}"},
        {"title": facts.button("person", lang), "payload": "/request_human"},
    ]


def topic_buttons(topics: list[str], lang: str) -> list[dict]:
    return [{"title": facts.label(t, lang), "payload": f"/{t}"} for t in topics]


def answer(dispatcher: CollectingDispatcher, domain: dict[str, Any], topic: str, key: str, lang: str) -> str | None:
    """Send the answer `<topic>/<key>` and the question whether it helped; the key sent, or None."""
    responses = domain.get("responses") or {}
    for candidate in (f"{topic}/{key}", f"{FALLBACK_TOPIC.get(key, topic)}/{key}", f"{topic}/{GENERAL}"):
        if f"utter_{candidate}" in responses:
            answer_topic = candidate.split("/", 1)[0]
            dispatcher.utter_message(response=f"utter_{candidate}", **facts.placeholders(answer_topic, lang))
            dispatcher.utter_message(response="utter_feedback_ask", buttons=feedback_buttons(candidate, lang))
            return candidate
    return None


class ActionAnswerTopic(Action):
    """Answers the question the resident asked about a topic, or a follow-up about the current one."""

    def name(self) -> str:
        return "action_answer_topic"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        lang = language(tracker)
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent == FOLLOWUP:
            topic = tracker.get_slot("topic")
            key = selected_key(tracker, FOLLOWUP) or GENERAL
            if not topic:
                if key in FALLBACK_TOPIC:  # "när har ni öppet?" with no topic yet: the town hall
                    topic = FALLBACK_TOPIC[key]
                else:
                    dispatcher.utter_message(response="utter_ask_topic",
                                             buttons=topic_buttons(facts.most_asked(), lang))
                    return []
        else:
            topic, key = intent, selected_key(tracker, intent) or GENERAL
        if topic not in facts.topics():
            dispatcher.utter_message(response="utter_default", **facts.placeholders(None, lang))
            return []
        sent = answer(dispatcher, domain, topic, key, lang)
        if sent is None:
            dispatcher.utter_message(response="utter_followup_unknown", **facts.placeholders(topic, lang))
        return [SlotSet("topic", topic)]


class ActionSuggestTopics(Action):
    """When unsure: "Menade du ...?" with the two or three likeliest topics; asked again, a person."""

    def name(self) -> str:
        return "action_suggest_topics"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        lang = language(tracker)
        if _suggested_last_turn(tracker):
            dispatcher.utter_message(response="utter_default", **facts.placeholders(None, lang))
            return []
        ranking = tracker.latest_message.get("intent_ranking") or []
        topics = [r["name"] for r in ranking
                  if r.get("name") in facts.topics() and (r.get("confidence") or 0) >= SUGGEST_MIN_CONFIDENCE]
        topics = topics[:SUGGEST_AT_MOST]
        if not topics:
            dispatcher.utter_message(response="utter_default", **facts.placeholders(None, lang))
            return []
        buttons = topic_buttons(topics, lang) + [{"title": facts.button("person", lang), "payload": "/request_human"}]
        dispatcher.utter_message(response="utter_suggest_topics", buttons=buttons)
        return []


def _suggested_last_turn(tracker: Tracker) -> bool:
    """Whether the assistant's last turn before this message was already "Menade du ...?"."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                return False
            seen_user = True
        elif seen_user and event.get("event") == "action" and event.get("name") not in (None, "action_listen"):
            return event.get("name") == "action_suggest_topics"
    return False


class ActionFeedbackNo(Action):
    """The answer did not help: offer a person who works with the topic."""

    def name(self) -> str:
        return "action_feedback_no"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        lang = language(tracker)
        topic = tracker.get_slot("topic")
        buttons = [{"title": facts.button("person_yes", lang), "payload": "/request_human"},
                   {"title": facts.button("person_no", lang), "payload": "/thanks"}]
        values = facts.placeholders(topic if topic in facts.topics() else None, lang)
        values.setdefault("amne", "this" if lang == "en" else "det här")
        dispatcher.utter_message(response="utter_feedback_no", buttons=buttons, **values)
        return []


class ActionStateMatter(Action):
    """Names the state agency that handles what the resident asked about."""

    def name(self) -> str:
        return "action_state_matter"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        lang = language(tracker)
        agency = facts.agency_for(tracker.latest_message.get("text") or "")
        if agency is None:
            dispatcher.utter_message(response="utter_state_matter_unknown", **facts.placeholders(None, lang))
            return []
        dispatcher.utter_message(
            response="utter_state_matter", myndighet=agency.get("namn", ""),
            myndighet_webb=agency.get("webb", ""), myndighet_telefon=agency.get("telefon", ""),
            **facts.placeholders(None, lang),
        )
        return []
