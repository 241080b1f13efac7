"""Personnummer and samordningsnummer: found in the forms residents really write, so they are hidden
before anything is stored, shown, logged or sent to Rasa."""
from __future__ import annotations

import re

# Zero-width and invisible characters residents paste along with a number (they split it for a
# pattern but not for a reader); removed before looking.
INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]")
# What people put between the parts: hyphen, plus (100 years or older), the dashes and minus signs
# word processors and phones put there instead, and spaces (also no-break and thin ones).
_SEP_CHARS = "\\-+\u2010\u2011\u2012\u2013\u2014\u2212"
_SEP = f"[{_SEP_CHARS}]"
_SPACE = "[ \u00a0\u2009\u202f]"
_CANDIDATE = re.compile(
    rf"(?<![\d{_SEP_CHARS}])"
    rf"(?P<cc>(?:18|19|20){_SEP}?)?"
    rf"(?P<yy>\d{{2}})(?:{_SPACE}|{_SEP})?(?P<mm>\d{{2}})(?:{_SPACE}|{_SEP})?(?P<dd>\d{{2}})"
    rf"{_SPACE}?(?P<sep>{_SEP})?{_SPACE}?"
    rf"(?P<tail>\d{{4}})(?![\d])"
)
MASK = "[personnummer borttaget]"


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(digits):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _is_personnummer(m: re.Match[str]) -> bool:
    month, day = int(m["mm"]), int(m["dd"])
    if day > 60:  # samordningsnummer: day + 60
        day -= 60
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return False
    if m["cc"] or m["sep"]:
        # Written with the century or with the separator before the last four: a personnummer even when
        # the check digit is mistyped (hiding a few order numbers too costs less than keeping one).
        return True
    # Ten digits in a row could be a phone number, which a resident may need to give: only a valid
    # check digit makes them a personnummer.
    return _luhn_ok(m["yy"] + m["mm"] + m["dd"] + m["tail"])


def mask_personnummer(text: str) -> str:
    """Replace every personnummer or samordningsnummer in text with a marker."""
    visible = INVISIBLE.sub("", text)
    return _CANDIDATE.sub(lambda m: MASK if _is_personnummer(m) else m.group(0), visible)


def contains_personnummer(text: str) -> bool:
    return any(_is_personnummer(m) for m in _CANDIDATE.finditer(INVISIBLE.sub("", text)))
