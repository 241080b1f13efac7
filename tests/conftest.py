"""Fixtures: a real database per test (SQLite file, or PostgreSQL with TEST_DATABASE_URL),
the ASGI app with its lifespan, officials who can log in."""
from __future__ import annotations

import contextlib
import secrets
import socket
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handoff import migrate, roster  # noqa: E402
from handoff.app import create_app  # noqa: E402
from handoff.auth import hash_password  # noqa: E402
from handoff.config import Settings  # noqa: E402
from handoff.db import make_engine, make_sessionmaker  # noqa: E402
from handoff.models import Official  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
TOPICS = set(yaml.safe_load((ROOT / "data" / "topics.yml").read_text(encoding="utf-8"))["topics"])
PASSWORD = "correct horse battery staple"


def eventually(check, what: str, timeout: float = 20.0, every: float = 0.05):
    """check()'s first true value, polled until `timeout` seconds; a failure names what was awaited."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)
    return value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def fresh_postgres_database(admin_url: str, *, prefix: str = "handoff_test", keep: bool = False):
    """A new, empty PostgreSQL database as (name, url), dropped afterwards unless `keep`."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield name, make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def start_stack(tmp: Path, **extra_env: str):
    """The three real services on free ports, on a fresh SQLite database with the test roster."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from stack import Stack, free_port

    url = f"sqlite:///{tmp / 'handoff.db'}"
    migrate.upgrade(url)
    load_roster(url)
    running = Stack(
        rasa_token=secrets.token_urlsafe(24), internal_token=secrets.token_urlsafe(24), database_url=url,
        log_dir=tmp / "logs", handoff_port=free_port(), rasa_port=free_port(), actions_port=free_port(),
        extra_env=extra_env,
    )
    running.start()
    return running


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """One running system shared by the end-to-end tests (web API and browser)."""
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    running.stop()


def pytest_addoption(parser):
    parser.addoption("--keep-db", action="store_true", help="do not drop PostgreSQL test databases")


@pytest.fixture
def database_url(tmp_path, request, monkeypatch):
    """A fresh, migrated database: SQLite by default, PostgreSQL when TEST_DATABASE_URL is set."""
    import os

    admin_url = os.environ.get("TEST_DATABASE_URL")
    if not admin_url:
        url = f"sqlite:///{tmp_path / 'handoff.db'}"
        migrate.upgrade(url)
        yield url
        return
    with fresh_postgres_database(admin_url, keep=request.config.getoption("--keep-db")) as (_, url):
        migrate.upgrade(url)
        yield url


def load_roster(url: str, path: Path = FIXTURES / "roster_always.yml", password: str = PASSWORD) -> None:
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session, session.begin():
        roster.apply(session, roster.read_file(path, TOPICS))
        for official in session.query(Official):
            official.password_hash = hash_password(password)
    engine.dispose()


@pytest.fixture
def settings(database_url):
    return Settings(
        database_url=database_url,
        rasa_url="http://127.0.0.1:9",  # nothing listens: the bot is unavailable unless a test starts Rasa
        rasa_token=secrets.token_urlsafe(24),
        handoff_internal_token=secrets.token_urlsafe(24),
        rasa_timeout_seconds=2,
    )


@pytest.fixture
def client(settings):
    load_roster(settings.database_url)
    with TestClient(create_app(settings)) as c:
        yield c


def login(client: TestClient, username: str) -> dict:
    """Log an official in; returns that official's headers (session cookie and CSRF token),
    so one client can act as several officials."""
    resp = client.post("/api/console/login", json={"username": username, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    token = resp.cookies.get("kc_session")
    client.cookies.clear()
    return {"X-CSRF-Token": resp.json()["csrf_token"], "Cookie": f"kc_session={token}"}


def open_conversation(client: TestClient) -> tuple[str, dict]:
    resp = client.post("/api/conversations", json={})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    return body["id"], {"X-Resident-Secret": body["secret"]}


def internal_headers(settings: Settings) -> dict:
    return {"Authorization": f"Bearer {settings.handoff_internal_token.get_secret_value()}"}
