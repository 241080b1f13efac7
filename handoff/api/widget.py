"""The web widget's own words (texts/widget_sv.yml, widget_en.yml), so that widget.js holds no text."""
from __future__ import annotations

from functools import lru_cache

import yaml
from fastapi import APIRouter, HTTPException, Response

from ..texts import TEXTS_DIR

LANGUAGES = ("sv", "en")
router = APIRouter(prefix="/api/widget", tags=["widget"])


@lru_cache(maxsize=len(LANGUAGES))
def widget_texts(language: str) -> dict[str, str]:
    """Every text of the widget in one language: the sentences (responses) and the labels, key -> text."""
    doc = yaml.safe_load((TEXTS_DIR / f"widget_{language}.yml").read_text(encoding="utf-8"))
    out = {key: variants[0]["text"] for key, variants in (doc.get("responses") or {}).items()}
    out.update({key: str(value) for key, value in (doc.get("labels") or {}).items()})
    return out


@router.get("/texts/{language}", response_model=dict[str, str])
def read_texts(language: str, response: Response) -> dict[str, str]:
    """The widget's texts in sv or en; placeholders such as {namn} are filled in by the widget."""
    if language not in LANGUAGES:
        raise HTTPException(404, "Chatten finns bara på svenska (sv) och engelska (en).")
    response.headers["Cache-Control"] = "public, max-age=300"
    return widget_texts(language)
