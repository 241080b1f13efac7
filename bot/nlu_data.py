"""Reading the NLU examples and folding text as the featurizers do. Pure Python (no Rasa), shared by
bot/emergency_phrases.py, scripts/nlu_eval.py and the tests."""
from __future__ import annotations

import unicodedata
from pathlib import Path

import yaml


def folded(text: str) -> str:
    """Lower case with accents removed: "Det brinner i köket" -> "det brinner i koket"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def examples(path: Path) -> list[tuple[str, str]]:
    """(intent, text) of every example in a Rasa NLU file, or in every .yml file of a folder."""
    files = sorted(path.glob("*.yml")) if path.is_dir() else [path]
    return [(block["intent"], line.strip()[2:]) for f in files
            for block in yaml.safe_load(f.read_text(encoding="utf-8"))["nlu"] if "intent" in block
            for line in block.get("examples", "").splitlines() if line.strip().startswith("- ")]
