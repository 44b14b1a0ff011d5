"""docker-compose.yml: valid, no secrets, loopback-only ports, and only CLI options that exist."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
PAIRSEARCH_SERVICES = ("worker", "dashboard", "report")
DEFAULT_PATTERN = re.compile(r"\$\{([A-Z_][A-Z0-9_]*):-([^}]*)\}")
VARIABLE_PATTERN = re.compile(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)")
REFERENCE_PATTERN = re.compile(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)[^}]*\}")
URL_PASSWORD_PATTERN = re.compile(r"://[^:/@\s]+:([^@\s]+)@")


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def with_defaults(text: str) -> str:
    """Replace each ``${VAR:-default}`` by its default, as compose does when VAR is unset."""
    return DEFAULT_PATTERN.sub(lambda match: match.group(2), text)


def all_strings(node) -> list[tuple[str, str]]:
    """Every (key, string value) pair in a parsed YAML tree; list items get the list's key."""
    found = []

    def walk(value, key: str) -> None:
        if isinstance(value, dict):
            for child_key, child in value.items():
                walk(child, str(child_key))
        elif isinstance(value, list):
            for child in value:
                walk(child, key)
        elif isinstance(value, str):
            found.append((key, value))

    walk(node, "")
    return found


def compose_env() -> dict[str, str]:
    """The caller's environment minus anything that could mask what .env provides."""
    prefixes = ("COMPOSE_", "POSTGRES_", "PAIRSEARCH_", "TORCH_", "DOCKER_")
    return {name: value for name, value in os.environ.items() if not name.startswith(prefixes)}


def run_compose_config(directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "config", "-q"], check=False,
        cwd=directory,
        env=compose_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


# (a) docker-compose itself accepts the file.


def copy_for_compose(tmp_path: Path) -> Path:
    """A temp copy of the files compose needs, without .env yet (fails or skips if no compose)."""
    if shutil.which("docker-compose") is None:
        message = "docker-compose is not installed (apt-get install docker-compose)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; .ci/run should have installed it")
        pytest.skip(message)
    shutil.copy(COMPOSE_FILE, tmp_path / "docker-compose.yml")
    shutil.copy(ROOT / "Dockerfile", tmp_path / "Dockerfile")
    return tmp_path


def test_compose_config_is_valid_with_env_example(tmp_path: Path) -> None:
    compose_dir = copy_for_compose(tmp_path)
    shutil.copy(ENV_EXAMPLE, compose_dir / ".env")
    result = run_compose_config(compose_dir)
    assert result.returncode == 0, result.stderr


def test_compose_config_requires_a_password(tmp_path: Path) -> None:
    compose_dir = copy_for_compose(tmp_path)
    result = run_compose_config(compose_dir)
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in result.stderr


# (b) The parsed file: secrets, ports, images, dependencies.


def test_no_literal_password() -> None:
    url_passwords = []
    for key, value in all_strings(load_compose()):
        if "PASSWORD" in key.upper():
            assert re.fullmatch(r"\$\{POSTGRES_PASSWORD[^}]*\}", value), f"{key}: {value}"
        # ${VAR...} -> <VAR>, so a URL's user:password@ part can be picked out.
        named = REFERENCE_PATTERN.sub(lambda match: f"<{match.group(1)}>", value)
        url_passwords += URL_PASSWORD_PATTERN.findall(named)
    assert url_passwords, "expected the storage URL to carry the password variable"
    assert set(url_passwords) == {"<POSTGRES_PASSWORD>"}, url_passwords
    assert "change-me" not in COMPOSE_FILE.read_text()


def test_ports_are_published_on_loopback_only() -> None:
    for name, service in load_compose()["services"].items():
        for mapping in service.get("ports", []):
            assert isinstance(mapping, str) and mapping.startswith("127.0.0.1:"), (name, mapping)


def test_pairsearch_services_use_the_dockerfile_image() -> None:
    services = load_compose()["services"]
    assert set(services) == {"postgres", *PAIRSEARCH_SERVICES}
    assert services["postgres"]["image"] == "postgres:16"
    for name in PAIRSEARCH_SERVICES:
        service = services[name]
        assert service["build"]["context"] == ".", name
        assert service["build"].get("dockerfile", "Dockerfile") == "Dockerfile", name
        assert service["image"] == "pairsearch:latest", name


def test_worker_is_scalable_and_waits_for_healthy_postgres() -> None:
    services = load_compose()["services"]
    worker = services["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert worker["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert worker["restart"] == "on-failure"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])


def test_report_is_in_its_own_profile() -> None:
    report = load_compose()["services"]["report"]
    assert report["profiles"] == ["report"]
    assert "./storage/reports:/app/storage/reports" in report["volumes"]


def test_every_variable_is_documented_in_env_example() -> None:
    used = set(VARIABLE_PATTERN.findall(COMPOSE_FILE.read_text()))
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert used <= documented, f"not in .env.example: {sorted(used - documented)}"


def test_dockerfile_basics() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "\nFROM python:3.11-slim\n" in dockerfile
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu\n" in dockerfile
    assert re.search(r"^USER (?!root)\S+$", dockerfile, re.MULTILINE), "must not run as root"
    assert 'ENTRYPOINT ["pairsearch"]' in dockerfile
    assert "COPY studies ./studies" in dockerfile and "COPY recipes ./recipes" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "storage", ".git", ".env"} <= set(ignored)


# (c) Each service's command only uses options that the CLI accepts.


@pytest.mark.parametrize("service_name", PAIRSEARCH_SERVICES)
def test_service_command_uses_existing_cli_options(service_name: str) -> None:
    command = load_compose()["services"][service_name]["command"]
    words = shlex.split(with_defaults(command))
    assert not any("$" in word for word in words), words
    subcommand, options = words[0], [word.split("=")[0] for word in words if word.startswith("--")]
    result = subprocess.run(
        [sys.executable, "-m", "pairsearch", subcommand, "--help"], check=False,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for option in options:
        assert re.search(rf"{re.escape(option)}\b", result.stdout), f"{subcommand} has no {option}"
