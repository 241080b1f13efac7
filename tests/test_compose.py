"""docker-compose.yml: valid for docker-compose, secrets without defaults, the five services
with health checks, and the README that tells an operator how to run it. No Docker engine is
needed: `docker-compose config` only reads and interpolates the file."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
SECRETS = ("RASA_TOKEN", "HANDOFF_INTERNAL_TOKEN", "POSTGRES_PASSWORD")
SERVICES = ("postgres", "redis", "rasa", "actions", "handoff", "proxy")


def compose_config(tmp_path: Path, secrets: dict[str, str]) -> subprocess.CompletedProcess:
    """Run `docker-compose -f docker-compose.yml config -q` with exactly the given secrets set.
    An empty --env-file keeps a local .env from supplying (or hiding) values."""
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed (it validates docker-compose.yml): run `make setup`.")
    env = {k: v for k, v in os.environ.items() if k not in SECRETS and not k.startswith("COMPOSE_")}
    env.update(secrets)
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    return subprocess.run(
        [exe, "--env-file", str(empty_env_file), "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def dummy_secrets() -> dict[str, str]:
    return {name: f"dummy-{name.lower()}-0123456789abcdef" for name in SECRETS}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def healthcheck_text(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def test_docker_compose_accepts_the_file(tmp_path):
    result = compose_config(tmp_path, dummy_secrets())
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"


@pytest.mark.parametrize("missing", SECRETS)
def test_each_secret_is_required_and_named_when_missing(tmp_path, missing):
    secrets = {k: v for k, v in dummy_secrets().items() if k != missing}
    result = compose_config(tmp_path, secrets)
    assert result.returncode != 0, f"docker-compose config passed without {missing}: it must have no default"
    assert missing in result.stderr + result.stdout, f"the error does not name {missing}:\n{result.stderr}"


def test_without_any_secret_docker_compose_refuses(tmp_path):
    result = compose_config(tmp_path, {})
    assert result.returncode != 0, "docker-compose config passed without any secret"
    message = result.stderr + result.stdout
    assert any(name in message for name in SECRETS), f"the error names no missing variable:\n{message}"


def test_services_exist_with_health_checks(compose):
    services = compose["services"]
    for name in SERVICES:
        assert name in services, f"service {name} is missing"
        assert "healthcheck" in services[name], f"service {name} has no healthcheck"
        assert healthcheck_text(services[name]).strip(), f"service {name} has an empty healthcheck"


def test_images(compose):
    services = compose["services"]
    assert services["postgres"]["image"].split(":")[1].split("-")[0].split(".")[0] == "16"
    assert services["redis"]["image"].split(":")[1].split("-")[0].split(".")[0] == "7"
    assert services["rasa"]["image"].startswith("rasa/rasa:3.6.21")
    dockerfile = (ROOT / services["actions"]["build"]["dockerfile"]).read_text()
    assert "FROM rasa/rasa-sdk:3.6.2" in dockerfile
    assert services["migrate"]["build"]["dockerfile"] == "handoff/Dockerfile"
    assert services["handoff"]["image"] == services["migrate"]["image"]  # built once, run as both
    assert services["proxy"]["image"].startswith("nginx:")
    assert (ROOT / "handoff" / "Dockerfile").is_file()


def test_ports(compose):
    services = compose["services"]
    published = [str(p) for p in services["proxy"].get("ports", [])]
    assert any(p.split(":")[-1] == "8000" for p in published), f"the proxy does not publish 8000: {published}"
    for name in SERVICES:
        if name != "proxy":
            assert not services[name].get("ports"), f"{name} publishes a port; only the proxy should"
    rasa = services["rasa"]
    assert "--port 5005" in " ".join(rasa["command"].split()), rasa["command"]
    assert "localhost:5005" in healthcheck_text(rasa)
    actions = services["actions"]
    assert "5055" in [str(p) for p in actions.get("expose", [])]
    assert "localhost:5055/health" in healthcheck_text(actions)
    assert "localhost:8000/health" in healthcheck_text(services["handoff"])


def test_handoff_waits_for_healthy_dependencies(compose):
    depends = compose["services"]["handoff"]["depends_on"]
    for name in ("postgres", "redis", "rasa"):
        assert depends.get(name, {}).get("condition") == "service_healthy", f"handoff must wait for healthy {name}"
    assert depends["migrate"]["condition"] == "service_completed_successfully"  # the schema first, once


def test_two_replicas_behind_one_proxy_that_passes_websockets(compose):
    services = compose["services"]
    assert services["handoff"]["deploy"]["replicas"] >= 2
    assert services["proxy"]["depends_on"]["handoff"]["condition"] == "service_healthy"
    mount = next(v for v in services["proxy"]["volumes"] if v.endswith(":/etc/nginx/nginx.conf:ro"))
    conf = (ROOT / mount.split(":")[0]).read_text(encoding="utf-8")
    assert "http://handoff:8000" in conf and "listen 8000" in conf
    assert "proxy_set_header Upgrade $http_upgrade" in conf and "proxy_http_version 1.1" in conf
    # the console's WebSocket checks its Origin against Host, port included
    assert "proxy_set_header Host $http_host" in conf


def test_no_container_start_reloads_the_roster():
    dockerfile = (ROOT / "handoff" / "Dockerfile").read_text(encoding="utf-8")
    cmd = next(line for line in dockerfile.splitlines() if line.startswith("CMD"))
    assert "load-roster" not in cmd and "migrate" not in cmd and "serve" in cmd


def test_services_reach_each_other_by_name(compose):
    env = compose["services"]["handoff"]["environment"]
    assert "@postgres:5432/kommunchatt" in env["DATABASE_URL"]
    assert env["RASA_URL"] == "http://rasa:5005"
    assert env["REDIS_URL"].startswith("redis://redis:6379/")
    assert compose["services"]["actions"]["environment"]["HANDOFF_URL"] == "http://handoff:8000"
    assert "bot/endpoints.compose.yml" in compose["services"]["rasa"]["command"]
    endpoints = yaml.safe_load((ROOT / "bot" / "endpoints.compose.yml").read_text(encoding="utf-8"))
    assert endpoints["action_endpoint"]["url"] == "http://actions:5055/webhook"
    for store, db in (("tracker_store", 1), ("lock_store", 2)):
        assert endpoints[store]["type"] == "redis" and endpoints[store]["url"] == "redis"
        assert endpoints[store]["db"] == db


def test_readme_names_the_compose_services_and_ports():
    readme = ROOT / "README.md"
    assert readme.is_file(), "README.md is missing: it must explain how to run the stack with docker compose"
    text = readme.read_text(encoding="utf-8")
    assert re.search(r"docker[ -]compose", text, re.IGNORECASE), "README.md does not mention docker compose"
    for port in ("8000", "5005", "5055"):
        assert re.search(rf"\b{port}\b", text), f"README.md does not mention port {port}"
