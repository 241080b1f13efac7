"""Routing is a pure function: table-driven cases over a small roster and a fixed clock."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from handoff.routing import OfficialSnapshot, RouteRequest, route

TZ = ZoneInfo("Europe/Stockholm")
OFFICE = {d: "08:00-16:30" for d in ("mon", "tue", "wed", "thu", "fri")}
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
MONDAY_20 = datetime(2026, 11, 23, 20, 0, tzinfo=TZ)
SATURDAY_12 = datetime(2026, 11, 28, 12, 0, tzinfo=TZ)


def official(id, topics=("bygglov",), unit="samhallsbyggnad", **kw):
    return OfficialSnapshot(id=id, name=f"O{id}", unit=unit, topics=frozenset(topics),
                            languages=frozenset(kw.pop("languages", ("sv",))),
                            working_hours=kw.pop("hours", OFFICE), **kw)


CC = official(9, topics=("kontakt",), unit="kontaktcenter")
CASES = [
    # (case, roster, request, now, expected official, expected rule)
    ("continuity: the last official keeps the resident",
     [official(1), official(2, open_chats=5)], RouteRequest("bygglov", previous_official_id=2), MONDAY_10, 2, "continuity"),
    ("continuity skipped when the previous official left",
     [official(1), official(2, active=False)], RouteRequest("bygglov", previous_official_id=2), MONDAY_10, 1, "competence"),
    ("continuity skipped when the previous official no longer handles the topic",
     [official(1), official(2, topics=("parkering",))], RouteRequest("bygglov", previous_official_id=2), MONDAY_10, 1, "competence"),
    ("continuity skipped when the previous official is away",
     [official(1), official(2, present=False)], RouteRequest("bygglov", previous_official_id=2), MONDAY_10, 1, "competence"),
    ("least load wins",
     [official(1, open_chats=3), official(2, open_chats=1)], RouteRequest("bygglov"), MONDAY_10, 2, "competence"),
    ("tie broken round robin: the one assigned longest ago",
     [official(1, last_assigned_at=datetime(2026, 11, 23, 9, 0)), official(2, last_assigned_at=datetime(2026, 11, 23, 8, 0))],
     RouteRequest("bygglov"), MONDAY_10, 2, "competence"),
    ("the conversation's language is preferred",
     [official(1), official(2, languages=("sv", "ar"), open_chats=2)], RouteRequest("bygglov", language="ar"), MONDAY_10, 2, "competence"),
    ("nobody speaks the language: a competent official still answers",
     [official(1)], RouteRequest("bygglov", language="fi"), MONDAY_10, 1, "competence"),
    ("away officials are passed over",
     [official(1, present=False), official(2, open_chats=4)], RouteRequest("bygglov"), MONDAY_10, 2, "competence"),
    ("after hours: a named official with the earliest start",
     [official(1), official(2, hours={"tue": "07:00-12:00"})], RouteRequest("bygglov"), MONDAY_20, 2, "after_hours"),
    ("weekend: Monday's first official",
     [official(1), CC], RouteRequest("bygglov"), SATURDAY_12, 1, "after_hours"),
    ("nobody handles the topic: the contact centre",
     [official(1), CC], RouteRequest("parkering"), MONDAY_10, 9, "contact_centre"),
    ("unknown topic: the contact centre",
     [official(1), CC], RouteRequest(None), MONDAY_10, 9, "contact_centre"),
    ("the only competent official left: the contact centre",
     [official(1, active=False), CC], RouteRequest("bygglov"), MONDAY_10, 9, "contact_centre"),
    ("contact centre after hours",
     [CC], RouteRequest("parkering"), MONDAY_20, 9, "contact_centre_after_hours"),
    ("no one at all",
     [], RouteRequest("bygglov"), MONDAY_10, None, "nobody"),
]


@pytest.mark.parametrize("case,roster,request_,now,expected,rule", CASES, ids=[c[0] for c in CASES])
def test_route(case, roster, request_, now, expected, rule):
    decision = route(request_, roster, local_now=now, service_time=timedelta(hours=2), contact_centre_unit="kontaktcenter")
    assert (decision.official_id, decision.rule) == (expected, rule)
    if expected is not None:
        assert {"id": expected, "note": "chosen"}.items() <= next(c for c in decision.candidates if c["id"] == expected).items()


def test_after_hours_promise_is_next_start_plus_service_time():
    decision = route(RouteRequest("bygglov"), [official(1)], local_now=MONDAY_20,
                     service_time=timedelta(hours=2), contact_centre_unit="kontaktcenter")
    assert decision.after_hours and decision.answer_by == datetime(2026, 11, 24, 10, 0, tzinfo=TZ)


def test_every_decision_explains_the_passed_over():
    roster = [official(1, present=False), official(2, active=False), official(3, open_chats=2), official(4)]
    decision = route(RouteRequest("bygglov"), roster, local_now=MONDAY_10, service_time=timedelta(hours=2),
                     contact_centre_unit="kontaktcenter")
    notes = {c["id"]: c["note"] for c in decision.candidates}
    assert notes == {1: "away", 3: "more_load", 4: "chosen"} | ({2: "inactive"} if 2 in notes else {})
