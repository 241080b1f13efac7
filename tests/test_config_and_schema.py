"""Start-up refuses missing secrets; the migrations build exactly the tables the models describe."""
from __future__ import annotations

import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from conftest import ROOT
from handoff.config import load_settings
from handoff.db import Base, make_engine


def test_missing_secrets_stop_start_up_with_a_clear_message(monkeypatch):
    monkeypatch.delenv("RASA_TOKEN", raising=False)
    monkeypatch.delenv("HANDOFF_INTERNAL_TOKEN", raising=False)
    with pytest.raises(SystemExit) as stop:
        load_settings()
    assert "RASA_TOKEN" in str(stop.value) and "HANDOFF_INTERNAL_TOKEN" in str(stop.value)


def test_placeholder_secret_is_refused(monkeypatch):
    monkeypatch.setenv("RASA_TOKEN", "changeme")
    monkeypatch.setenv("HANDOFF_INTERNAL_TOKEN", "x" * 32)
    with pytest.raises(SystemExit) as stop:
        load_settings()
    assert "RASA_TOKEN" in str(stop.value) and "real secret" in str(stop.value)


def test_the_service_does_not_start_without_secrets(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    proc = subprocess.run([sys.executable, "-m", "handoff", "serve", "--port", "1"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "configuration error" in proc.stderr and "RASA_TOKEN" in proc.stderr


def test_migrations_match_the_models(database_url):
    engine = make_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []
