"""The municipality's own facts (data/municipality.yml), read once on first use."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def municipality() -> dict:
    path = Path(os.environ.get("MUNICIPALITY_FILE", ROOT / "data" / "municipality.yml"))
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def placeholders(topic: str | None = None) -> dict[str, str]:
    """Values for the {placeholders} of the domain's responses."""
    facts = municipality()
    values = {k: str(facts.get(k, "")) for k in ("kommun", "telefon", "epost", "adress", "oppettider", "webb")}
    if topic:
        values.update({k: str(v) for k, v in ((facts.get("topics") or {}).get(topic) or {}).items()})
    return values


def agency_for(text: str) -> dict | None:
    """The state agency whose matters the text names, by the words in municipality.yml."""
    lowered = (text or "").lower()
    best, best_len = None, 0
    for agency in (municipality().get("agencies") or {}).values():
        for word in agency.get("handlar_om") or []:
            if word.lower() in lowered and len(word) > best_len:
                best, best_len = agency, len(word)
    return best
