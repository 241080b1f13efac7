"""Times said the Swedish way: 'måndag 23 november kl. 8.30'."""
from __future__ import annotations

from datetime import datetime

WEEKDAYS = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")
MONTHS = ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti",
          "september", "oktober", "november", "december")


def swedish_datetime(moment: datetime) -> str:
    return f"{WEEKDAYS[moment.weekday()]} {moment.day} {MONTHS[moment.month - 1]} kl. {moment.hour}.{moment.minute:02d}"
