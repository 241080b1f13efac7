"""`make run` (scripts/run.py) as a person uses it: it starts with any token it is given, and Ctrl-C or
SIGTERM at any moment, starting or running, stops all three services and frees their ports."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from stack import HANDOFF_PY, free_port, port_free  # noqa: E402

pytestmark = pytest.mark.e2e


def start_make_run(tmp: Path, rasa_token: str) -> tuple[subprocess.Popen, dict[str, int], Path]:
    ports = {name: free_port() for name in ("HANDOFF_PORT", "RASA_PORT", "ACTIONS_PORT")}
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "RUN_DIR": str(tmp),
           "RASA_TOKEN": rasa_token, "HANDOFF_INTERNAL_TOKEN": secrets.token_hex(16)}
    env.pop("DATABASE_URL", None)
    out = tmp / "make-run.out"
    with out.open("w") as fh:
        proc = subprocess.Popen([str(HANDOFF_PY), "scripts/run.py"], cwd=ROOT, env=env, stdout=fh,
                                stderr=subprocess.STDOUT)
    return proc, ports, out


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.2)


def processes_serving(ports: dict[str, int]) -> list[str]:
    """Command lines of live processes started with one of these ports (`--port N`)."""
    wanted = {str(p) for p in ports.values()}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any(a == "--port" and b in wanted for a, b in zip(argv, argv[1:])):
            found.append(" ".join(argv))
    return found


def stop_and_check(proc: subprocess.Popen, sig: int, ports: dict[str, int], out: Path) -> None:
    proc.send_signal(sig)
    proc.wait(timeout=60)
    text = out.read_text()
    assert proc.returncode == 0, text
    assert "stopped." in text
    wait_for(lambda: not processes_serving(ports), 10, f"the services to end: {processes_serving(ports)}")
    assert all(port_free(p) for p in ports.values()), ports


def end(proc: subprocess.Popen) -> None:
    """After a failed check: stop make run the way a person would, so the next tests find free ports."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_ctrl_c_while_the_services_are_starting_leaves_no_process_and_no_port_taken(tmp_path):
    proc, ports, out = start_make_run(tmp_path, secrets.token_hex(16))
    try:
        logs = [tmp_path / "logs" / f"{name}.log" for name in ("action", "rasa", "handoff")]
        wait_for(lambda: all(log.exists() for log in logs), 120, "the three services launched")
        assert "All three services are up" not in out.read_text()  # still starting
        stop_and_check(proc, signal.SIGINT, ports, out)
    finally:
        end(proc)


def test_a_token_that_begins_with_a_dash_starts_the_stack_and_sigterm_stops_it(tmp_path):
    token = "-" + secrets.token_urlsafe(16)
    proc, ports, out = start_make_run(tmp_path, token)
    try:
        wait_for(lambda: "All three services are up" in out.read_text() or proc.poll() is not None, 300,
                 "make run to be up")
        assert proc.poll() is None, out.read_text()
        rasa = f"http://127.0.0.1:{ports['RASA_PORT']}/status"
        assert httpx.get(rasa, params={"token": token}, timeout=10).status_code == 200
        assert httpx.get(rasa, params={"token": "wrong"}, timeout=10).status_code == 401
        stop_and_check(proc, signal.SIGTERM, ports, out)
    finally:
        end(proc)
