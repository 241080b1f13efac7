"""How well the assistant understands residents. Two checks, both part of `make test`:

  cv       5-fold cross-validation of bot/config.yml (or NLU_CONFIG) on data/nlu, with Rasa's folds and
           training, two folds at a time (NLU_CV_WORKERS).
           Fails when intent macro F1 is below 0.90 or any intent below 0.80. Rasa shuffles the folds
           with numpy's global generator, so the script seeds it (CV_SEED, or NLU_CV_SEED in the
           environment) and a run can be repeated exactly. It also shows how the FallbackClassifier
           threshold in bot/config.yml splits the cross-validated predictions.
  heldout  the trained model (models/current.tar.gz) on the sets in tests/nlu/, written apart from
           data/nlu: heldout.yml (Swedish), heldout_messy.yml (longer, messier Swedish), heldout_en.yml
           (English), each with its bar for accuracy and macro F1 (HELDOUT_SETS), and emergencies.yml:
           every real emergency must get the emergency answer and no near-miss ("grannen hotar att
           anmäla mig") may. Never copy them into the training data, or they stop measuring anything:
           the check fails when a held-out message equals a training example (ignoring case, accents
           and punctuation, as the featurizers do).

Reports, per-intent F1 and the most common confusions go to reports/nlu/ and reports/nlu-heldout/.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bot.nlu_data import examples, folded  # noqa: E402
CONFIG = ROOT / os.environ.get("NLU_CONFIG", "bot/config.yml")  # bot/config.diet.yml to compare
CV_SEED = 20261122
# Macro F1 0.90 with every intent at 0.80, the bars set for the 26 Swedish topic intents, held with
# English, follow-ups and the feedback intents too (35 intents, about 8,300 examples).
CV_MACRO_MIN, CV_INTENT_MIN = 0.90, 0.80
HELDOUT_MIN = 0.90

def per_intent_f1(report: dict) -> dict[str, float]:
    return {k: v["f1-score"] for k, v in report.items()
            if isinstance(v, dict) and "f1-score" in v and not k.endswith(" avg")}


def confusions(errors: list) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for e in errors:
        pair = f"{e['intent']} -> {e['intent_prediction']['name']}"
        counts[pair] = counts.get(pair, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])[:15]


def fallback_threshold() -> float:
    pipeline = yaml.safe_load(CONFIG.read_text())["pipeline"]
    return next(c["threshold"] for c in pipeline if c["name"] == "FallbackClassifier")


def threshold_table(errors: list, successes: list) -> list[dict]:
    """What each fallback threshold would do to the predictions: errors it turns into the fallback answer,
    correct answers it loses, and out-of-scope questions that would still get another intent's answer.
    `rasa test` undoes the fallback, so the confidences are the classifier's own. A correct out_of_scope
    prediction is not lost: the fallback answer says the same. The ambiguity threshold (the gap to the
    second intent) is not modelled: Rasa's reports keep only the top intent."""
    rows = []
    for step in range(10, 71, 5):
        t = step / 100
        caught = sum(e["intent_prediction"]["confidence"] < t for e in errors)
        lost = sum(s["intent_prediction"]["confidence"] < t and s["intent"] != "out_of_scope" for s in successes)
        oos_topic = sum(e["intent"] == "out_of_scope" and e["intent_prediction"]["confidence"] >= t
                        for e in errors)
        rows.append({"threshold": t, "errors_caught": caught, "errors": len(errors), "correct_lost": lost,
                     "correct": len(successes), "out_of_scope_answered_as_other": oos_topic})
    return rows


def summarise(report: dict, errors: list, out: Path, extra: dict | None = None) -> tuple[float, dict]:
    f1 = per_intent_f1(report)
    macro = report["macro avg"]["f1-score"]
    top = confusions(errors)
    (out / "summary.json").write_text(json.dumps(
        {"macro_f1": macro, "accuracy": report.get("accuracy"), "per_intent_f1": f1, "top_confusions": top,
         **(extra or {})}, indent=2, ensure_ascii=False))
    print(f"  intent macro F1 {macro:.3f}, accuracy {report.get('accuracy', 0):.3f}; lowest intents: "
          + ", ".join(f"{k} {v:.2f}" for k, v in sorted(f1.items(), key=lambda kv: kv[1])[:5]))
    if top:
        print("  most common confusions: " + "; ".join(f"{p} ({n})" for p, n in top[:6]))
    return macro, f1


CV_FOLDS = 5
# One fold of the cross-validation, in its own process (argv[1]: seed, argv[2]: fold, argv[3]: NLU config,
# argv[4]: a folder for the model and the fold's predictions.json). Rasa's own folds (rasa.nlu.test.generate_folds, stratified on the full
# retrieval intent, shuffled with numpy's generator, seeded here), Rasa's own training; only the held-out
# part of the fold is parsed. `rasa test nlu --cross-validation` also parses the four training parts of
# every fold and runs the folds one after another: twice the time for figures nobody reads.
CV_FOLD = """
import asyncio, json, logging, random, sys
import numpy
seed, fold, config, tmp = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
random.seed(seed); numpy.random.seed(seed)
logging.disable(logging.WARNING)
from pathlib import Path
import rasa.model_training
from rasa.core.agent import Agent
from rasa.nlu.test import generate_folds
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter
from rasa.shared.nlu.training_data.loading import load_data
train, test = list(generate_folds(%d, load_data("data/nlu")))[fold]
data = Path(tmp) / "train.yml"
RasaYAMLWriter().dump(data, train)
model = rasa.model_training.train_nlu(config, str(data), tmp)
async def main():
    agent = Agent.load(model)
    out = []
    for e in test.intent_examples:
        r = await agent.parse_message(e.get("text"))
        ranking = [x for x in r.get("intent_ranking") or [] if x["name"] != "nlu_fallback"]
        top = ranking[0] if ranking else {"name": r["intent"]["name"], "confidence": 0.0}
        out.append({"text": e.get("text"), "intent": e.get("intent"),
                    "intent_prediction": {"name": top["name"], "confidence": top["confidence"]}})
    return out
(Path(tmp) / "predictions.json").write_text(json.dumps(asyncio.run(main())))
""" % CV_FOLDS


def run_folds(seed: int, config: Path, out: Path) -> list[dict] | None:
    """The folds, two at a time (the machines have two cores); each fold's log in out/fold-<k>.log."""
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    def one(fold: int) -> list[dict] | None:
        with tempfile.TemporaryDirectory() as tmp, (out / f"fold-{fold}.log").open("w") as log:
            proc = subprocess.run([sys.executable, "-c", CV_FOLD, str(seed), str(fold), str(config), tmp],
                                  cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            result = Path(tmp) / "predictions.json"
            if proc.returncode != 0 or not result.exists():
                print(f"  fold {fold} failed (log: {out / f'fold-{fold}.log'})")
                return None
            return json.loads(result.read_text())

    workers = int(os.environ.get("NLU_CV_WORKERS", min(2, os.cpu_count() or 1)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        folds = list(pool.map(one, range(CV_FOLDS)))
    if any(f is None for f in folds):
        return None
    return [p for f in folds for p in f]


def cv_report(predictions: list[dict]) -> dict:
    """Per-intent precision, recall and F1 with macro and weighted averages, as Rasa's intent_report.json."""
    from sklearn.metrics import classification_report
    expected = [p["intent"] for p in predictions]
    got = [p["intent_prediction"]["name"] for p in predictions]
    report = classification_report(expected, got, labels=sorted(set(expected)), output_dict=True, zero_division=0)
    report["accuracy"] = sum(e == g for e, g in zip(expected, got)) / len(expected)
    return report


def cross_validation() -> int:
    out = ROOT / "reports" / "nlu"
    seed = int(os.environ.get("NLU_CV_SEED", CV_SEED))
    print(f"NLU {CV_FOLDS}-fold cross-validation (seed {seed}):")
    # The folds measure the intent classifier: the ResponseSelector (which answer within a topic) would
    # cost about two minutes a fold and changes no intent, so the folds train without it.
    config = yaml.safe_load(CONFIG.read_text())
    config["pipeline"] = [c for c in config["pipeline"] if c["name"] != "ResponseSelector"]
    out.mkdir(parents=True, exist_ok=True)
    cv_config = out / "config.cv.yml"
    cv_config.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    predictions = run_folds(seed, cv_config, out)
    if predictions is None:
        return 1
    report = cv_report(predictions)
    errors = [p for p in predictions if p["intent_prediction"]["name"] != p["intent"]]
    successes = [p for p in predictions if p["intent_prediction"]["name"] == p["intent"]]
    for name, rows in (("intent_report.json", report), ("intent_errors.json", errors),
                       ("intent_successes.json", successes)):
        (out / name).write_text(json.dumps(rows, indent=2, ensure_ascii=False))
    table = threshold_table(errors, successes)
    macro, f1 = summarise(report, errors, out, {"seed": seed, "fallback_thresholds": table})
    current = fallback_threshold()
    row = min(table, key=lambda r: abs(r["threshold"] - current))
    print(f"  fallback threshold {current}: catches {row['errors_caught']} of {row['errors']} errors, "
          f"loses {row['correct_lost']} of {row['correct']} correct answers "
          f"(table for 0.10-0.70 in {out / 'summary.json'})")
    weak = sorted(k for k, v in f1.items() if v < CV_INTENT_MIN)
    if macro < CV_MACRO_MIN or weak:
        print("FAILED: " + (f"macro F1 {macro:.3f} < {CV_MACRO_MIN}; " if macro < CV_MACRO_MIN else "")
              + (f"intents below {CV_INTENT_MIN}: {weak}" if weak else "")
              + f". Per-intent F1 and confusions: {out / 'summary.json'}")
        return 1
    return 0


def normalised(text: str) -> str:
    """Lower case, accents folded, punctuation dropped: what the featurizers see."""
    return " ".join(re.sub(r"[^\w ]", " ", folded(text)).split())


HELDOUT_SETS = {  # file under tests/nlu -> (what it is, the accuracy and macro F1 it must reach)
    "heldout.yml": ("Swedish resident messages, 10 per intent", 0.90),
    "heldout_messy.yml": ("longer, messier Swedish messages", 0.85),
    "heldout_en.yml": ("English resident messages", 0.85),
}
EMERGENCIES = "emergencies.yml"  # real danger (all must be emergency) and near-misses (none may be)

# Parses every held-out message with one loaded model (argv[1]: model, stdin: JSON list of texts).
PARSE = """
import asyncio, json, logging, sys
logging.disable(logging.WARNING)
from rasa.core.agent import Agent
texts = json.load(sys.stdin)
async def main():
    agent = Agent.load(sys.argv[1])
    out = []
    for t in texts:
        r = await agent.parse_message(t)
        ranking = [x for x in r.get("intent_ranking") or [] if x["name"] != "nlu_fallback"]
        out.append({"intent": r["intent"]["name"], "classified": ranking[0]["name"] if ranking else r["intent"]["name"],
                    "confidence": ranking[0]["confidence"] if ranking else 0.0})
    return out
print("RESULT " + json.dumps(asyncio.run(main())))
"""


def parse_all(texts: list[str]) -> list[dict]:
    proc = subprocess.run([sys.executable, "-c", PARSE, str(ROOT / "models" / "current.tar.gz")], cwd=ROOT,
                          input=json.dumps(texts), capture_output=True, text=True)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError("parsing the held-out messages failed:\n" + proc.stderr[-3000:])
    return json.loads(line[len("RESULT "):])


def scores(expected: list[str], predicted: list[str]) -> tuple[float, float, dict[str, float]]:
    from sklearn.metrics import accuracy_score, f1_score
    labels = sorted(set(expected))
    per = f1_score(expected, predicted, labels=labels, average=None, zero_division=0)
    return (accuracy_score(expected, predicted), f1_score(expected, predicted, labels=labels, average="macro",
                                                           zero_division=0), dict(zip(labels, per)))


def heldout() -> int:
    out = ROOT / "reports" / "nlu-heldout"
    out.mkdir(parents=True, exist_ok=True)
    folder = ROOT / "tests" / "nlu"
    training = {normalised(t) for _, t in examples(ROOT / "data" / "nlu")}
    sets = {name: examples(folder / name) for name in HELDOUT_SETS if (folder / name).exists()}
    emergencies = yaml.safe_load((folder / EMERGENCIES).read_text(encoding="utf-8"))
    real = list(emergencies["real"])
    near = [(m["intent"], m["text"]) for m in emergencies["near_misses"]]
    every = [t for pairs in sets.values() for _, t in pairs] + real + [t for _, t in near]
    copies = [t for t in every if normalised(t) in training]
    if copies:
        print(f"FAILED: {len(copies)} held-out messages are also training examples, so they measure nothing; "
              f"rewrite them in tests/nlu/: " + "; ".join(copies[:20]))
        return 1
    results = iter(parse_all(every))
    failed, summary = False, {}
    for name, pairs in sets.items():
        what, bar = HELDOUT_SETS[name]
        got = [next(results) for _ in pairs]
        expected = [i.split("/")[0] for i, _ in pairs]
        accuracy, macro, per = scores(expected, [g["classified"] for g in got])
        misses = [{"text": t, "expected": e, "got": g["classified"], "confidence": round(g["confidence"], 3)}
                  for (e, t), g in zip(zip(expected, (t for _, t in pairs)), got) if g["classified"] != e]
        summary[name] = {"messages": len(pairs), "accuracy": accuracy, "macro_f1": macro, "bar": bar,
                         "per_intent_f1": per, "misses": misses}
        lowest = ", ".join(f"{k} {v:.2f}" for k, v in sorted(per.items(), key=lambda kv: kv[1])[:4])
        print(f"  {name} ({what}): {len(pairs)} messages, accuracy {accuracy:.3f}, macro F1 {macro:.3f} "
              f"(bar {bar}); lowest: {lowest}")
        if accuracy < bar or macro < bar:
            failed = True
            print(f"FAILED: {name} below {bar}; misread messages in {out / 'summary.json'}")
    got_real = [next(results) for _ in real]
    got_near = [next(results) for _ in near]
    missed = [t for t, g in zip(real, got_real) if g["intent"] != "emergency"]
    false_alarms = [t for (_, t), g in zip(near, got_near) if g["intent"] == "emergency"]
    near_right = sum(g["intent"] == i for (i, _), g in zip(near, got_near))
    summary[EMERGENCIES] = {"real": len(real), "missed": missed, "near_misses": len(near),
                            "false_alarms": false_alarms, "near_misses_on_their_topic": near_right}
    print(f"  {EMERGENCIES}: real emergencies {len(real) - len(missed)}/{len(real)} get 112; "
          f"near-misses {len(false_alarms)}/{len(near)} false alarms "
          f"({near_right} of them on their own topic)")
    if missed or false_alarms:
        failed = True
        print("FAILED: " + (f"emergencies missed: {missed}; " if missed else "")
              + (f"false alarms: {false_alarms}" if false_alarms else ""))
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    return 1 if failed else 0


if __name__ == "__main__":
    checks = {"cv": cross_validation, "heldout": heldout}
    if len(sys.argv) != 2 or sys.argv[1] not in checks:
        sys.exit(f"usage: {sys.argv[0]} cv|heldout")
    sys.exit(checks[sys.argv[1]]())
