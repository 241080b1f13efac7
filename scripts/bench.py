"""`make bench`: timings of the running system (never asserted in tests).
Starts the three services on free ports and measures, sequentially on this machine:
a resident message through the handoff service to Rasa and back, and Rasa's /model/parse."""
from __future__ import annotations

import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import HANDOFF_PY, ROOT, Stack, free_port  # noqa: E402

QUESTIONS = ["behöver jag bygglov för en altan", "när töms soptunnan", "hur söker jag förskola",
             "gatlampan är trasig", "vilka öppettider har biblioteket"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main(rounds: int = 60) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        subprocess.run([str(HANDOFF_PY), "-m", "handoff", "migrate"], cwd=ROOT, check=True,
                       env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"}, capture_output=True)
        stack = Stack(rasa_token=secrets.token_urlsafe(24), internal_token=secrets.token_urlsafe(24),
                      database_url=url, log_dir=Path(tmp) / "logs", handoff_port=free_port(),
                      rasa_port=free_port(), actions_port=free_port())
        started = time.monotonic()
        stack.start()
        print(f"start-up of all three services: {time.monotonic() - started:.1f} s")
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{stack.handoff_port}", timeout=60) as client:
                opened = client.post("/api/conversations", json={}).json()
                headers = {"X-Resident-Secret": opened["secret"]}
                times = []
                for i in range(rounds):
                    t0 = time.perf_counter()
                    r = client.post(f"/api/conversations/{opened['id']}/messages", headers=headers,
                                    json={"text": QUESTIONS[i % len(QUESTIONS)]})
                    r.raise_for_status()
                    times.append((time.perf_counter() - t0) * 1000)
                print(f"resident message -> handoff -> Rasa (+ action server) -> stored reply, {rounds} sequential: "
                      f"p50 {statistics.median(times):.0f} ms, p95 {percentile(times, 95):.0f} ms")
            parse = []
            with httpx.Client(base_url=f"http://127.0.0.1:{stack.rasa_port}", timeout=60) as rasa:
                for i in range(rounds):
                    t0 = time.perf_counter()
                    rasa.post("/model/parse", params={"token": stack.rasa_token},
                              json={"text": QUESTIONS[i % len(QUESTIONS)]}).raise_for_status()
                    parse.append((time.perf_counter() - t0) * 1000)
            print(f"Rasa /model/parse, {rounds} sequential: median {statistics.median(parse):.0f} ms, "
                  f"p95 {percentile(parse, 95):.0f} ms")
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
