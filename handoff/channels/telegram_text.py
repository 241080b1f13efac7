"""What the Telegram channel says and how a stored message looks on Telegram: the channel's texts in the
conversation's language, messages cut to Telegram's size, buttons as inline keyboards, transcript lines."""
from __future__ import annotations

import re
from datetime import timezone
from functools import lru_cache

import yaml
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from .. import texts
from ..models import Author, Message

LANGUAGES = ("sv", "en")  # handoff/texts/telegram_sv.yml, telegram_en.yml (same keys)
MAX_CHARS = 4096  # Telegram's limit for one message, counted in UTF-16 code units
CALLBACK_DATA_MAX_BYTES = 64
SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s+|\n\s*")
SPACE = re.compile(r"\s+")


def language_of(language: str | None) -> str:
    return language if language in LANGUAGES else "sv"


def say(key: str, language: str | None = "sv", **values: object) -> str:
    """What the channel says, in the conversation's language (sv or en; anything else is Swedish)."""
    return texts.text(key, f"telegram_{language_of(language)}", **values)


@lru_cache(maxsize=len(LANGUAGES))
def labels(language: str = "sv") -> dict[str, str]:
    doc = yaml.safe_load((texts.TEXTS_DIR / f"telegram_{language_of(language)}.yml").read_text(encoding="utf-8"))
    return dict(doc.get("labels") or {})



def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _pieces(text: str, boundary: re.Pattern) -> list[str]:
    """The text cut after every boundary match, each piece keeping its trailing separator."""
    pieces, start = [], 0
    for match in boundary.finditer(text):
        if match.end() > start:
            pieces.append(text[start:match.end()])
            start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _head(text: str, limit: int) -> str:
    """The longest start of text within limit UTF-16 units (never half a character)."""
    used = 0
    for i, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > limit:
            return text[:i]
    return text


def split_text(text: str, limit: int = MAX_CHARS) -> list[str]:
    """Parts of at most `limit` UTF-16 units, cut after whole sentences (or lines) where possible,
    else between words, and only inside a word longer than a whole message."""
    if _units(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""

    def flush() -> None:
        nonlocal current
        if current.strip():
            parts.append(current.rstrip())
        current = ""

    for sentence in _pieces(text, SENTENCE_END):
        if _units(current + sentence.rstrip()) <= limit:
            current += sentence
            continue
        flush()
        if _units(sentence.rstrip()) <= limit:
            current = sentence
            continue
        for word in _pieces(sentence, SPACE):
            if _units(current + word.rstrip()) <= limit:
                current += word
                continue
            flush()
            while _units(word.rstrip()) > limit:
                head = _head(word, limit)
                parts.append(head)
                word = word[len(head):]
            current = word
    flush()
    return parts


def render(message: dict, language: str | None = "sv") -> tuple[list[str], InlineKeyboardMarkup | None]:
    """A stored message as Telegram parts: an official's name and title first, buttons as an inline keyboard."""
    text = message["text"]
    official = message.get("official")
    if message.get("author") == Author.official and official:
        text = f"{say('official_says', language, namn=official['name'], titel=official['title'])}\n{text}"
    rows = [
        [InlineKeyboardButton(b["title"], callback_data=b["payload"])]
        for b in message.get("buttons") or []
        if b.get("title") and b.get("payload") and len(b["payload"].encode()) <= CALLBACK_DATA_MAX_BYTES
    ]
    return split_text(text), (InlineKeyboardMarkup(rows) if rows else None)


def kind_of(message) -> str:
    """Which of the not-shown texts fits what the resident sent."""
    for kind, attributes in (
        ("sticker", ("sticker",)), ("photo", ("photo",)), ("video", ("video", "video_note", "animation")),
        ("voice", ("voice", "audio")), ("location", ("location", "venue")), ("document", ("document",)),
        ("contact", ("contact",)),
    ):
        if any(getattr(message, a, None) for a in attributes):
            return kind
    return "other"


def button_title(message, payload: str) -> str | None:
    markup = getattr(message, "reply_markup", None)
    for row in getattr(markup, "inline_keyboard", None) or ():
        for button in row:
            if button.callback_data == payload:
                return button.text
    return None



def transcript_line(msg: Message, tz, language: str | None = "sv") -> str:
    """One message of the resident's transcript: when, who (an official by name and title), what."""
    names = labels(language_of(language))
    if msg.author == Author.official and msg.official is not None:
        who = f"{msg.official.name}, {msg.official.title}"
    else:
        who = names.get(str(msg.author), str(msg.author))
    at = msg.created_at.replace(tzinfo=timezone.utc).astimezone(tz)
    text = "\n".join(f"    {line}" if line.strip() else "" for line in msg.text.splitlines())
    return f"{at:%Y-%m-%d %H:%M} {who}:\n{text}"
