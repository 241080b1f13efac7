"""A new session knows the municipality's facts, so every response can name them."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from . import facts

FACT_SLOTS = ("kommun", "telefon", "epost", "adress", "oppettider", "webb")


class ActionSessionStart(Action):
    """Starts the session like Rasa's own action, carries the topic over and fills the fact slots."""

    def name(self) -> str:
        return "action_session_start"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        carried = [SlotSet(name, value) for name, value in (tracker.slots or {}).items()
                   if name == "topic" and value is not None]
        values = facts.placeholders()
        return [SessionStarted(), *carried, *(SlotSet(k, values.get(k, "")) for k in FACT_SLOTS),
                ActionExecuted("action_listen")]
