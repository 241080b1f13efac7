"""Working hours: "mon: 08:00-16:30" per weekday, read in the municipality's local time."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class HoursError(ValueError):
    pass


def _parse_clock(text: str) -> int:
    hh, _, mm = text.strip().partition(":")
    minutes = int(hh) * 60 + int(mm or 0)
    if not 0 <= minutes <= 24 * 60:
        raise HoursError(f"not a time of day: {text!r}")
    return minutes


def parse(hours: Mapping[str, str]) -> dict[int, tuple[int, int]]:
    """Weekday index -> (start, end) in minutes after midnight; raises HoursError."""
    parsed: dict[int, tuple[int, int]] = {}
    for day, span in (hours or {}).items():
        key = str(day).strip().lower()[:3]
        if key not in DAYS:
            raise HoursError(f"unknown weekday: {day!r}")
        if span in (None, "", "-"):
            continue
        try:
            start_text, end_text = str(span).split("-")
            start, end = _parse_clock(start_text), _parse_clock(end_text)
        except (ValueError, HoursError) as exc:
            raise HoursError(f"working hours for {day} must look like 08:00-16:30, not {span!r}") from exc
        if end <= start:
            raise HoursError(f"working hours for {day} end before they start: {span!r}")
        parsed[DAYS.index(key)] = (start, end)
    return parsed


def _minutes(moment: datetime) -> int:
    return moment.hour * 60 + moment.minute


def is_at_work(hours: Mapping[str, str], local_now: datetime) -> bool:
    span = parse(hours).get(local_now.weekday())
    return span is not None and span[0] <= _minutes(local_now) < span[1]


def next_start(hours: Mapping[str, str], local_now: datetime) -> datetime | None:
    """The start of the next working period that begins after local_now (None: never works)."""
    spans = parse(hours)
    if not spans:
        return None
    midnight = datetime.combine(local_now.date(), time(0), tzinfo=local_now.tzinfo)
    for offset in range(0, 8):
        day = midnight + timedelta(days=offset)
        span = spans.get(day.weekday())
        if span is None:
            continue
        start = day + timedelta(minutes=span[0])
        if start > local_now:
            return start
    return None
