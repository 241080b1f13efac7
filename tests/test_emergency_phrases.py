"""The emergency phrases that override the intent classifier (bot/emergency_phrases.py): they catch
emergencies as residents write them, and never an ordinary question."""
from pathlib import Path

import pytest

from bot.emergency_phrases import matching
from bot.nlu_data import examples

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("text", [
    "Det brinner i trapphuset!!", "det brinner i koket", "bilen har börjat brinna", "grannens hus brinner", "brand i källaren",
    "min pappa andas inte", "hon är medvetslös", "en man ligger livlös på trottoaren",
    "någon drunknar vid bryggan", "barnet har gått igenom isen", "det luktar gas i hela huset",
    "han har en kniv", "skottlossning utanför skolan", "jag blir rånad", "någon bryter sig in hos mig",
    "jag vill inte leva längre", "jag tänker ta livet av mig", "ring ambulans", "112",
    "there is a fire in my apartment", "there's a fire in the kitchen", "fire in the stairwell, help",
])
def test_emergencies_as_residents_write_them_are_caught(text):
    assert matching(text), text


@pytest.mark.parametrize("text", [
    "brandvarnare i hyreslägenhet", "när kommer sotaren", "grannen röker på balkongen",
    "får man elda i trädgården", "jag blir slagen hemma", "pappa har fått en stroke och behöver ramp",
    "hur mycket kostar vattnet", "knivsta kommun",
    "is there a fire ban right now?", "there was a fire in the basement last week",
])
def test_ordinary_questions_are_left_to_the_classifier(text):
    assert matching(text) is None, text


def test_no_example_of_another_intent_matches_an_emergency_phrase():
    data = examples(ROOT / "data" / "nlu") + examples(ROOT / "tests" / "nlu" / "heldout.yml")
    wrong = [(intent, text, matching(text)) for intent, text in data if intent != "emergency" and matching(text)]
    assert not wrong, wrong
    caught = sum(1 for intent, text in data if intent == "emergency" and matching(text))
    assert caught > 0
