"""Every answer the residents read is plain Swedish: LIX 40 or below (scripts/lix.py)."""
from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def lix_check(path: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "lix.py"), "--max", "40", path],
                          cwd=ROOT, capture_output=True, text=True)


def test_bot_answers_are_plain_swedish():
    result = lix_check("bot/domain")
    assert result.returncode == 0, result.stdout
    assert " 0 over 40" in result.stdout


def test_switchboard_messages_are_plain_swedish():
    result = lix_check("handoff/texts")
    assert result.returncode == 0, result.stdout
    assert " 0 over 40" in result.stdout


def test_every_answer_is_plain_in_both_languages():
    result = lix_check("data/answers")
    assert result.returncode == 0, result.stdout
    assert " 0 over 40" in result.stdout
