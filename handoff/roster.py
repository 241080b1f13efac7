"""The roster: officials loaded from a YAML or CSV file (or the admin API). Loading is
idempotent; people who are no longer listed are deactivated, never deleted."""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import workhours
from .models import Official


class OfficialIn(BaseModel):
    username: str = Field(pattern=r"^[a-z0-9._-]{2,64}$")
    name: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=200)
    # the title said to residents who write English ("building permit officer"); Swedish when unset
    title_en: str | None = Field(default=None, min_length=1, max_length=200)
    unit: str = Field(min_length=1, max_length=64)
    topics: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=lambda: ["sv"])
    working_hours: dict[str, str] = Field(default_factory=dict)
    active: bool = True

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: dict[str, str]) -> dict[str, str]:
        workhours.parse(value)
        return value


class RosterError(ValueError):
    pass


@dataclass
class RosterChange:
    arrived: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    left_ids: list[int] = field(default_factory=list)


def read_file(path: Path, known_topics: set[str]) -> list[OfficialIn]:
    """Parse and check a roster file; every problem is reported, nothing is half-read."""
    try:
        if path.suffix.lower() == ".csv":
            with path.open(encoding="utf-8", newline="") as fh:
                rows = [_csv_row(r) for r in csv.DictReader(fh)]
            defaults: dict = {}
        else:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if not isinstance(doc, dict):
                raise RosterError("a YAML roster is a mapping with a list `officials` (and optional `defaults`)")
            rows, defaults = doc.get("officials") or [], doc.get("defaults") or {}
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows) or not isinstance(defaults, dict):
                raise RosterError("`officials` must be a list of officials and `defaults` a mapping")
    except (UnicodeDecodeError, yaml.YAMLError, csv.Error) as exc:
        raise RosterError(f"the file cannot be read: {type(exc).__name__}") from None
    if not rows:
        # Loading it would deactivate every official and move every open chat: refuse what is surely a mistake.
        raise RosterError("the roster lists no officials; nothing was changed")
    return parse_rows([{**defaults, **row} for row in rows], known_topics)


def _csv_row(row: dict[str, str]) -> dict:
    """CSV columns: username,name,title,unit,topics,languages,hours,active (and title_en); lists split on '|',
    hours as 'mon=08:00-16:30|tue=...'."""
    split = lambda v: [p.strip() for p in (v or "").split("|") if p.strip()]  # noqa: E731
    hours = dict(p.split("=", 1) for p in split(row.get("hours")))
    out = {k: (row.get(k) or "").strip() for k in ("username", "name", "title", "unit")}
    out.update(topics=split(row.get("topics")), languages=split(row.get("languages")) or ["sv"], working_hours=hours)
    if (row.get("title_en") or "").strip():
        out["title_en"] = row["title_en"].strip()
    if (row.get("active") or "").strip().lower() in {"0", "false", "nej", "no"}:
        out["active"] = False
    return out


def parse_rows(rows: list[dict], known_topics: set[str]) -> list[OfficialIn]:
    errors, officials, seen = [], [], set()
    for i, row in enumerate(rows, start=1):
        label = f"official #{i} ({row.get('username', '?')})"
        unknown = sorted(set(row.get("topics") or ()) - known_topics)
        if unknown:
            errors.append(f"{label}: unknown topics {unknown}")
        try:
            o = OfficialIn.model_validate(row)
        except Exception as exc:
            errors.append(f"{label}: {exc}")
            continue
        if o.username in seen:
            errors.append(f"{label}: username appears twice")
        seen.add(o.username)
        officials.append(o)
    if errors:
        raise RosterError("; ".join(errors))
    return officials


def apply(session: Session, officials: list[OfficialIn], *, deactivate_missing: bool = True) -> RosterChange:
    """Upsert officials by username; the ones not listed (when asked) become inactive."""
    change = RosterChange()
    existing = {o.username: o for o in session.scalars(select(Official))}
    for item in officials:
        fields = item.model_dump()
        row = existing.get(item.username)
        if row is None:
            session.add(Official(**fields))
            change.arrived.append(item.username)
            continue
        if any(getattr(row, k) != v for k, v in fields.items()):
            for k, v in fields.items():
                setattr(row, k, v)
            change.updated.append(item.username)
            if not item.active:
                change.left_ids.append(row.id)
    if deactivate_missing:
        listed = {o.username for o in officials}
        for username, row in existing.items():
            if username not in listed and row.active:
                row.active = False
                change.left.append(username)
                change.left_ids.append(row.id)
    session.flush()
    return change
