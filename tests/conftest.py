"""Shared fixtures: real mnist5k data, tiny params, a throwaway Postgres database, the CLI."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

import optuna
import pytest

from pairsearch.records import TunedStudy, label_study

REPO = Path(__file__).resolve().parent.parent

# The signal tests press Ctrl-C on a command as if typed at a terminal. Run as a background job
# (a shell script's `cmd &`), the test process inherits SIGINT ignored and every command it starts
# would too, so Ctrl-C would reach only the workers (which set their own handlers): put it back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
PG_SERVER = os.environ.get("PAIRSEARCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TINY = {"channels": 4, "hidden": 8, "lr": 3e-3, "dropout": 0.0, "batchnorm": True, "batch_size": 100,
        "weight_decay": 0.0}
TINY_STUDY = """\
arch = "{arch}"
epochs = {epochs}
seed = 0

[params]
channels = {{ type = "int", low = 4, high = 8 }}
lr = {{ type = "float", low = 1e-3, high = 1e-2, log = true }}

[fixed]
hidden = 8
batch_size = 250

[sampler]
name = "random"
seed = 1

[pruner]
name = "none"
"""


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """A data dir with the mnist5k pool cache built once per test session."""
    from pairsearch.data.sources import load_pools

    directory = tmp_path_factory.mktemp("data")
    load_pools(source="mnist5k", data_dir=directory)
    return directory


@pytest.fixture(scope="session")
def pools(data_dir):
    from pairsearch.data.sources import load_pools

    return load_pools(source="mnist5k", data_dir=data_dir)


@pytest.fixture(scope="session")
def small_split(pools):
    """200 training pairs, 100 validation pairs: enough to learn a little, fast to train."""
    from pairsearch.data.pairs import tuning_split

    return tuning_split(pools=pools, seed=0, n_train=200, n_validation=100)


@pytest.fixture
def tiny_params():
    return dict(TINY)


# A recipe for tests: one epoch, training images shifted by up to 1 px.
SHIFTED_RECIPE = 'name = "shifted"\nepochs = 1\n\n[augment]\nmax_shift = 1\n'


def tiny_study_text(*, arch: str = "base", epochs: int = 2, fixed: dict | None = None) -> str:
    """TINY_STUDY for ``arch`` and ``epochs``; each param of ``fixed`` is searched no more but fixed
    at its value (``{"channels": 32}``: a slower trial of one size)."""
    text = TINY_STUDY.format(arch=arch, epochs=epochs)
    for name, value in (fixed or {}).items():
        text = re.sub(rf"(?m)^{name} = .*\n", "", text).replace("[fixed]\n", f"[fixed]\n{name} = {json.dumps(value)}\n")
    return text


def write_tiny_study(directory: Path, *, arch: str = "base", epochs: int = 2) -> Path:
    """A study file with a tiny search space so a trial takes well under a second."""
    path = directory / f"{arch}-tiny.toml"
    path.write_text(tiny_study_text(arch=arch, epochs=epochs))
    return path


def add_tuned_study(*, url: str, spec, pools, data_dir: Path, epochs: int = 1) -> optuna.Study:
    """The pairsearch study "base" of ``spec`` made in ``url`` as ``tune`` makes it, with two finished
    trials (channels 4 and 8, accuracy 0.61 and 0.66), each curve rising 0.05 an epoch to it."""
    from pairsearch import tuning_setup
    from pairsearch.data.pairs import DataChoice
    from pairsearch.storage.handle import StorageHandle
    from pairsearch.training.recipes import course_recipe

    request = tuning_setup.TuneRequest(spec=spec, study_name="base", storage=StorageHandle.resolve(url=url), trials=2,
                                       data=DataChoice(source=pools.source, data_dir=data_dir),
                                       recipe=course_recipe(epochs=spec.epochs))
    study = tuning_setup.prepare_study(request=request, fingerprint=pools.fingerprint)
    distributions = {"channels": optuna.distributions.IntDistribution(4, 8),
                     "lr": optuna.distributions.FloatDistribution(1e-3, 1e-2, log=True)}
    for channels, value in ((4, 0.61), (8, 0.66)):
        study.add_trial(optuna.trial.create_trial(
            params={"channels": channels, "lr": 3e-3}, distributions=distributions, value=value,
            intermediate_values={epoch: value - 0.05 * (epochs - epoch) for epoch in range(1, epochs + 1)},
            user_attrs={"stop_reason": "completed"},
        ))
    return study


@pytest.fixture
def tiny_study(tmp_path) -> Path:
    return write_tiny_study(tmp_path)


def cli_env(data_dir: Path, **extra: str) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PAIRSEARCH_")}
    env.update({"PAIRSEARCH_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", "COLUMNS": "200", **extra})
    return env


def run_cli(args: list[str], *, data_dir: Path, cwd: Path | None = None, timeout: float = 300, **env):
    """Run ``python -m pairsearch ARGS`` as a user would; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "pairsearch", *args], capture_output=True, text=True,
        env=cli_env(data_dir, **env), cwd=cwd or REPO, timeout=timeout, check=False,
    )


def postgres_or_skip() -> None:
    """Postgres tests fail under CI (the server is part of CI's machine) and skip elsewhere."""
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(PG_SERVER, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
    except Exception as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_SERVER} ({type(error).__name__})")


@pytest.fixture
def pg_url():
    """A fresh Postgres database for one test, dropped afterwards."""
    import sqlalchemy

    postgres_or_skip()
    name = f"pairsearch_test_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    yield PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def storage_digest(path: Path) -> str:
    """sha256 over a storage file's raw bytes, its SQLite side files and any lock files beside it.

    "Unchanged" means byte for byte: a journal-mode switch, a rewritten header, a ``-wal``/``-shm``
    or ``-journal`` file left behind, or a new ``.lock`` file all change the digest (an SQL dump
    would see none of them).
    """
    digest = hashlib.sha256(path.read_bytes())
    # Not the -shm file: SQLite's shared-memory index of a live WAL database, which every reader
    # of it updates (read marks) and which holds no data (sqlite.org/walformat.html).
    beside = sorted(p for p in path.parent.iterdir()
                    if p.name.startswith(path.name) and p != path and not p.name.endswith("-shm"))
    for side in beside:
        digest.update(side.name.encode())
        digest.update(side.read_bytes() if side.is_file() else b"")
    return digest.hexdigest()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# A few seconds a trial on one core: long enough for a signal or a kill to land mid-trial.
SECONDS_STUDY = """\
arch = "base"
epochs = 4
seed = 0

[params]
channels = { type = "int", low = 16, high = 32 }
lr = { type = "float", low = 1e-3, high = 1e-2, log = true }

[fixed]
hidden = 64
batch_size = 64

[sampler]
name = "random"
seed = 3

[pruner]
name = "none"
"""


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """Commands and workers run in this process set torch's thread count (``--threads``, one
    per worker); every test gets back the count it started with."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def main_in_process(args: list[str], *, capsys) -> tuple[int, str, str]:
    """``pairsearch ARGS`` through ``pairsearch.__main__.main`` in this process: (exit code, stdout, stderr).

    A subprocess per case would cost ~2 s of ``import torch`` each; ``main`` is exactly what
    the console script runs (the torch thread count it sets is restored after the test).
    """
    from pairsearch.__main__ import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(args)
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


def group_alive(pgid: int) -> list[int]:
    """Processes of the group that still run (zombies waiting to be reaped have exited)."""
    listed = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True, check=False)
    alive = []
    for pid in map(int, listed.stdout.split()):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def start_cli(args: list[str], *, data_dir: Path, **env: str) -> subprocess.Popen:
    """``python -m pairsearch ARGS`` in a session of its own (its process group is ours to signal)."""
    return subprocess.Popen(
        [sys.executable, "-m", "pairsearch", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=cli_env(data_dir, **env), cwd=REPO, start_new_session=True,
    )


def stop_with_signal(process: subprocess.Popen, signum: int, *, group: bool = True, timeout: float = 60) -> tuple[str, float]:
    """Send ``signum`` to ``process``'s group (``group``, as a terminal's Ctrl-C) or to it alone (as
    ``kill PID``), and wait until the command and every worker have exited: its stderr and the
    seconds from the signal until then."""
    (os.killpg if group else os.kill)(process.pid, signum)
    signalled = time.monotonic()
    _, stderr = process.communicate(timeout=timeout)
    wait_for(lambda: not group_alive(process.pid), timeout=timeout, what="every worker to exit")
    return stderr, time.monotonic() - signalled


def stop_group(process: subprocess.Popen) -> None:
    """Leave nothing behind whatever a test saw: SIGKILL the session's process group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)


def wait_for(condition, *, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    """Poll ``condition`` until it holds; fail when ``process`` ends first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the command ended (exit {process.returncode}) before {what}:\n"
                                 f"{process.stderr.read() if process.stderr else ''}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def worker_pids(parent: int) -> list[int]:
    """The multiprocessing workers of ``parent`` (not its resource tracker)."""
    listed = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True, check=False)
    workers = []
    for pid in map(int, listed.stdout.split()):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.append(pid)
        except FileNotFoundError:
            continue
    return workers


def quadratic_study(*, n_trials: int, name: str | None = None) -> optuna.Study:
    """An in-memory tuning study of ``n_trials`` random trials over lr and channels, best at lr 0.01,
    its objective named "validation accuracy" as ``tune`` names it."""
    study = optuna.create_study(study_name=name, direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["validation accuracy"])
    study.optimize(
        lambda trial: (
            0.9
            - (trial.suggest_float("lr", 1e-4, 1e-1, log=True) - 0.01) ** 2
            - 0.01 * (trial.suggest_int("channels", 8, 64) / 64 - 0.5) ** 2
        ),
        n_trials=n_trials,
    )
    return study


def learning_curves(*, archs: list[str], seeds, epochs, rng):
    """A frame of learning curves as the final jobs record them, one row an epoch of each arch and
    seed: test accuracy rising 0.08 an epoch and 0.03 an arch (noise from ``rng``), digit accuracy
    only for an arch that predicts digits."""
    import numpy as np
    import pandas as pd

    from pairsearch.training.models import get_arch

    return pd.DataFrame([
        {
            "arch": arch,
            "seed": seed,
            "epoch": epoch,
            "train_loss": 1.0 / epoch,
            "train_accuracy": 0.7 + 0.08 * epoch,
            "test_accuracy": 0.6 + 0.08 * epoch + 0.03 * index + 0.01 * rng.standard_normal(),
            "digit_accuracy": 0.9 if get_arch(arch).predicts_digits else np.nan,
        }
        for index, arch in enumerate(archs)
        for seed in seeds
        for epoch in epochs
    ])


def label_tuned(study: optuna.Study, *, arch: str, spec: dict | None = None,
                recipe_record: dict | None = None) -> optuna.Study:
    """Write the record ``tune`` writes on a tuning study (what the report reads of it)."""
    label_study(study, record=TunedStudy(
        arch=arch, spec=json.dumps(spec or {"arch": arch}), spec_hash="test", epochs=3, data_source="mnist5k",
        data_fingerprint="abc123", versions={"pairsearch": "test"}, recipe_record=recipe_record))
    return study


# The one-search run published on 2026-11-30 (docs/results until the run with several searches per
# arch replaced it): its storage and each recipe's results.csv, kept as a real storage with known quirks.
ONE_SEARCH_RUN = REPO / "tests" / "data" / "one-search-2026-11-30"


def copy_one_search_run(directory: Path, *, seeds_moved: int = 0) -> Path:
    """A copy of the one-search run's storage (7 archs, one search each, two recipes, final jobs at
    seeds 0…14 from before the final seeds moved to 1000…; digits' course seeds 4 and 5 failed twice
    each, a job and its retry, then ran again) with the jobs at seeds below ``seeds_moved`` moved to
    seed 1000 + seed: jobs that a report of today counts."""
    import gzip
    import sqlite3

    db = directory / "published.db"
    db.write_bytes(gzip.decompress((ONE_SEARCH_RUN / "pairsearch.db.gz").read_bytes()))
    connection = sqlite3.connect(db)
    with connection:
        connection.execute("UPDATE trial_user_attributes SET value_json = CAST(value_json AS INTEGER) + 1000 "
                           "WHERE key = 'seed' AND CAST(value_json AS INTEGER) < ?", (seeds_moved,))
    connection.close()
    return db
