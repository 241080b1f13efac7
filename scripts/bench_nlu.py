"""`make bench-nlu`: full training time of the model (goal: 3 minutes or less on 2 cores) and the
median time of Rasa's /model/parse (goal: 30 ms or less). Timings are reported, never asserted."""
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import BOT_BIN, ROOT, free_port  # noqa: E402

SAMPLES = ["behöver jag bygglov för en altan", "soptunnan har inte tömts", "dagis kö", "hej",
           "jag vill prata med en människa", "nar oppnar biblioteket", "gatlampan ar trasig", "är du en robot"]


def main(rounds: int = 200) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        subprocess.run([str(BOT_BIN / "rasa"), "train", "--force", "--config", "bot/config.yml", "--domain",
                        "bot/domain", "--data", "data/nlu", "data/answers", "bot/data", "--out", tmp, "--fixed-model-name", "bench"],
                       cwd=ROOT, check=True, capture_output=True)
        print(f"full training (no cache, NLU and dialogue): {time.monotonic() - started:.0f} s")
        port, token = free_port(), secrets.token_urlsafe(16)
        server = subprocess.Popen([str(BOT_BIN / "rasa"), "run", "--enable-api", "--auth-token", token, "-m",
                                   f"{tmp}/bench.tar.gz", "--port", str(port), "-i", "127.0.0.1"],
                                  cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                deadline = time.monotonic() + 180
                while True:
                    try:
                        if client.get("/").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise SystemExit("Rasa did not start")
                    time.sleep(0.5)
                times = []
                for i in range(rounds):
                    t0 = time.perf_counter()
                    client.post("/model/parse", params={"token": token},
                                json={"text": SAMPLES[i % len(SAMPLES)]}).raise_for_status()
                    times.append((time.perf_counter() - t0) * 1000)
            ordered = sorted(times)
            print(f"/model/parse, {rounds} sequential: median {statistics.median(times):.1f} ms, "
                  f"p95 {ordered[int(0.95 * (len(ordered) - 1))]:.1f} ms")
        finally:
            server.terminate()
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
