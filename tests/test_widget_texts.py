"""The web widget's own words: the same keys in Swedish and English, served by GET /api/widget/texts/{lang}."""
from __future__ import annotations

import re

import pytest
import yaml

from conftest import ROOT

TEXTS = ROOT / "handoff" / "texts"
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def keys(name: str) -> dict[str, set[str]]:
    doc = yaml.safe_load((TEXTS / name).read_text(encoding="utf-8"))
    return {part: set(doc.get(part) or {}) for part in ("responses", "labels")}


def flat(name: str) -> dict[str, str]:
    doc = yaml.safe_load((TEXTS / name).read_text(encoding="utf-8"))
    out = {key: variants[0]["text"] for key, variants in doc["responses"].items()}
    out.update(doc.get("labels") or {})
    return out


@pytest.mark.parametrize("stem", ["widget", "telegram"])
def test_both_languages_have_the_same_keys_and_placeholders(stem):
    sv, en = keys(f"{stem}_sv.yml"), keys(f"{stem}_en.yml")
    assert sv == en, {part: sv[part] ^ en[part] for part in sv}
    sv_texts, en_texts = flat(f"{stem}_sv.yml"), flat(f"{stem}_en.yml")
    for key, text in sv_texts.items():
        assert text.strip() and en_texts[key].strip(), key
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(en_texts[key])), key


def test_the_widget_names_no_text_of_its_own_that_is_missing():
    """Every t("key") in widget.js is in the texts, so no label ends up empty."""
    script = (ROOT / "handoff" / "static" / "widget.js").read_text(encoding="utf-8")
    used = set(re.findall(r"""\bt\(\s*"([a-z_]+)\"""", script))
    used |= set(re.findall(r"""labelled\([^;]*?,\s*"([a-z_]+)"\s*(?:,\s*"[a-z-]+"\s*)?\)""", script))
    used |= {f"name_{who}" for who in ("bot", "resident", "system", "official")}
    assert used, "no texts found in widget.js"
    assert used <= set(flat("widget_sv.yml")), used - set(flat("widget_sv.yml"))


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_texts_route_answers_swedish_and_english(client, lang):
    resp = client.get(f"/api/widget/texts/{lang}")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body == flat(f"widget_{lang}.yml")
    assert all(isinstance(v, str) and v for v in body.values())


def test_texts_route_says_what_a_resident_reads():
    sv, en = flat("widget_sv.yml"), flat("widget_en.yml")
    assert sv["launcher"] == "Chatta med oss" and en["launcher"] == "Chat with us"
    assert "personnummer" in sv["notice"] and "hälsa" in sv["notice"]
    assert sv["download"] == "Ladda ner samtalet"
    assert sv["name_bot"] == "Automatisk assistent"


@pytest.mark.parametrize("lang", ["de", "SV", "fi", "xx"])
def test_texts_route_refuses_other_languages_in_swedish(client, lang):
    resp = client.get(f"/api/widget/texts/{lang}")
    assert resp.status_code == 404
    assert "svenska" in resp.json()["detail"]
