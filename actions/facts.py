"""The municipality's own facts (data/municipality.yml) and the topic catalogue (data/topics.yml),
read once on first use."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
FACT_KEYS = ("kommun", "telefon", "epost", "adress", "oppettider", "webb")


@lru_cache(maxsize=1)
def municipality() -> dict:
    path = Path(os.environ.get("MUNICIPALITY_FILE", ROOT / "data" / "municipality.yml"))
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


@lru_cache(maxsize=1)
def topics() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "data" / "topics.yml").read_text(encoding="utf-8"))["topics"]


@lru_cache(maxsize=1)
def button_texts() -> dict[str, dict[str, str]]:
    return yaml.safe_load((Path(__file__).resolve().parent / "texts.yml").read_text(encoding="utf-8"))


def button(key: str, language: str | None) -> str:
    texts = button_texts()
    return (texts.get(language or "sv") or texts["sv"]).get(key) or texts["sv"][key]


def label(topic: str, language: str | None = "sv") -> str:
    entry = topics().get(topic) or {}
    if language == "en" and entry.get("label_en"):
        return entry["label_en"]
    return entry.get("label") or topic


def _in_language(values: dict, language: str | None) -> dict[str, str]:
    """Each fact in the resident's language: `<key>_en` stands in for `<key>` in English."""
    out = {k: str(v) for k, v in values.items() if not k.endswith("_en") and not isinstance(v, (dict, list))}
    if language == "en":
        out.update({k[:-3]: str(v) for k, v in values.items() if k.endswith("_en") and not isinstance(v, (dict, list))})
    return out


def placeholders(topic: str | None = None, language: str | None = "sv") -> dict[str, str]:
    """Values for the {placeholders} of the answers and the domain's responses."""
    facts = municipality()
    top = {k: v for k, v in facts.items() if k in FACT_KEYS or k[:-3] in FACT_KEYS}
    values = _in_language(top, language)
    if topic:
        values.update(_in_language((facts.get("topics") or {}).get(topic) or {}, language))
        name = label(topic, language)
        values["amne"] = name.lower() if language != "en" else name[:1].lower() + name[1:]
    return values


def most_asked() -> list[str]:
    """The topics offered as buttons when the assistant cannot tell which one is meant."""
    asked = [t for t in municipality().get("vanliga_amnen") or [] if t in topics()]
    return asked or list(topics())[:5]


def agency_for(text: str) -> dict | None:
    """The state agency whose matters the text names, by the words in municipality.yml."""
    lowered = (text or "").lower()
    best, best_len = None, 0
    for agency in (municipality().get("agencies") or {}).values():
        for word in agency.get("handlar_om") or []:
            if word.lower() in lowered and len(word) > best_len:
                best, best_len = agency, len(word)
    return best
