"""Security: passwords stay secret, the dashboard is local by default, nothing untrusted runs.

- No password (or a URL carrying one) in any output, log record, warning, exception message,
  report file or the study storage itself: checked by grepping everything captured for the
  password, on failing commands in this process and on a whole tune → status → final-report
  run against a password-protected throwaway PostgreSQL server (slow).
- ``pairsearch dashboard`` and ``storage-proxy`` bind 127.0.0.1 unless ``--host`` says otherwise.
- Nothing unpickles untrusted data: the only ``torch.load`` (the pool cache) passes
  ``weights_only=True``, and a poisoned cache file is rebuilt, never executed; there are no
  model checkpoints.
- Study files are TOML data: parsed with ``tomllib``, never evaluated.
"""

from __future__ import annotations

import ast
import logging
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
from conftest import REPO, cli_env, main_in_process, write_tiny_study
from pg_cluster import free_port, running_cluster

from pairsearch import final, tuning, tuning_setup
from pairsearch.data.pairs import DataChoice
from pairsearch.errors import PairsearchError
from pairsearch.storage.handle import StorageHandle
from pairsearch.studyspec import load_study_file
from pairsearch.training.recipes import course_recipe

PACKAGE = REPO / "pairsearch"
PASSWORD = "Xy-S3cret-9f1c"


# --- passwords --------------------------------------------------------------------------------


@pytest.fixture
def cli_main(data_dir, monkeypatch, capsys):
    """``pairsearch ARGS`` in this process; a command that got as far as starting workers fails the test."""
    for key in [key for key in os.environ if key.startswith("PAIRSEARCH_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PAIRSEARCH_DATA_DIR", str(data_dir))
    for stage in (tuning, final):
        monkeypatch.setattr(stage, "run_workers", lambda **kwargs: pytest.fail("workers started"))

    def call(args: list[str]) -> tuple[int, str, str]:
        return main_in_process(args, capsys=capsys)

    return call


@pytest.fixture(scope="module")
def cluster():
    with running_cluster() as running:
        yield running


def failing_urls(cluster) -> dict[str, str]:
    """Storage URLs that carry a password and fail in every way a storage can."""
    return {
        "unreachable": f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:1/x",
        "wrong password": cluster.url(password=PASSWORD),
        "no such database": cluster.url("pairsearch_missing"),  # the right password, kept secret too
        "password in the query string": f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/"
                                        f"pairsearch_missing?password={cluster.password}",
        "unsupported scheme": f"mysql+pymysql://root:{PASSWORD}@127.0.0.1/x",
    }


@pytest.mark.parametrize("command", ["status", "tune", "final-report", "final-run", "dashboard", "storage-proxy"])
def test_no_password_in_output_logs_or_warnings_of_a_failing_command(command, cluster, cli_main, tmp_path, caplog):
    study_file = write_tiny_study(tmp_path)
    extra = {
        "status": [], "final-run": ["--workers", "1"], "final-report": ["--workers", "1"],
        "tune": ["--arch", "base", "--trials", "2", "--study-file", str(study_file), "--workers", "1"],
        "dashboard": ["--port", str(free_port())], "storage-proxy": ["--port", str(free_port())],
    }[command]
    caplog.set_level(logging.DEBUG)
    for name, url in failing_urls(cluster).items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code, stdout, stderr = cli_main([command, "--storage", url, *extra])
        seen = stdout + stderr + caplog.text + "".join(str(w.message) for w in caught)
        assert code == 2, f"{name}: exit {code}\n{stderr}"
        assert PASSWORD not in seen, f"{name}: the password was printed or logged:\n{seen}"
        assert cluster.password not in seen, name
        assert "Traceback" not in stderr, stderr
        caplog.clear()


def test_no_password_in_exception_messages_or_their_chain(cluster):
    for name, url in failing_urls(cluster).items():
        with pytest.raises(PairsearchError) as caught:
            StorageHandle.resolve(url=url).open()
        error: BaseException | None = caught.value
        while error is not None:  # what a traceback would show if anything printed one
            for secret in (PASSWORD, cluster.password):
                assert secret not in str(error) and secret not in repr(error), name
            error = error.__cause__ or error.__context__


@pytest.mark.parametrize("option", ["--recipe", "--study-file"])
def test_a_url_given_as_a_file_keeps_its_password_hidden(tmp_path, option, capsys):
    """A path shows a URL with its '//' collapsed ('postgresql:/u:…@h'): still a URL to hide."""
    url = f"postgresql://u:{PASSWORD}@127.0.0.1:1/x"
    code, _, err = main_in_process(["tune", "--arch", "base", "--trials", "1", "--storage",
                                    f"sqlite:///{tmp_path / 'p.db'}", option, url], capsys=capsys)

    kind = "recipe file" if option == "--recipe" else "study file"
    assert (code, err.strip()) == (2, f"pairsearch: error: postgresql:/u:***@127.0.0.1:1/x: {kind} not found")
    assert list(tmp_path.iterdir()) == []


def test_a_status_line_echoing_a_url_keeps_its_password_hidden(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the data dir below is made (as a folder) here

    code, _, err = main_in_process(["data", "info", "--dataset", "auto", "--data-dir",
                                    f"postgresql://u:{PASSWORD}@h/x"], capsys=capsys)

    assert code == 0
    assert "full MNIST files not found under postgresql:/u:***@h/x/MNIST/raw" in err and PASSWORD not in err


@pytest.mark.slow
def test_no_password_anywhere_after_a_whole_run(tmp_path, data_dir):
    """tune → status → final-report on a password-protected server: grep everything for it."""
    study_file = write_tiny_study(tmp_path, epochs=1)
    out = tmp_path / "report"
    with running_cluster() as server:
        url = server.create_database()
        secret = server.password
        env = cli_env(data_dir, PAIRSEARCH_STORAGE=url)  # from the environment, as compose passes it
        runs = []
        for args in (
            ["tune", "--arch", "base", "--study-file", str(study_file), "--trials", "3", "--workers", "2", "--quiet"],
            ["status"],
            ["final-report", "--seeds", "2", "--workers", "1", "--out", str(out), "--quiet"],
        ):
            result = subprocess.run([sys.executable, "-m", "pairsearch", *args], capture_output=True, text=True,
                                    check=False, env=env, cwd=REPO, timeout=600)
            assert result.returncode == 0, result.stderr
            runs.append(result.stdout + result.stderr)
        dump = subprocess.run(
            ["pg_dump", "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres", url.rsplit("/", 1)[1]],
            capture_output=True, text=True, check=False, env={**os.environ, "PGPASSWORD": secret}, timeout=120,
        )
        assert dump.returncode == 0, dump.stderr
    report_files = sorted(path for path in out.rglob("*") if path.is_file())
    assert {path.name for path in report_files} >= {"report.html", "results.csv", "summary.md"}
    for text in runs:
        assert secret not in text
    for path in report_files:
        assert secret.encode() not in path.read_bytes(), path
    assert secret not in dump.stdout  # the study's own attrs and trials
    assert "validation accuracy" in dump.stdout and "spec_hash" in dump.stdout  # it is the study's data
    assert "postgres:***@127.0.0.1" in (out / "report.html").read_text()  # the report names it redacted


# --- the dashboard is local unless asked ----------------------------------------------------------


@pytest.fixture
def tiny_db(tmp_path, pools) -> str:
    spec = load_study_file(path=write_tiny_study(tmp_path))
    url = f"sqlite:///{tmp_path / 'p.db'}"
    job = tuning.TuneRequest(spec=spec, study_name="base", storage=StorageHandle.resolve(url=url), trials=2, data=DataChoice(source=pools.source, data_dir=tmp_path), recipe=course_recipe(epochs=spec.epochs))
    tuning_setup.prepare_study(request=job, fingerprint=pools.fingerprint)
    return url


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket in LISTEN state on ``port`` (from /proc/net/tcp{,6})."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


# 127.0.0.1, as IPv4 or IPv4-mapped IPv6 (gRPC's way), nothing else (no 0.0.0.0, no ::).
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F"}
EVERY_ADDRESS = {"00000000", "0" * 32}  # 0.0.0.0, or :: (which takes IPv4 too)


@pytest.mark.parametrize("command", ["dashboard", "storage-proxy"])
@pytest.mark.parametrize("host_args", [[], ["--host", "0.0.0.0"]], ids=["default", "all"])
def test_a_real_server_listens_on_loopback_unless_told(command, host_args, tiny_db, data_dir):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "pairsearch", command, "--storage", tiny_db, "--port",
                                str(port), *host_args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=cli_env(data_dir), cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while not listening_addresses(port):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, f"{command} never listened"
            time.sleep(0.2)
        addresses = listening_addresses(port)
    finally:
        process.terminate()
        stdout, _ = process.communicate(timeout=20)
    assert addresses and addresses <= (EVERY_ADDRESS if host_args else LOOPBACK), addresses
    if command == "dashboard":
        assert f"http://127.0.0.1:{port}" in stdout  # the address a browser on this machine opens


# --- nothing untrusted is unpickled or executed ---------------------------------------------------


def package_calls() -> list[tuple[Path, ast.Call]]:
    calls = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call):
                calls.append((path, node))
    return calls


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return "?"


def test_no_unsafe_deserialisation_or_code_execution_in_the_package():
    unsafe = {"eval", "exec", "compile", "pickle.load", "pickle.loads", "marshal.loads", "shelve.open",
              "yaml.load", "yaml.unsafe_load", "dill.load", "cloudpickle.load", "__import__",
              "importlib.import_module", "runpy.run_path", "subprocess.run", "os.system"}
    torch_loads = []
    for path, call in package_calls():
        name = dotted(call.func)
        if (path.name, name) == ("version.py", "subprocess.run"):  # the dirty check: git, fixed words, no shell
            assert _runs_git_with_fixed_words(call), f"{path.name}:{call.lineno}"
            continue
        assert name not in unsafe, f"{path.name}:{call.lineno}: {name}"
        if name.endswith(("np.load", "numpy.load")):
            flags = {kw.arg: kw.value for kw in call.keywords}
            assert "allow_pickle" not in flags, f"{path.name}:{call.lineno}"
        if name == "torch.load":
            flags = {kw.arg: kw.value for kw in call.keywords}
            assert isinstance(flags.get("weights_only"), ast.Constant) and flags["weights_only"].value is True, \
                f"{path.name}:{call.lineno}: torch.load without weights_only=True"
            torch_loads.append(f"{path.name}:{call.lineno}")
    assert torch_loads == ["sources.py:" + torch_loads[0].split(":")[1]], torch_loads  # the pool cache only
    source = "\n".join(path.read_text() for path in PACKAGE.rglob("*.py"))
    assert "import pickle" not in source and "from pickle" not in source


def _runs_git_with_fixed_words(call: ast.Call) -> bool:
    """A call whose argv is a literal list starting with "git" (its other words literal or unpacked
    module constants) and which never asks for a shell."""
    argv = call.args[0] if call.args else None
    shell = {kw.arg: kw.value for kw in call.keywords}.get("shell")
    return (isinstance(argv, ast.List) and isinstance(argv.elts[0], ast.Constant) and argv.elts[0].value == "git"
            and all(isinstance(word, (ast.Constant, ast.Starred)) for word in argv.elts)
            and (shell is None or (isinstance(shell, ast.Constant) and shell.value is False)))


def test_no_model_checkpoints_are_written_or_read():
    """torch.save only writes the pool cache (tensors); no state_dict is saved or loaded."""
    saves = [f"{path.name}:{call.lineno}" for path, call in package_calls() if dotted(call.func) == "torch.save"]
    assert all(place.startswith("sources.py:") for place in saves), saves
    source = "\n".join(path.read_text() for path in PACKAGE.rglob("*.py"))
    assert "load_state_dict" not in source


class Poison:
    """Unpickling this object opens (creates) a file: it stands for any code a pickle can run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_poisoned_pool_cache_is_rebuilt_not_executed(tmp_path, data_dir):
    from pairsearch.data.sources import load_pools, pools_cache_path

    live = tmp_path / "live.pt"
    torch.save({"pools": Poison(tmp_path / "payload-is-live")}, live)
    torch.load(live, weights_only=False)  # the payload is real: a full unpickle runs it …
    assert (tmp_path / "payload-is-live").exists()

    marker = tmp_path / "pickle-code-ran"
    cache = pools_cache_path(source="mnist5k", data_dir=tmp_path / "data")
    cache.parent.mkdir(parents=True)
    torch.save({"version": "x", "pools": Poison(marker)}, cache)
    pools = load_pools(source="mnist5k", data_dir=tmp_path / "data")  # … pairsearch's load does not
    assert not marker.exists(), "the poisoned cache was unpickled"
    assert pools.fingerprint == load_pools(source="mnist5k", data_dir=data_dir).fingerprint  # rebuilt
    assert isinstance(torch.load(cache, weights_only=True), dict)  # the new cache holds plain data


def test_study_files_are_parsed_as_data_never_executed(tmp_path):
    marker = tmp_path / "study-code-ran"
    payload = f"__import__('os').system('touch {marker}')"
    hostile = write_tiny_study(tmp_path).read_text().replace(
        'arch = "base"', f'arch = "base"\ndescription = "{payload}"'
    )
    path = tmp_path / "hostile.toml"
    path.write_text(hostile)
    spec = load_study_file(path=path, arch="base")  # a string is just a string
    assert spec.arch == "base" and not marker.exists()
    as_arch = tmp_path / "arch.toml"
    as_arch.write_text(hostile.replace('arch = "base"', f'arch = "{payload}"', 1))
    with pytest.raises(PairsearchError):
        load_study_file(path=as_arch)
    assert not marker.exists()
    reader = (PACKAGE / "tomlfile.py").read_text()
    assert "tomllib.loads" in reader
    for module in ("tomlfile.py", "studyspec.py"):
        source = (PACKAGE / module).read_text()
        for forbidden in ("eval(", "exec(", "import_module", "runpy"):
            assert forbidden not in source
