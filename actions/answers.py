"""Answers that need the municipality's facts: one action for every topic, one for state matters."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from . import facts


class ActionAnswerTopic(Action):
    """Answers with utter_<topic> and remembers the topic for a handoff."""

    def name(self) -> str:
        return "action_answer_topic"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        topic = (tracker.latest_message.get("intent") or {}).get("name")
        if f"utter_{topic}" not in (domain.get("responses") or {}):
            dispatcher.utter_message(response="utter_default", **facts.placeholders())
            return []
        dispatcher.utter_message(response=f"utter_{topic}", **facts.placeholders(topic))
        return [SlotSet("topic", topic)]


class ActionStateMatter(Action):
    """Names the state agency that handles what the resident asked about."""

    def name(self) -> str:
        return "action_state_matter"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        agency = facts.agency_for(tracker.latest_message.get("text") or "")
        if agency is None:
            dispatcher.utter_message(response="utter_state_matter_unknown", **facts.placeholders())
            return []
        dispatcher.utter_message(
            response="utter_state_matter", myndighet=agency.get("namn", ""),
            myndighet_webb=agency.get("webb", ""), myndighet_telefon=agency.get("telefon", ""),
            **facts.placeholders(),
        )
        return []
