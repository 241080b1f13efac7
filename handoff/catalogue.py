"""The project's data files: the topic catalogue and the municipality's own facts."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


# Intents of the assistant's own buttons beside the topics and conversation intents: state matters,
# follow-ups, "Fick du svar?" (Ja / Nej) and the language switch.
ASSISTANT_INTENTS = frozenset({"state_matter", "foljdfraga", "feedback_yes", "feedback_no", "byt_sprak"})


@dataclass(frozen=True)
class Catalogue:
    topics: dict[str, dict]
    conversation_intents: dict[str, str]
    facts: dict

    @property
    def topic_keys(self) -> set[str]:
        return set(self.topics)

    def label(self, topic: str | None, language: str = "sv") -> str | None:
        """The topic's name for residents, in English (label_en) when they write English."""
        entry = (self.topics.get(topic) or {}) if topic else {}
        return (language == "en" and entry.get("label_en")) or entry.get("label")

    def button_intents(self) -> set[str]:
        """Intents a button may send to Rasa: topics, conversation intents, nothing internal."""
        return self.topic_keys | set(self.conversation_intents) | ASSISTANT_INTENTS


    def most_asked(self) -> list[str]:
        """The topics the welcome offers as buttons (data/municipality.yml: vanliga_amnen)."""
        asked = [t for t in self.facts.get("vanliga_amnen") or [] if t in self.topics]
        return asked or list(self.topics)[:5]


def load(topics_file: Path, municipality_file: Path) -> Catalogue:
    topics_doc = yaml.safe_load(topics_file.read_text(encoding="utf-8"))
    facts = yaml.safe_load(municipality_file.read_text(encoding="utf-8")) if municipality_file.exists() else {}
    return Catalogue(topics_doc["topics"], topics_doc.get("conversation") or {}, facts or {})
