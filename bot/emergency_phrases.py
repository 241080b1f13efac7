"""Phrases that mean life, health or property is at risk right now. Shared by the Rasa component
(bot/nlu_components.py) and the data tests; no Rasa imports here.

The classifier learns emergencies from examples, but an emergency is the one intent where a miss
costs more than a false alarm: the emergency answer starts with 112 and then gives the
municipality's number, so a resident who was not in danger loses one line of reading. These
patterns catch what the statistics may miss. They are matched against the lower-cased text with
accents folded (å/ä -> a, ö -> o), as the featurizers see it, and must match no training or
held-out example of another intent (tests/test_nlu_data.py).
"""
from __future__ import annotations

import re

from bot.nlu_data import folded

PATTERNS = [
    r"\b112\b", r"\bnodlage\b", r"\blivsfara\b", r"\bakut fara\b",
    r"\bambulans\b", r"\bring (polisen|raddningstjansten|brandkaren)\b",
    # fire, smoke, gas
    r"\bbrinn(er|a|ande)\b", r"\bbrand\b", r"\bbrandrok\b", r"\brok (valler|tranger|kommer|overallt)\b",
    r"\b(luktar|lukt av) gas\b", r"\bgaslukt\b", r"\bgaslacka\b",
    # someone's body is failing
    r"\bandas (inte|knappt)\b", r"\bmedvetslos\b", r"\blivlos\b", r"\bhjartstopp\b", r"\bhjartattack\b",
    r"\bont i brostet\b", r"\bblodar (mycket|kraftigt)\b", r"\bforgiftad\b",
    # water and ice
    r"\bdrunkn", r"\b(gatt|gick|ramlat|ramlade) (igenom|genom|ner i) isen\b",
    # violence and threats happening now ("blir slagen" is left out: residents write it about
    # violence at home, which stod_familj answers with a person at once and 112)
    r"\bkniv\b", r"\bskottlossning\b", r"\bskjuter\b", r"\bbevapnad\b", r"\bvapen\b",
    r"\bblir (ranad|knivhuggen)\b", r"\bhotar att doda\b",
    r"\bbryter sig in\b", r"\binbrott (pagar|just nu)\b",
    # suicide
    r"\bta livet av (mig|sig)\b", r"\bta mitt (eget )?liv\b", r"\bsjalvmord", r"\bvill inte leva\b",
    r"\bvill do\b",
]
_COMPILED = [re.compile(p) for p in PATTERNS]


def matching(text: str) -> str | None:
    """The first pattern the text matches, or None."""
    plain = folded(text)
    return next((p.pattern for p in _COMPILED if p.search(plain)), None)
