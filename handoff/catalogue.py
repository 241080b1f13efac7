"""The project's data files: the topic catalogue and the municipality's own facts."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Catalogue:
    topics: dict[str, dict]
    conversation_intents: dict[str, str]
    facts: dict

    @property
    def topic_keys(self) -> set[str]:
        return set(self.topics)

    def label(self, topic: str | None) -> str | None:
        return (self.topics.get(topic) or {}).get("label") if topic else None

    def button_intents(self) -> set[str]:
        """Intents a button may send to Rasa: topics, conversation intents, nothing internal."""
        return self.topic_keys | set(self.conversation_intents) | {"state_matter"}


def load(topics_file: Path, municipality_file: Path) -> Catalogue:
    topics_doc = yaml.safe_load(topics_file.read_text(encoding="utf-8"))
    facts = yaml.safe_load(municipality_file.read_text(encoding="utf-8")) if municipality_file.exists() else {}
    return Catalogue(topics_doc["topics"], topics_doc.get("conversation") or {}, facts or {})
