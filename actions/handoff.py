"""The way to a person: ask the handoff service, then tell the resident who answers and when."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused
from rasa_sdk.executor import CollectingDispatcher

from . import facts
from .answers import language
from .handoff_client import HandoffUnavailable, request_handoff


def resident_question(tracker: Tracker) -> str:
    """The resident's last words before asking for a person: what the official should read first."""
    texts = [e.get("text") or "" for e in tracker.events if e.get("event") == "user"]
    for text in reversed(texts[:-1]):
        if text and not text.startswith("/"):
            return text
    return texts[-1] if texts and not texts[-1].startswith("/") else ""


class ActionRequestHandoff(Action):
    def name(self) -> str:
        return "action_request_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        topic = tracker.get_slot("topic")
        lang = language(tracker)
        try:
            answer = await request_handoff(tracker.sender_id, topic, resident_question(tracker), language=lang)
        except HandoffUnavailable:
            dispatcher.utter_message(response="utter_handoff_unavailable", **facts.placeholders(None, lang))
            return []
        official = answer.get("official") or {}
        status = answer.get("status")
        if status == "already_open" and official:
            dispatcher.utter_message(response="utter_handoff_already_open", namn=official["name"])
            return [ConversationPaused()]
        if status == "after_hours" and official:
            dispatcher.utter_message(
                response="utter_handoff_after_hours", namn=official["name"], titel=official["title"],
                tid=answer.get("answer_by_text") or "",
            )
            return [ConversationPaused()]
        if status != "assigned" or not official:
            dispatcher.utter_message(response="utter_handoff_unavailable", **facts.placeholders(None, lang))
            return []
        dispatcher.utter_message(response="utter_handoff_assigned", namn=official["name"], titel=official["title"])
        wait = answer.get("expected_wait_minutes")
        if wait:
            dispatcher.utter_message(response="utter_handoff_queue_known", plats=answer["queue_position"],
                                     vantetid="1 minut" if wait == 1 else f"{wait} minuter")
        else:
            dispatcher.utter_message(response="utter_handoff_queue_unknown", plats=answer["queue_position"])
        return [ConversationPaused()]
