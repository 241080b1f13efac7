"""Which language the resident writes: Swedish (the default) or English. One definition, shared by
the Rasa component that fills the `language` slot (bot/nlu_components.py) and by the switchboard
that stores the conversation's language (handoff/switchboard.py); no Rasa imports here.

Detection uses lingua (lingua-language-detector), restricted to Swedish and English. A message
changes the language only when the detector is sure: short messages ("ok", "tack", "no") are too
ambiguous and keep the conversation's language. A resident can also ask: "in English", "på svenska".
"""
from __future__ import annotations

import re
import threading

from bot.nlu_data import folded

SWEDISH, ENGLISH = "sv", "en"
LANGUAGES = (SWEDISH, ENGLISH)

# Asked for in words (matched on folded text, so "på svenska" and "pa svenska" both count).
_ASK = {
    ENGLISH: re.compile(r"\b(in|on|speak|write|talk|use) english\b|\benglish,? please\b|\bpa engelska\b"
                        r"|\bengelska,? tack\b|\bdo you (speak|understand) english\b|^english\W*$"),
    SWEDISH: re.compile(r"\bpa svenska\b|\bsvenska,? tack\b|\b(in|speak|write|use) swedish\b"
                        r"|\bswedish,? please\b|\b(prata|skriva|skriv|tala) svenska\b|^svenska\W*$"),
}
_WORD = re.compile(r"[^\W\d_]+")
# How sure lingua must be before a message changes the language. Read off short resident messages:
# "ok" 0.63, "no" 0.64, "yes" 0.82, "hej" 0.92 are single words in both languages' chats, while
# three words or more are 0.88+ in nearly every case ("I want to talk to a person": 0.68).
_SURE_SHORT, _SURE_LONG, _LONG = 0.97, 0.65, 3

_lock = threading.Lock()
_detector = None


def _lingua():
    global _detector
    with _lock:
        if _detector is None:
            from lingua import Language, LanguageDetectorBuilder
            _detector = (LanguageDetectorBuilder.from_languages(Language.SWEDISH, Language.ENGLISH)
                         .with_preloaded_language_models().build())
        return _detector


def asked_for(text: str) -> str | None:
    """The language the resident asks for in words, or None."""
    plain = folded(text or "")
    for language, pattern in _ASK.items():
        if pattern.search(plain):
            return language
    return None


def detect(text: str) -> str | None:
    """The language the text is written in when that is clear, or None (keep the current one)."""
    text = (text or "").strip()
    if not text or text.startswith("/"):
        return None  # a button payload is no writing
    asked = asked_for(text)
    if asked:
        return asked
    words = _WORD.findall(text)
    if not words:
        return None
    values = _lingua().compute_language_confidence_values(text)
    if not values:
        return None
    best = values[0]
    needed = _SURE_LONG if len(words) >= _LONG else _SURE_SHORT
    if best.value < needed:
        return None
    return ENGLISH if best.language.name == "ENGLISH" else SWEDISH


def next_language(current: str | None, text: str) -> str:
    """The conversation's language after the resident wrote text."""
    return detect(text) or (current if current in LANGUAGES else SWEDISH)
