"""`make bench` (second part): the switchboard itself, with Rasa replaced by a stand-in that answers at
once, so what is measured is the hub: residents chatting at once, on SQLite and on PostgreSQL.
Each figure is printed beside its goal, and beside what was measured before the use-case layer
(10 residents: 72 msg/s on SQLite, 45 on PostgreSQL, 10-18 ms CPU per message)."""
from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import HANDOFF_PY, ROOT, free_port  # noqa: E402

BEFORE = {"sqlite": 72, "postgresql": 45}  # msg/s, 10 residents, before this layer
GOAL_RATE, GOAL_P95_MS, GOAL_CPU_MS = 600, 100, 1.5  # 50 residents, PostgreSQL (SQLite at least as fast)
POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


class InstantRasa(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        data = json.dumps([{"recipient_id": body.get("sender"), "text": "Ett svar."}] if "webhook" in self.path else {})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data.encode())

    def log_message(self, *args):
        pass


async def resident(client: httpx.AsyncClient, until: float, latencies: list[float]) -> None:
    opened = (await client.post("/api/conversations", json={})).json()
    headers = {"X-Resident-Secret": opened["secret"]}
    while time.monotonic() < until:
        t0 = time.perf_counter()
        r = await client.post(f"/api/conversations/{opened['id']}/messages", headers=headers,
                              json={"text": "när töms soptunnan", "client_id": uuid.uuid4().hex})
        r.raise_for_status()
        latencies.append((time.perf_counter() - t0) * 1000)


async def load(base: str, residents: int, seconds: float) -> tuple[float, list[float]]:
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=residents)) as client:
        started = time.monotonic()
        await asyncio.gather(*(resident(client, started + seconds, latencies) for _ in range(residents)))
        return len(latencies) / (time.monotonic() - started), latencies


def run(kind: str, url: str, rasa_port: int, residents: int = 50, seconds: float = 15.0) -> None:
    env = {**os.environ, "DATABASE_URL": url, "RASA_URL": f"http://127.0.0.1:{rasa_port}",
           "RASA_TOKEN": uuid.uuid4().hex, "HANDOFF_INTERNAL_TOKEN": uuid.uuid4().hex}
    subprocess.run([str(HANDOFF_PY), "-m", "handoff", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([str(HANDOFF_PY), "-m", "handoff", "serve", "--port", str(port), "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the handoff service did not start on {kind}")
            time.sleep(0.2)
        cpu0 = _cpu_seconds(proc.pid)
        rate, latencies = asyncio.run(load(base, residents, seconds))
        cpu = (_cpu_seconds(proc.pid) - cpu0) / max(1, len(latencies)) * 1000
        p95 = sorted(latencies)[int(len(latencies) * 0.95)]
        print(f"hub on {kind}, {residents} residents at once, instant Rasa: "
              f"{rate:.0f} msg/s (goal >= {GOAL_RATE}; before, 10 residents: {BEFORE[kind]}), "
              f"p50 {statistics.median(latencies):.0f} ms, p95 {p95:.0f} ms (goal <= {GOAL_P95_MS}), "
              f"CPU {cpu:.1f} ms per message (goal <= {GOAL_CPU_MS}; before: 10-18)")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_on_a_fresh_postgres_database(rasa_port: int) -> None:
    from sqlalchemy import create_engine, make_url, text

    name = f"handoff_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - the SQLite figure stands on its own
        print(f"hub on postgresql: skipped, no server at {POSTGRES} ({type(exc).__name__})")
        return
    try:
        run("postgresql", make_url(POSTGRES).set(database=name).render_as_string(hide_password=False), rasa_port)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> int:
    rasa_port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", rasa_port), InstantRasa)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run("sqlite", f"sqlite:///{tmp}/hub.db", rasa_port)
        run_on_a_fresh_postgres_database(rasa_port)
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
