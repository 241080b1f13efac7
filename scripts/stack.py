"""Start and stop the three services as processes: the action server, the Rasa server and
the handoff service. Used by `make run` and by the end-to-end tests, so both run the same way."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOT_BIN = ROOT / ".venv-bot" / "bin"
HANDOFF_PY = ROOT / ".venv" / "bin" / "python"


class StackError(RuntimeError):
    pass


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unblock_stop_signals() -> None:
    """In the child: the service itself answers Ctrl-C and SIGTERM again."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


@dataclass
class Service:
    name: str
    port: int
    command: list[str]
    health_path: str
    env: dict[str, str]
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + self.health_path, timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Stack:
    rasa_token: str
    internal_token: str
    database_url: str
    log_dir: Path
    handoff_port: int = 8000
    rasa_port: int = 5005
    actions_port: int = 5055
    model: Path = ROOT / "models" / "current.tar.gz"
    extra_env: dict[str, str] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)

    def _plan(self) -> list[Service]:
        base = {**os.environ, "PYTHONUNBUFFERED": "1", **self.extra_env}
        handoff_url = f"http://127.0.0.1:{self.handoff_port}"
        return [
            Service("action server", self.actions_port,
                    [str(BOT_BIN / "rasa"), "run", "actions", "--actions", "actions", "--port", str(self.actions_port)],
                    "/health", {**base, "HANDOFF_URL": handoff_url, "HANDOFF_INTERNAL_TOKEN": self.internal_token,
                                # rasa-sdk listens on all interfaces unless told: only Rasa, here, calls it
                                "SANIC_HOST": "127.0.0.1"}),
            Service("Rasa server", self.rasa_port,
                    [str(BOT_BIN / "rasa"), "run", "--enable-api", f"--auth-token={self.rasa_token}",
                     "-m", str(self.model), "--endpoints", "bot/endpoints.yml", "--credentials", "bot/credentials.yml",
                     "--port", str(self.rasa_port), "-i", "127.0.0.1"],
                    "/", {**base, "ACTION_SERVER_URL": f"http://127.0.0.1:{self.actions_port}/webhook"}),
            Service("handoff service", self.handoff_port,
                    [str(HANDOFF_PY), "-m", "handoff", "serve", "--port", str(self.handoff_port), "--log-level", "warning"],
                    "/health", {**base, "DATABASE_URL": self.database_url, "RASA_URL": f"http://127.0.0.1:{self.rasa_port}",
                                "RASA_TOKEN": self.rasa_token, "HANDOFF_INTERNAL_TOKEN": self.internal_token}),
        ]

    def start(self, timeout: float = 240.0) -> None:
        plan = self._plan()
        for svc in plan:
            if not port_free(svc.port):
                raise StackError(f"port {svc.port} for the {svc.name} is taken (is `make run` already running?): "
                                 f"stop that process or choose another port.")
        if not self.model.exists():
            raise StackError(f"no trained model at {self.model}: run `make model`.")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for svc in plan:
            svc.log_path = self.log_dir / f"{svc.name.split()[0].lower()}.log"
            log = svc.log_path.open("w")
            # Each service in its own session, so a Ctrl-C reaches them only through stop(): they stop in
            # order and nothing is left behind. Whoever calls start() calls stop() on every way out.
            self.services.append(svc)
            # Ctrl-C waits until the child is recorded: a signal inside Popen would leave it unknown to stop().
            held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            try:
                svc.process = subprocess.Popen(svc.command, cwd=ROOT, env=svc.env, stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True,
                                               preexec_fn=_unblock_stop_signals)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
        deadline = time.monotonic() + timeout
        waiting = list(self.services)
        while waiting:
            for svc in list(waiting):
                if svc.process.poll() is not None:
                    self.stop()
                    raise StackError(f"the {svc.name} stopped at start-up (log {svc.log_path}):\n{svc.log_tail()}")
                if svc.healthy():
                    waiting.remove(svc)
            if time.monotonic() > deadline:
                self.stop()
                names = ", ".join(s.name for s in waiting)
                raise StackError(f"not healthy after {timeout:.0f} s: {names} (logs in {self.log_dir})")
            time.sleep(0.5)

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def signal(self, name: str, sig: int) -> None:
        """Send a signal to one service's process group (fault tests: SIGKILL, SIGSTOP, SIGCONT)."""
        os.killpg(self.service(name).process.pid, sig)

    def restart(self, name: str, timeout: float = 120.0) -> None:
        """Start a service that was stopped or killed again, with the same command, and wait until healthy."""
        svc = self.service(name)
        if svc.process.poll() is None:
            os.killpg(svc.process.pid, signal.SIGKILL)
        svc.process.wait()
        log = svc.log_path.open("a")
        svc.process = subprocess.Popen(svc.command, cwd=ROOT, env=svc.env, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        deadline = time.monotonic() + timeout
        while not svc.healthy():
            if svc.process.poll() is not None or time.monotonic() > deadline:
                raise StackError(f"the {svc.name} did not come back (log {svc.log_path}):\n{svc.log_tail()}")
            time.sleep(0.2)

    def first_exited(self) -> Service | None:
        return next((s for s in self.services if s.process and s.process.poll() is not None), None)

    def stop(self) -> None:
        for svc in self.services:
            if svc.process and svc.process.poll() is None:
                try:
                    os.killpg(svc.process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for svc in self.services:
            if not svc.process:
                continue
            try:
                svc.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(svc.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                svc.process.wait()
        self.services.clear()

    def __enter__(self) -> "Stack":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
