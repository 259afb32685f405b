"""docker-compose.yml, Procfile and Dockerfile refer to modules and commands that exist."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXPECTED_SERVICES = {"postgres", "redis", "web", "worker", "beat", "flower"}


def referenced_modules(command: str) -> set[str]:
    """Python modules a command line names (wsgi:app, -A celery_worker.celery, --app wsgi)."""
    modules = set(re.findall(r"\b([a-z_]+):app\b", command))
    modules |= {match.split(".")[0] for match in re.findall(r"-A\s+([\w.]+)", command)}
    modules |= set(re.findall(r"--app\s+(\w+)", command))
    return modules


def assert_modules_exist(command: str) -> None:
    for module in referenced_modules(command):
        assert importlib.util.find_spec(module) is not None, f"{command!r} names missing module {module}"


def test_compose_services_and_commands() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) >= EXPECTED_SERVICES
    for name in ("postgres", "redis", "web"):
        assert "healthcheck" in services[name], f"{name} has no health check"
    for service in services.values():
        command = service.get("command")
        if command:
            assert_modules_exist(" ".join(command) if isinstance(command, list) else command)
    assert "gevent" in " ".join(services["web"]["command"])


def test_compose_secrets_and_concurrency_from_the_environment() -> None:
    """No password in the file, Flower unpublished and behind basic auth, concurrency and provider keys from .env."""
    text = (ROOT / "docker-compose.yml").read_text()
    services = yaml.safe_load(text)["services"]
    assert "pricewire:pricewire@" not in text and "POSTGRES_PASSWORD: pricewire" not in text
    for name in ("web", "worker", "beat", "flower", "migrate"):
        assert services[name]["env_file"] == [".env"], name
    assert "ports" not in services["flower"]
    assert "FLOWER_BASIC_AUTH" in " ".join(services["flower"]["command"])
    assert "WEB_CONCURRENCY" in " ".join(services["web"]["command"])
    assert "REALTIME_MAX_WORKERS" in " ".join(services["worker"]["command"])
    flower_override = yaml.safe_load((ROOT / "deploy" / "docker-compose.flower.yml").read_text())
    assert all(port.startswith("127.0.0.1:") for port in flower_override["services"]["flower"]["ports"])


def test_env_example_names_every_provider_key_and_secret() -> None:
    from app.config import STRING_SETTINGS

    example = (ROOT / "deploy" / "pricewire.env.example").read_text()
    names = {line.split("=", 1)[0] for line in example.splitlines() if line and not line.startswith("#")}
    keys = {name for name in STRING_SETTINGS if name.endswith("_API_KEY")}
    assert keys and keys <= names
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "POSTGRES_PASSWORD", "FLOWER_BASIC_AUTH"} <= names


def test_procfile_commands() -> None:
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()]
    assert {line.split(":", 1)[0] for line in lines} == {"web", "worker", "beat", "flower"}
    for line in lines:
        assert_modules_exist(line.split(":", 1)[1])
        assert "--preload" not in line


def test_dockerfile_runs_gunicorn_gevent() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "requirements.txt" in text and '"gevent"' in text and "wsgi:app" in text


def test_shipped_nginx_site_passes_nginx_t(tmp_path: Path) -> None:
    """`nginx -t` on deploy/nginx/pricewire.conf exactly as shipped."""
    from tests.support.nginx import SHIPPED, check_config, nginx_binary

    result = check_config(nginx_binary(), tmp_path, SHIPPED.read_text())
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
