"""Personnummer and samordningsnummer: found so they can be kept away from Rasa and logs."""
from __future__ import annotations

import re

_CANDIDATE = re.compile(r"(?<!\d)(\d{2})?(\d{2})(\d{2})(\d{2})\s?([-+]?)\s?(\d{4})(?!\d)")
MASK = "[personnummer borttaget]"


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(digits):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _is_personnummer(m: re.Match[str]) -> bool:
    _, yy, mm, dd, _, tail = m.groups()
    month, day = int(mm), int(dd)
    if day > 60:  # samordningsnummer: day + 60
        day -= 60
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return False
    return _luhn_ok(yy + mm + dd + tail)


def mask_personnummer(text: str) -> str:
    """Replace every valid personnummer or samordningsnummer in text with a marker."""
    return _CANDIDATE.sub(lambda m: MASK if _is_personnummer(m) else m.group(0), text)


def contains_personnummer(text: str) -> bool:
    return any(_is_personnummer(m) for m in _CANDIDATE.finditer(text))
