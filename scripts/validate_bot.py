"""`rasa data validate`, failing on every warning except two that are wrong for this project:
responses sent by custom actions (actions/*.py) are "not used in any story or rule", and the retrieval
intents that Rasa adds to the domain from their responses are "duplicated"."""
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def responses_sent_by_actions() -> set[str]:
    topics = yaml.safe_load((ROOT / "data" / "topics.yml").read_text(encoding="utf-8"))["topics"]
    # Rasa makes a retrieval action utter_<intent> for every retrieval intent (each topic and the
    # follow-ups); action_answer_topic sends the answers utter_<intent>/<key> itself.
    names = {f"utter_{key}" for key in [*topics, "foljdfraga"]}
    for source in (ROOT / "actions").glob("*.py"):
        names |= set(re.findall(r'response="(utter_[a-z_]+)"', source.read_text(encoding="utf-8")))
    return names


def retrieval_intents() -> set[str]:
    topics = yaml.safe_load((ROOT / "data" / "topics.yml").read_text(encoding="utf-8"))["topics"]
    return {*topics, "foljdfraga"}


def main() -> int:
    rasa = ROOT / ".venv-bot" / "bin" / "rasa"
    proc = subprocess.run(
        [str(rasa), "data", "validate", "--config", "bot/config.yml", "--domain", "bot/domain",
         "--data", "data/nlu", "data/answers", "bot/data"],
        cwd=ROOT, capture_output=True, text=True,
    )
    output = proc.stdout + proc.stderr
    expected = responses_sent_by_actions()
    problems = []
    for line in output.splitlines():
        m = re.search(r"UserWarning: (.*)", line)
        if not m:
            continue
        unused = re.match(r"The utterance '(utter_[a-z_]+)' is not used in any story or rule", m.group(1))
        if unused and unused.group(1) in expected:
            continue
        # Rasa adds the retrieval intents to the domain from their responses (data/answers/), and
        # core.yml names them too: the same intents, not a conflict.
        doubled = re.match(r"The following duplicated intents have been found across multiple domain files: (.*)",
                           m.group(1))
        if doubled and set(re.findall(r"[a-z_]+", doubled.group(1))) <= retrieval_intents():
            continue
        problems.append(m.group(1))
    if proc.returncode != 0 or problems:
        print(output[-4000:])
        print(f"rasa data validate: exit {proc.returncode}, {len(problems)} warnings:", *sorted(set(problems)), sep="\n  ")
        return 1
    print(f"rasa data validate: clean ({len(expected)} responses are sent by custom actions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
