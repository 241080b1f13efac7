"""Who answers: a pure choice over the roster, so every decision can be explained and tested."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import workhours


@dataclass(frozen=True)
class OfficialSnapshot:
    id: int
    name: str
    unit: str
    topics: frozenset[str]
    languages: frozenset[str]
    working_hours: Mapping[str, str]
    active: bool = True
    present: bool = True
    open_chats: int = 0
    last_assigned_at: datetime | None = None


@dataclass(frozen=True)
class RouteRequest:
    topic: str | None
    language: str = "sv"
    previous_official_id: int | None = None


@dataclass(frozen=True)
class Decision:
    official_id: int | None
    rule: str
    after_hours: bool = False
    answer_by: datetime | None = None
    candidates: tuple[dict, ...] = field(default_factory=tuple)


def _order_key(o: OfficialSnapshot) -> tuple:
    # fewest open chats, then whoever waited longest for a new chat (round robin), then id
    last = o.last_assigned_at.timestamp() if o.last_assigned_at else float("-inf")
    return (o.open_chats, last, o.id)


def route(
    request: RouteRequest,
    roster: Sequence[OfficialSnapshot],
    *,
    local_now: datetime,
    service_time: timedelta,
    contact_centre_unit: str,
) -> Decision:
    """Continuity, then competence and load, then an honest after-hours promise."""
    notes: dict[int, str] = {}

    def handles(o: OfficialSnapshot) -> bool:
        return request.topic is not None and request.topic in o.topics

    def available(o: OfficialSnapshot) -> bool:
        if not o.active:
            notes.setdefault(o.id, "inactive")
            return False
        if not workhours.is_at_work(o.working_hours, local_now):
            notes.setdefault(o.id, "off_work")
            return False
        if not o.present:
            notes.setdefault(o.id, "away")
            return False
        return True

    def decision(chosen: OfficialSnapshot | None, rule: str, **kw) -> Decision:
        if chosen is not None:
            notes[chosen.id] = "chosen"
        candidates = tuple(
            {"id": o.id, "name": o.name, "open_chats": o.open_chats, "note": notes.get(o.id, "considered")}
            for o in roster
            if o.id in notes
        )
        return Decision(chosen.id if chosen else None, rule, candidates=candidates, **kw)

    by_id = {o.id: o for o in roster}
    previous = by_id.get(request.previous_official_id) if request.previous_official_id else None
    if previous is not None:
        if not handles(previous):
            notes[previous.id] = "previous_not_competent"
        elif available(previous):
            return decision(previous, "continuity")

    pool = [o for o in roster if o.active and handles(o)]
    rule, late_rule = "competence", "after_hours"
    if not pool:
        for o in roster:
            if handles(o):
                notes.setdefault(o.id, "inactive")
        pool = [o for o in roster if o.active and o.unit == contact_centre_unit]
        rule, late_rule = "contact_centre", "contact_centre_after_hours"

    ready = [o for o in pool if available(o)]
    if ready:
        speakers = [o for o in ready if request.language in o.languages]
        for o in ready:
            if o not in speakers:
                notes.setdefault(o.id, "other_language")
        best = min(speakers or ready, key=_order_key)
        for o in ready:
            notes.setdefault(o.id, "more_load")
        return decision(best, rule)

    upcoming = []
    for o in pool:
        start = workhours.next_start(o.working_hours, local_now)
        if start is not None:
            upcoming.append((start, _order_key(o), o))
    if not upcoming:
        return decision(None, "nobody")
    start, _, chosen = min(upcoming, key=lambda item: (item[0], item[1]))
    return decision(chosen, late_rule, after_hours=True, answer_by=start + service_time)
