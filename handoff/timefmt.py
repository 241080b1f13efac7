"""Times said the way residents read them: 'måndag 23 november kl. 8.30', or in English."""
from __future__ import annotations

from datetime import datetime

WEEKDAYS = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")
MONTHS = ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti",
          "september", "oktober", "november", "december")


def swedish_datetime(moment: datetime) -> str:
    return f"{WEEKDAYS[moment.weekday()]} {moment.day} {MONTHS[moment.month - 1]} kl. {moment.hour}.{moment.minute:02d}"


EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")


def english_datetime(moment: datetime) -> str:
    """'Monday 23 November at 08.30' for residents who write English."""
    return f"{EN_WEEKDAYS[moment.weekday()]} {moment.day} {EN_MONTHS[moment.month - 1]} at {moment.hour:02d}.{moment.minute:02d}"


def said_datetime(moment: datetime, language: str) -> str:
    return english_datetime(moment) if language == "en" else swedish_datetime(moment)
