"""How well the assistant understands residents. Two checks, both part of `make test`:

  cv       5-fold cross-validation (`rasa test nlu --cross-validation`) of bot/config.yml (or NLU_CONFIG)
           on data/nlu.
           Fails when intent macro F1 is below 0.90 or any intent below 0.80. Rasa shuffles the folds
           with numpy's global generator, so the script seeds it (CV_SEED, or NLU_CV_SEED in the
           environment) and a run can be repeated exactly. It also shows how the FallbackClassifier
           threshold in bot/config.yml splits the cross-validated predictions.
  heldout  the trained model (models/current.tar.gz) on tests/nlu/heldout.yml: resident messages
           written apart from data/nlu, from topics.yml alone. Never copy them into the training data,
           or they stop measuring anything. Fails when accuracy or macro F1 is below 0.90, or when a
           held-out message equals a training example (ignoring case, accents and punctuation,
           as the featurizers do).

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
CV_MACRO_MIN, CV_INTENT_MIN = 0.90, 0.80
HELDOUT_MIN = 0.90

# `rasa ...` with Python's and numpy's generators seeded first (argv[1] is the seed).
SEEDED_RASA = ("import random, sys, numpy; seed = int(sys.argv.pop(1)); random.seed(seed); "
               "numpy.random.seed(seed); from rasa.__main__ import main; sys.argv[0] = 'rasa'; main()")


def rasa(args: list[str], out: Path, seed: int = 0) -> bool:
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("intent_report.json", "intent_errors.json", "intent_successes.json"):
        (out / stale).unlink(missing_ok=True)  # Rasa writes the last two only when they have entries
    log = out / "rasa.log"
    with log.open("w") as fh:
        proc = subprocess.run([sys.executable, "-c", SEEDED_RASA, str(seed), *args, "--out", str(out)],
                              cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        print(f"rasa {' '.join(args[:3])} failed (log: {log})")
    return proc.returncode == 0


def read_results(out: Path) -> tuple[dict, list, list]:
    report = json.loads((out / "intent_report.json").read_text())
    errors_file, successes_file = out / "intent_errors.json", out / "intent_successes.json"
    errors = json.loads(errors_file.read_text()) if errors_file.exists() else []
    successes = json.loads(successes_file.read_text()) if successes_file.exists() else []
    return report, errors, successes


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


def cross_validation() -> int:
    out = ROOT / "reports" / "nlu"
    seed = int(os.environ.get("NLU_CV_SEED", CV_SEED))
    print(f"NLU 5-fold cross-validation (seed {seed}):")
    if not rasa(["test", "nlu", "--cross-validation", "--folds", "5", "--successes", "--config", str(CONFIG),
                 "--nlu", "data/nlu", "--domain", "bot/domain"], out, seed):
        return 1
    report, errors, successes = read_results(out)
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


def heldout() -> int:
    out = ROOT / "reports" / "nlu-heldout"
    data = ROOT / "tests" / "nlu" / "heldout.yml"
    print(f"NLU on {data.relative_to(ROOT)} (written apart from the training data):")
    training = {normalised(t) for _, t in examples(ROOT / "data" / "nlu")}
    copies = [t for _, t in examples(data) if normalised(t) in training]
    if copies:
        print(f"FAILED: {len(copies)} held-out messages are also training examples, so they measure nothing; "
              f"rewrite them in {data.relative_to(ROOT)}: " + "; ".join(copies))
        return 1
    if not rasa(["test", "nlu", "--model", "models/current.tar.gz", "--nlu", str(data)], out):
        return 1
    report, errors, _ = read_results(out)
    macro, _ = summarise(report, errors, out)
    accuracy = report["accuracy"]
    if accuracy < HELDOUT_MIN or macro < HELDOUT_MIN:
        print(f"FAILED: accuracy {accuracy:.3f}, macro F1 {macro:.3f}; both must be {HELDOUT_MIN} or more. "
              f"Misread messages: {out / 'intent_errors.json'}")
        return 1
    return 0


if __name__ == "__main__":
    checks = {"cv": cross_validation, "heldout": heldout}
    if len(sys.argv) != 2 or sys.argv[1] not in checks:
        sys.exit(f"usage: {sys.argv[0]} cv|heldout")
    sys.exit(checks[sys.argv[1]]())
