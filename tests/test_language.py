"""Which language the resident writes (bot/language.py): one definition for the assistant and the
switchboard. Clear messages change the conversation's language; short, unclear ones keep it."""
from __future__ import annotations

import pytest

from bot.language import detect, next_language

CASES = [
    # (what the resident wrote, the language detected, or None when it should keep the current one)
    ("hello, do you speak english?", "en"),
    ("do I need a building permit for a carport?", "en"),
    ("how much does preschool cost", "en"),
    ("behöver jag bygglov för en carport?", "sv"),
    ("behover jag bygglov for en carport", "sv"),  # without å/ä/ö it is still Swedish
    ("min pappa har demens och kan inte bo hemma", "sv"),
    ("och vad kostar det?", "sv"),
    ("in English please", "en"),
    ("can we do this in english", "en"),
    ("på svenska tack", "sv"),
    ("pa svenska", "sv"),
    ("kan du skriva på engelska?", "en"),
    ("ok", None),
    ("tack", None),
    ("no", None),
    ("yes", None),
    ("/request_human", None),
    ("", None),
    ("123 456", None),
]


@pytest.mark.parametrize("words, expected", CASES)
def test_language_is_detected_only_when_it_is_clear(words, expected):
    assert detect(words) == expected


def test_an_unclear_message_keeps_the_conversations_language():
    assert next_language("en", "ok") == "en"
    assert next_language("sv", "ok") == "sv"


def test_a_clear_message_changes_it_and_swedish_is_the_default():
    assert next_language("sv", "where is the recycling centre?") == "en"
    assert next_language("en", "var ligger återvinningscentralen?") == "sv"
    assert next_language(None, "ja") == "sv"
