"""The service's own words to residents, kept in texts/sv.yml and texts/en.yml rather than in code."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

TEXTS_DIR = Path(__file__).parent / "texts"


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


@lru_cache(maxsize=4)
def _load(language: str) -> dict[str, str]:
    doc = yaml.safe_load((TEXTS_DIR / f"{language}.yml").read_text(encoding="utf-8"))
    # labels: names on buttons ("In English"), too short for a readability score; responses: sentences
    return {**(doc.get("labels") or {}), **{key: variants[0]["text"] for key, variants in doc["responses"].items()}}


def text(key: str, language: str = "sv", **values: object) -> str:
    """The text named key with its placeholders filled; unknown placeholders become empty."""
    return _load(language)[key].format_map(_Blank({k: str(v) for k, v in values.items()}))
