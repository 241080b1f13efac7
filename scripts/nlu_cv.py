"""5-fold cross-validation of the NLU model (`rasa test nlu --cross-validation`): fails when intent
macro F1 is below 0.90 or any intent below 0.80. Per-intent report and confusions in reports/nlu/."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "reports" / "nlu"
MACRO_MIN, INTENT_MIN = 0.90, 0.80


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / "cross-validation.log"
    with log.open("w") as fh:
        proc = subprocess.run(
            [str(ROOT / ".venv-bot" / "bin" / "rasa"), "test", "nlu", "--cross-validation", "--folds", "5",
             "--config", "bot/config.yml", "--nlu", "data/nlu", "--out", str(OUT)],
            cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
        )
    if proc.returncode != 0:
        print(f"cross-validation failed to run (log: {log})")
        return 1
    report = json.loads((OUT / "intent_report.json").read_text())
    per_intent = {k: v["f1-score"] for k, v in report.items()
                  if isinstance(v, dict) and "f1-score" in v and not k.endswith(" avg")}
    macro = report["macro avg"]["f1-score"]
    weak = {k: f for k, f in per_intent.items() if f < INTENT_MIN}
    errors = json.loads((OUT / "intent_errors.json").read_text()) if (OUT / "intent_errors.json").exists() else []
    confusions: dict[str, int] = {}
    for e in errors:
        pair = f"{e['intent']} -> {e['intent_prediction']['name']}"
        confusions[pair] = confusions.get(pair, 0) + 1
    top = sorted(confusions.items(), key=lambda kv: -kv[1])[:15]
    (OUT / "summary.json").write_text(json.dumps(
        {"macro_f1": macro, "accuracy": report.get("accuracy"), "per_intent_f1": per_intent,
         "top_confusions": top}, indent=2, ensure_ascii=False))
    print(f"NLU 5-fold cross-validation: intent macro F1 {macro:.3f} (min {MACRO_MIN}), "
          f"accuracy {report.get('accuracy', 0):.3f}, lowest intents: "
          + ", ".join(f"{k} {f:.2f}" for k, f in sorted(per_intent.items(), key=lambda kv: kv[1])[:5]))
    print("most common confusions: " + "; ".join(f"{p} ({n})" for p, n in top[:8]))
    if macro < MACRO_MIN or weak:
        print("FAILED: " + (f"macro F1 {macro:.3f} < {MACRO_MIN}; " if macro < MACRO_MIN else "")
              + (f"intents below {INTENT_MIN}: {sorted(weak)}" if weak else ""))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
