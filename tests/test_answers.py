"""The answers as data (data/answers/<topic>.yml): one for every question the training data knows,
in Swedish with an English variation, short, with the municipality's facts filled in."""
from __future__ import annotations

import re
from collections import Counter

import yaml

from bot.nlu_data import examples
from conftest import ROOT, TOPICS

ANSWERS = ROOT / "data" / "answers"
FACTS = yaml.safe_load((ROOT / "data" / "municipality.yml").read_text(encoding="utf-8"))
REQUIRED = {"allmant", "kostnad", "tid", "ansokan"}
WORD = re.compile(r"\w+")


def responses() -> dict[str, list[dict]]:
    found = {}
    for path in sorted(ANSWERS.glob("*.yml")):
        found.update(yaml.safe_load(path.read_text(encoding="utf-8"))["responses"])
    return found


def asked() -> set[str]:
    return {intent for intent, _ in examples(ROOT / "data" / "nlu") if "/" in intent}


def test_every_question_in_the_training_data_has_an_answer_and_every_answer_a_question():
    answered = {name.removeprefix("utter_") for name in responses()}
    assert asked() == answered


def test_every_topic_answers_at_least_its_general_question_cost_time_and_how_to_apply():
    keys = {}
    for name in asked():
        topic, key = name.split("/")
        keys.setdefault(topic, set()).add(key)
    assert set(keys) == TOPICS | {"foljdfraga"}
    for topic in TOPICS:
        assert REQUIRED <= keys[topic], topic
    assert sum(len(k) for t, k in keys.items() if t in TOPICS) >= 120


def test_every_answer_has_an_english_variation_and_at_most_about_60_words():
    for name, variants in responses().items():
        swedish = [v for v in variants if "condition" not in v]
        english = [v for v in variants if v.get("condition") == [{"type": "slot", "name": "language", "value": "en"}]]
        assert swedish and english, name
        for variant in swedish + english:
            assert len(WORD.findall(variant["text"])) <= 65, (name, variant["text"])
            assert "buttons" not in variant, name  # the assistant adds "Fick du svar?" itself


def test_every_placeholder_is_a_fact_the_municipality_gives():
    top = {k for k in FACTS if not isinstance(FACTS[k], (dict, list))}
    for name, variants in responses().items():
        topic = name.removeprefix("utter_").split("/")[0]
        known = top | set((FACTS["topics"].get(topic) or {})) | {"amne"}
        for variant in variants:
            for placeholder in re.findall(r"\{(\w+)\}", variant["text"]):
                assert placeholder in known, (name, placeholder)


def test_each_question_has_examples_enough_to_learn_it():
    counts = Counter(intent for intent, _ in examples(ROOT / "data" / "nlu") if "/" in intent)
    thin = {k: n for k, n in counts.items() if n < 10}
    assert not thin, thin
