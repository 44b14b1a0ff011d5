"""docker-compose.yml: valid, no secrets, loopback-only ports, and only CLI options that exist;
docker-compose.local.yml changes only where images come from; and (slow) the stack started for real."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
import yaml
from conftest import SECONDS_STUDY, free_port, run_cli

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
    assert dockerfile.startswith("#")
    # The base is a build argument: python:3.11-slim unless a build says otherwise.
    assert "\nARG BASE_IMAGE=python:3.11-slim\nFROM ${BASE_IMAGE}\n" in dockerfile
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu\n" in dockerfile
    assert re.search(r"^USER (?!root)\S+$", dockerfile, re.MULTILINE), "must not run as root"
    assert 'ENTRYPOINT ["pairsearch"]' in dockerfile
    assert "COPY studies ./studies" in dockerfile and "COPY recipes ./recipes" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "storage", ".git", ".env"} <= set(ignored)


def test_the_image_carries_the_commit_it_is_built_from() -> None:
    """The build context has no .git: the commit comes as a build arg that the image keeps in the
    variable pairsearch.version reads, and compose passes it on."""
    from pairsearch.version import COMMIT_ENV

    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"\nARG {COMMIT_ENV}\nENV {COMMIT_ENV}=${{{COMMIT_ENV}}}\n" in dockerfile
    assert dockerfile.index(f"ARG {COMMIT_ENV}") < dockerfile.index("COPY pairsearch ./pairsearch")
    for name in PAIRSEARCH_SERVICES:
        assert load_compose()["services"][name]["build"]["args"][COMMIT_ENV] == f"${{{COMMIT_ENV}:-}}", name


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


# (d) docker-compose.local.yml: the same stack from images made here, nothing else changed.

LOCAL_FILE = ROOT / "docker-compose.local.yml"


def test_local_override_changes_only_where_images_come_from() -> None:
    base, local = load_compose()["services"], yaml.safe_load(LOCAL_FILE.read_text())["services"]
    assert set(local) <= set(base)
    for name, service in local.items():
        assert set(service) == {"build", "image"}, (name, sorted(service))
        assert service["image"].endswith(":local"), name
        build = service["build"]
        assert set(build) <= {"context", "args", "network"}, (name, build)
        assert build["args"] == {"BASE_IMAGE": "pairsearch-base:local"}, name
    assert local["postgres"]["image"] == "pairsearch-postgres:local"
    assert local["postgres"]["build"]["context"] == "docker/postgres"
    assert (ROOT / "docker" / "postgres" / "Dockerfile").is_file()
    assert os.access(ROOT / "docker" / "make-base-image.sh", os.X_OK)
    assert os.access(ROOT / "docker" / "postgres" / "entrypoint.sh", os.X_OK)


def test_dockerfile_pip_settings_are_unset_unless_given() -> None:
    """The default build is the plain one: no mirror, no wheel folder, the CPU index for torch."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    for name in ("PIP_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"):
        assert f"\nARG {name}\n" in dockerfile, name
    assert 'RUN pip install --index-url "${TORCH_INDEX_URL}" ${TORCH_PACKAGES}\n' in dockerfile


def test_compose_config_is_valid_with_the_local_override(tmp_path: Path) -> None:
    compose_dir = copy_for_compose(tmp_path)
    shutil.copy(LOCAL_FILE, compose_dir / LOCAL_FILE.name)
    shutil.copytree(ROOT / "docker", compose_dir / "docker")
    shutil.copy(ENV_EXAMPLE, compose_dir / ".env")
    result = subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "-f", LOCAL_FILE.name, "config"], check=False,
        cwd=compose_dir, env=compose_env(), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    merged = yaml.safe_load(result.stdout)["services"]
    assert merged["postgres"]["image"] == "pairsearch-postgres:local"
    for name in PAIRSEARCH_SERVICES:
        assert merged[name]["image"] == "pairsearch:local", name
        assert merged[name]["build"]["args"]["BASE_IMAGE"] == "pairsearch-base:local", name
        assert merged[name]["command"] == load_compose_defaults()["services"][name]["command"], name


def load_compose_defaults() -> dict:
    return yaml.safe_load(with_defaults(COMPOSE_FILE.read_text()))


# (e) The stack started for real (slow): images built without Docker Hub, Postgres, 2 worker
# containers and the dashboard up, a small study to an exact budget across the containers, one
# container killed mid-trial and its trial retried, the dashboard's API, the report profile,
# and everything torn down. It needs root (to start the engine and make the base image) or a
# running engine and the base image; it skips without them, except under CI, where it fails.
#
# Figures (build, start-up, trials per minute with 2 containers and with `tune --workers 2`)
# go to test-artifacts/compose.json and are printed (-s); docs/scaling-out.md quotes them.

PROJECT = "pairsearch-e2e"
BASE_IMAGE = "pairsearch-base:local"
IMAGES = ("pairsearch:local", "pairsearch-postgres:local")  # what docker-compose.local.yml builds
DASHBOARD = "http://127.0.0.1:8080"  # where docker-compose.yml publishes it
WHEELS_PORT = 38631  # fixed, so the build args, and with them Docker's layer cache, stay the same
IN_VOLUME = "/app/storage/data"  # the pairsearch-data volume, in every pairsearch container
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
ARTIFACTS = ROOT / "test-artifacts" / "compose.json"
CONTEXT = ("Dockerfile", ".dockerignore", "docker-compose.yml", "docker-compose.local.yml",
           "pyproject.toml", "README.md", "docker", "pairsearch", "studies", "recipes")
# The trials: conftest's few-seconds study (a kill lands mid-trial), trained 3 epochs.
TINY_RECIPE = 'name = "tiny"\ndescription = "3 epochs, for tests"\nepochs = 3\n\n[augment]\nmax_shift = 0\n'
FIRST_BUDGET, BUDGET = 12, 24  # the first part measures throughput; the second kills a worker


def unavailable(reason: str):
    """What this machine lacks fails the test under CI (.ci/run provides it) and skips it elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; .ci/run should provide it")
    pytest.skip(reason)


def record(**figures) -> None:
    figures["load_average_1min"] = round(os.getloadavg()[0], 1)  # the box is shared: context
    figures["recorded_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
    ARTIFACTS.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACTS.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    print(f"\n[figures] compose stack: {json.dumps(figures, sort_keys=True)}")


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check:
        assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr[-3000:]}"
    return result


def engine_answers() -> bool:
    try:
        return docker("info", timeout=30, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@pytest.fixture
def docker_engine(tmp_path_factory):
    """The Docker engine: the running one, or dockerd started (as root) and stopped afterwards."""
    for tool in ("docker", "docker-compose"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed (apt-get install docker-compose)")
    if engine_answers():
        yield
        return
    if shutil.which("dockerd") is None or os.geteuid() != 0:
        unavailable("no Docker engine answers, and only root can start one here (dockerd)")
    log_path = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not engine_answers():
            assert process.poll() is None, f"dockerd exited {process.returncode}:\n{log_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"dockerd did not answer:\n{log_path.read_text()[-3000:]}"
            time.sleep(1)
        yield
    finally:
        process.terminate()
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)


def make_base_image() -> float | None:
    """pairsearch-base:local, made once (docker/make-base-image.sh); seconds taken, None if it was there."""
    if docker("image", "inspect", BASE_IMAGE, check=False).returncode == 0:
        return None
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        unavailable(f"{BASE_IMAGE} is missing; making it needs root and debootstrap")
    started = time.monotonic()
    result = subprocess.run([str(ROOT / "docker" / "make-base-image.sh"), BASE_IMAGE], capture_output=True,
                            text=True, timeout=1800, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return round(time.monotonic() - started, 1)


def pip(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """The host's pip, with the host's configuration: the way `make install` gets packages."""
    result = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True,
                            timeout=timeout, check=False)
    assert result.returncode == 0, f"pip {' '.join(args)}: {result.stderr[-3000:]}"
    return result


def pip_wheel_folders() -> list[Path]:
    """The local folders the host's pip takes wheels from (find-links in its config or environment)."""
    listed = pip("config", "list", timeout=60).stdout
    values = re.findall(r"find-links='([^']*)'", listed) + [os.environ.get("PIP_FIND_LINKS", "")]
    folders = [Path(item.removeprefix("file://")) for value in values for item in value.split()]
    return [folder for folder in folders if folder.is_dir()]


def wheel_version(path: Path) -> str:
    return path.name.split("-")[1]


def make_wheelhouse(directory: Path) -> str:
    """Every wheel the image installs, downloaded by the host's pip (which reaches what this machine
    reaches, with its certificates); returns the build's TORCH_PACKAGES.

    torch is a CPU-only build: one from the host pip's wheel folders if there is one (here, where the
    CPU index is out of reach), else from the CPU index, as the Dockerfile's default build does.
    """
    from packaging.version import Version

    if sys.version_info[:2] != (3, 11) or sys.platform != "linux":
        unavailable("the wheels are downloaded for the image's Python (3.11, Debian 12): run with a 3.11 .venv")
    local = [wheel for folder in pip_wheel_folders()
             for wheel in folder.glob("torch-*+cpu-cp311-cp311-*x86_64.whl")]
    if local:
        shutil.copy(max(local, key=lambda wheel: Version(wheel_version(wheel))), directory)
    else:
        pip("download", "--no-deps", "--dest", str(directory), "--index-url", CPU_INDEX, "torch", "torchvision")
    torch = f"torch=={wheel_version(next(directory.glob('torch-*.whl')))}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [requirement for requirement in project["dependencies"] + project["optional-dependencies"]["grpc"]
                    if not requirement.startswith(("torch>", "torchvision>"))]
    pip("download", "--dest", str(directory), "--find-links", str(directory), torch, "torchvision",
        "setuptools>=77", *requirements)  # setuptools: pyproject.toml's build backend
    torchvision = f"torchvision=={wheel_version(next(directory.glob('torchvision-*.whl')))}"
    return f"{torch} {torchvision}"


@contextlib.contextmanager
def served(directory: Path):
    """``directory`` over HTTP on 127.0.0.1 (builds on the host's network reach it); yields its URL."""
    for port in (WHEELS_PORT, free_port()):
        process = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(directory), str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + 30
            while process.poll() is None and time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(url, timeout=2).close()
                    break
                except OSError:
                    time.sleep(0.2)
            if process.poll() is None:
                yield url
                return
        finally:
            process.terminate()
            process.wait(10)
    raise AssertionError("could not serve the wheel folder on 127.0.0.1")


class Stack:
    """docker-compose.yml + docker-compose.local.yml in a copy of the project, under its own project name."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory, self.env = directory, env
        for name in CONTEXT:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, directory / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, directory / name)
        # The report service writes here as user 1000 (docs/scaling-out.md: chmod a+w).
        (directory / "storage" / "reports").mkdir(parents=True)
        (directory / "storage" / "reports").chmod(0o777)

    def __call__(self, *args: str, timeout: float = 600, check: bool = True, **env: str):
        command = ["docker-compose", "--project-name", PROJECT, "--project-directory", str(self.directory),
                   "-f", str(self.directory / "docker-compose.yml"), "-f", str(self.directory / LOCAL_FILE.name), *args]
        result = subprocess.run(command, cwd=self.directory, env={**self.env, **env}, capture_output=True,
                                text=True, timeout=timeout, check=False)
        if check:
            assert result.returncode == 0, f"{' '.join(args)}: {result.stdout[-2000:]}{result.stderr[-4000:]}"
        return result

    def containers(self, service: str) -> list[str]:
        return self("ps", "-q", service).stdout.split()

    def down(self) -> None:
        self("--profile", "report", "down", "--volumes", "--remove-orphans", "--timeout", "10", timeout=300)


def left_behind() -> dict[str, list[str]]:
    """The project's containers, volumes and networks still there (compose labels every one)."""
    label = f"label=com.docker.compose.project={PROJECT}"
    return {kind: docker(*command, "--filter", label, "-q").stdout.split()
            for kind, command in (("containers", ("ps", "-a")), ("volumes", ("volume", "ls")),
                                  ("networks", ("network", "ls")))}


def image_id(tag: str) -> str | None:
    result = docker("image", "inspect", "--format", "{{.Id}}", tag, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def inspect_state(container: str) -> dict:
    return json.loads(docker("inspect", "--format", "{{json .State}}", container).stdout)


def counts(study_name: str, url: str) -> Counter:
    """Trials of ``study_name`` by state (empty before the study exists)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sqlalchemy.text(
                "SELECT t.state, count(*) FROM trials t JOIN studies s ON s.study_id = t.study_id "
                "WHERE s.study_name = :name GROUP BY t.state"), {"name": study_name}).all()
        return Counter({str(state).rsplit(".", 1)[-1]: number for state, number in rows})
    except sqlalchemy.exc.ProgrammingError:  # no tables yet
        return Counter()
    finally:
        engine.dispose()


def poll(condition, *, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def load_trials(study_name: str, url: str):
    import optuna

    storage = optuna.storages.RDBStorage(url, skip_compatibility_check=True, skip_table_creation=True)
    try:
        return optuna.load_study(study_name=study_name, storage=storage).get_trials(deepcopy=False)
    finally:
        storage.engine.dispose()


def trials_per_minute(trials) -> float:
    """Finished trials per minute, from the first trial's start to the last one's end."""
    finished = [trial for trial in trials if trial.state.name in ("COMPLETE", "PRUNED")]
    start = min(trial.datetime_start for trial in finished)
    end = max(trial.datetime_complete for trial in finished)
    return round(60 * len(finished) / (end - start).total_seconds(), 1)


def http_json(url: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None


def dashboard_answers() -> bool:
    try:
        return http_json(f"{DASHBOARD}/api/studies")[0] == 200
    except OSError:
        return False


def kill_a_worker_mid_trial(stack: Stack, url: str) -> str:
    """SIGKILL one worker container while both train; returns it. A kill that lands between two of
    its trials (no trial of its left RUNNING) is undone (`up` starts it again) and tried anew."""
    for _ in range(3):
        poll(lambda: counts("base", url)["RUNNING"] == 2, timeout=300, what="two running trials")
        victim = stack.containers("worker")[0]
        docker("kill", victim)
        # The survivor runs at most one trial: two RUNNING from now on means one is the victim's.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if counts("base", url)["RUNNING"] == 2:
                return victim
            time.sleep(0.1)
        stack("up", "-d", "--scale", "worker=2", "worker")
    raise AssertionError("no kill landed mid-trial in 3 tries")


@pytest.mark.slow
def test_the_stack_runs_a_study_across_containers(tmp_path, data_dir, docker_engine):
    test_started = time.monotonic()
    figures: dict[str, object] = {}
    volumes_before = set(docker("volume", "ls", "-q").stdout.split())
    figures["base_image_s"] = make_base_image()

    password, port = secrets.token_hex(12), free_port()
    url = f"postgresql+psycopg://pairsearch:{password}@127.0.0.1:{port}/pairsearch"
    prefixes = ("COMPOSE_", "POSTGRES_", "PAIRSEARCH_", "TORCH_")
    env = {name: value for name, value in os.environ.items() if not name.startswith(prefixes)}
    env.update({
        "POSTGRES_PASSWORD": password, "POSTGRES_PORT": str(port), "PAIRSEARCH_SEEDS": "2",
        # The shipped worker command, on a tiny search space: the arch's value carries --study-file.
        "PAIRSEARCH_ARCH": f"base --study-file {IN_VOLUME}/tiny-study.toml",
        "PAIRSEARCH_RECIPE": f"{IN_VOLUME}/tiny-recipe.toml",
    })
    (tmp_path / "project").mkdir()
    stack = Stack(tmp_path / "project", env)
    stack.down()  # whatever a run that was cut short left
    with socket.socket() as probe:
        # As docker-proxy binds: connections of an earlier run still in TIME_WAIT are no obstacle.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", 8080))
        except OSError:
            unavailable("port 8080 (the dashboard's, in docker-compose.yml) is taken on 127.0.0.1")
    try:
        wheelhouse = tmp_path / "wheels"
        wheelhouse.mkdir()
        torch_packages = make_wheelhouse(wheelhouse)
        figures["torch_packages"] = torch_packages
        before = {tag: image_id(tag) for tag in IMAGES}
        with served(wheelhouse) as wheels:
            started = time.monotonic()
            stack("build", "--build-arg", "PIP_NO_INDEX=1", "--build-arg", f"PIP_FIND_LINKS={wheels}",
                  "--build-arg", f"TORCH_PACKAGES={torch_packages}", "postgres", "worker", timeout=3600)
            figures["compose_build_s"] = round(time.monotonic() - started, 1)
        for tag, old in before.items():  # an image this build replaced is only disk space now
            if old is not None and old != image_id(tag):
                docker("image", "rm", old, check=False)
        figures["image_mb"] = {tag: round(int(docker("image", "inspect", "--format", "{{.Size}}", tag).stdout) / 1e6)
                               for tag in IMAGES}

        # The tiny study and recipe, into the data volume every pairsearch container mounts.
        files = {"tiny-study.toml": SECONDS_STUDY, "tiny-recipe.toml": TINY_RECIPE}
        stack("run", "--rm", "--no-deps", "-T", "--entrypoint", "python3", "worker", "-c",
              f"import pathlib; [pathlib.Path({IN_VOLUME!r}, n).write_text(t) for n, t in {files!r}.items()]")

        # Part 1: Postgres, 2 workers, the dashboard; the workers spend a budget and exit 0.
        started = time.monotonic()
        stack.env["PAIRSEARCH_TRIALS"] = str(FIRST_BUDGET)
        stack("up", "-d", "--scale", "worker=2")
        figures["compose_up_returned_s"] = round(time.monotonic() - started, 1)
        poll(lambda: counts("base", url)["RUNNING"] == 2, timeout=300, what="both workers' first trials")
        figures["startup_s"] = round(time.monotonic() - started, 1)
        workers = stack.containers("worker")
        assert len(workers) == 2, workers
        poll(lambda: all(inspect_state(worker)["Status"] == "exited" for worker in workers), timeout=600,
             what="the workers to spend the budget and exit")
        assert [inspect_state(worker)["ExitCode"] for worker in workers] == [0, 0], stack("logs", "worker").stdout[-3000:]
        figures["first_part_wall_s"] = round(time.monotonic() - started, 1)
        state = counts("base", url)
        assert state["COMPLETE"] + state["PRUNED"] == FIRST_BUDGET and not state["RUNNING"], state
        figures["trials_per_minute_2_containers"] = trials_per_minute(load_trials("base", url))

        # The same study and budget with `pairsearch tune --workers 2` on the host, same Postgres.
        study_file, recipe_file = tmp_path / "tiny-study.toml", tmp_path / "tiny-recipe.toml"
        study_file.write_text(SECONDS_STUDY)
        recipe_file.write_text(TINY_RECIPE)
        started = time.monotonic()
        result = run_cli(["tune", "--arch", "base", "--study-file", str(study_file), "--recipe", str(recipe_file),
                          "--trials", str(FIRST_BUDGET), "--workers", "2", "--quiet", "--study", "hostrun",
                          "--storage", url], data_dir=data_dir, timeout=600)
        assert result.returncode == 0, result.stderr
        figures["host_tune_wall_s"] = round(time.monotonic() - started, 1)
        figures["trials_per_minute_tune_workers_2"] = trials_per_minute(load_trials("hostrun", url))

        # Part 2: a larger budget, the same study continued; one container killed mid-trial. The
        # finished workers go first, with their anonymous /app/storage volumes (a recreated
        # container would keep them, and `down -v` would then leave them behind).
        stack("rm", "--force", "-v", "worker")
        stack.env["PAIRSEARCH_TRIALS"] = str(BUDGET)
        stack("up", "-d", "--scale", "worker=2")
        victim = kill_a_worker_mid_trial(stack, url)
        killed = time.monotonic()
        poll(lambda: counts("base", url)["FAIL"] >= 1, timeout=300, what="the killed worker's trial to be failed")
        figures["kill_to_trial_failed_s"] = round(time.monotonic() - killed, 1)
        survivors = [worker for worker in stack.containers("worker") if worker != victim]
        poll(lambda: all(inspect_state(worker)["Status"] == "exited" for worker in survivors), timeout=600,
             what="the surviving worker to spend the budget and exit")
        assert [inspect_state(worker)["ExitCode"] for worker in survivors] == [0] * len(survivors)
        victim_state = inspect_state(victim)
        assert victim_state["ExitCode"] == 137 and victim_state["Status"] == "exited", victim_state

        trials = load_trials("base", url)
        state = Counter(trial.state.name for trial in trials)
        assert state["COMPLETE"] + state["PRUNED"] == BUDGET, state  # exact, the retry included
        assert not state["RUNNING"] and not state["WAITING"], state
        failed = [trial for trial in trials if trial.state.name == "FAIL"]
        assert failed, state
        done = [trial for trial in trials if trial.state.name == "COMPLETE"]
        for trial in failed:
            assert any(other.system_attrs.get("failed_trial") == trial.number for other in done), \
                f"trial {trial.number} ({trial.params}) was not retried"
        figures["part_2_states"] = dict(state)

        # The dashboard's API, for the study.
        status, body = http_json(f"{DASHBOARD}/api/studies")
        assert status == 200, status
        study_id = next(summary["study_id"] for summary in body["study_summaries"] if summary["study_name"] == "base")
        status, detail = http_json(f"{DASHBOARD}/api/studies/{study_id}?after=0")
        assert status == 200, status
        assert len(detail["trials"]) == len(trials)

        # The report profile: its files land in ./storage/reports/<UTC timestamp>/ on the host.
        started = time.monotonic()
        result = stack("--profile", "report", "run", "--rm", "report", timeout=1200, PAIRSEARCH_ARCH="base")
        figures["report_s"] = round(time.monotonic() - started, 1)
        (report,) = list((stack.directory / "storage" / "reports").iterdir())
        written = sorted(path.name for path in report.iterdir())
        assert {"report.html", "summary.md", "results.csv"} <= set(written), written
        assert "base" in (report / "summary.md").read_text()
        assert len((report / "results.csv").read_text().splitlines()) == 1 + 2  # a header, 2 seeds
        figures["report_files"] = written
    finally:
        stack.down()
    assert left_behind() == {"containers": [], "volumes": [], "networks": []}
    # Anonymous volumes carry no project label: none may be new.
    assert set(docker("volume", "ls", "-q").stdout.split()) <= volumes_before
    figures["test_s"] = round(time.monotonic() - test_started, 1)
    record(**figures)
