"""`make run`: prepare the database and demo roster, start all three services, print where to go."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import HANDOFF_PY, ROOT, Stack, StackError  # noqa: E402

# Where `make run` keeps its database, secrets and logs (RUN_DIR moves it, e.g. for the tests).
VAR = Path(os.environ.get("RUN_DIR") or ROOT / "var")


class Interrupted(Exception):
    """Ctrl-C or SIGTERM, at whatever moment it came."""


def _interrupt(*_) -> None:
    raise Interrupted


def local_secrets() -> dict[str, str]:
    """Secrets for this machine's demo: from the environment, else made once into var/secrets.env."""
    path = VAR / "secrets.env"
    stored = {}
    if path.exists():
        stored = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    values = {}
    for name in ("RASA_TOKEN", "HANDOFF_INTERNAL_TOKEN"):
        # Hexadecimal: safe anywhere on a command line (a token_urlsafe may begin with "-").
        values[name] = os.environ.get(name) or stored.get(name) or secrets.token_hex(32)
    VAR.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(0o600)
    return values


def main() -> int:
    tokens = local_secrets()
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR / 'handoff.db'}"
    env = {**os.environ, "DATABASE_URL": database_url}
    for step in (["migrate"], ["load-roster"], ["demo-logins", "--out", str(VAR / "demo-logins.txt")]):
        if subprocess.run([str(HANDOFF_PY), "-m", "handoff", *step], cwd=ROOT, env=env).returncode:
            print(f"error: `python -m handoff {' '.join(step)}` failed; see the message above.", file=sys.stderr)
            return 1
    stack = Stack(
        rasa_token=tokens["RASA_TOKEN"], internal_token=tokens["HANDOFF_INTERNAL_TOKEN"], database_url=database_url,
        log_dir=VAR / "logs", handoff_port=int(os.environ.get("HANDOFF_PORT", 8000)),
        rasa_port=int(os.environ.get("RASA_PORT", 5005)), actions_port=int(os.environ.get("ACTIONS_PORT", 5055)),
    )
    # From here on, Ctrl-C or SIGTERM at any moment (starting, running) ends in stack.stop().
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        print("starting the action server, the Rasa server and the handoff service (about a minute) ...", flush=True)
        try:
            stack.start()
        except StackError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        base = f"http://127.0.0.1:{stack.handoff_port}"
        print(f"""
All three services are up.
  Resident chat (demo page):  {base}/
  Officials' console:         {base}/console
  API documentation:          {base}/docs
  Rasa server:                http://127.0.0.1:{stack.rasa_port}   action server: http://127.0.0.1:{stack.actions_port}
  Logs:                       {VAR / 'logs'}

Demo logins for the console (username, password; new passwords on every start, also in {VAR / 'demo-logins.txt'}):
{(VAR / 'demo-logins.txt').read_text()}
Press Ctrl-C to stop everything.""", flush=True)
        while True:
            dead = stack.first_exited()
            if dead is not None:
                print(f"error: the {dead.name} stopped; last lines of {dead.log_path}:\n{dead.log_tail()}", file=sys.stderr)
                return 1
            time.sleep(0.5)
    except Interrupted:
        return 0
    finally:
        # A second Ctrl-C while stopping must not cut the stopping short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("\nstopping ...", flush=True)
        stack.stop()
        print("stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
