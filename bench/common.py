"""What every benchmark shares: the run context, machine facts, study files, the CLI, trial times.

Nothing heavy is imported at module level: spawned worker processes import this module.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "bench"
RESULTS_DIR = BENCH_DIR / "results"
RESULTS_MD = BENCH_DIR / "RESULTS.md"
DEFAULT_DATA_DIR = REPO / "storage" / "data"


class BenchError(Exception):
    """A benchmark could not be measured (a command failed, a service is missing)."""


@dataclass
class Context:
    """One bench run: quick or full, a scratch folder, the data every figure uses."""

    quick: bool
    work: Path  # scratch folder for storages and study files (removed at the end)
    data_dir: Path
    source: str  # the data source every figure uses: mnist5k, or mnist where its files exist
    cores: int = field(default_factory=lambda: len(os.sched_getaffinity(0)))

    def path(self, name: str) -> Path:
        return self.work / name

    def sqlite_url(self, name: str) -> str:
        return f"sqlite:///{self.work / name}.db"


def prepare_data(*, data_dir: Path) -> str:
    """Resolve ``auto`` to a source and build its pool cache once (not timed by any figure)."""
    from pairsearch.data.sources import load_pools, resolve_source

    source = resolve_source(dataset="auto", data_dir=data_dir)
    load_pools(source=source, data_dir=data_dir)
    return source


# --- machine facts ---------------------------------------------------------------------------


def machine_facts() -> dict:
    """Cores, CPU model, versions, torch threads and load: what a reader needs to compare rows."""
    import torch

    import pairsearch

    try:
        import optuna
    except ImportError:  # a bare GPU machine running only the GPU figure
        optuna = None
    return {
        "cores": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "optuna": optuna.__version__ if optuna else None,
        "pairsearch": pairsearch.__version__,
        "torch_threads_per_worker": 1,  # pairsearch's --threads default, used by every figure
        "torch_default_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "commit": git_commit(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
            timeout=10, check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
            text=True, timeout=10, check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{'+dirty' if dirty else ''}" if head else "unknown"


# --- study files -----------------------------------------------------------------------------


def run_json_child(*, module: str, flag: str, request: dict, what: str) -> dict:
    """``python -m MODULE FLAG REQUEST_JSON`` in a fresh process; its last stdout line as JSON."""
    completed = subprocess.run(
        [sys.executable, "-m", module, flag, json.dumps(request)], cwd=REPO,
        capture_output=True, text=True, timeout=3600, check=False,
    )
    if completed.returncode != 0:
        raise BenchError(f"{what} failed: {completed.stderr.strip().splitlines()[-1:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def toml_value(value: object) -> str:
    """A Python value as a TOML value (inline tables and arrays; enough for study files)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def write_study_file(path: Path, document: dict) -> Path:
    """Write a study document (as :mod:`tomllib` reads it) back as a study TOML file."""
    scalars = [f"{key} = {toml_value(value)}" for key, value in document.items() if not isinstance(value, dict)]
    tables = []
    for key, table in document.items():
        if isinstance(table, dict):
            tables.append(f"\n[{key}]")
            tables.extend(f"{name} = {toml_value(value)}" for name, value in table.items())
    path.write_text("\n".join(scalars + tables) + "\n", encoding="utf-8")
    return path


def fixed_study(*, arch: str, params: dict, epochs: int, pruner: dict | None = None) -> dict:
    """A study document that always trains one config: one categorical choice per param.

    The suggest calls (one storage write each) stay part of every trial, as in a real search.
    """
    from pairsearch.training.models import resolve_params

    resolved = resolve_params(arch=arch, overrides=params)
    return {
        "arch": arch, "epochs": epochs, "seed": 0,
        "params": {name: {"type": "categorical", "choices": [value]} for name, value in resolved.items()},
        "sampler": {"name": "random", "seed": 0},
        "pruner": pruner or {"name": "none"},
    }


def sep_aux_config(*, channels: int, hidden: int) -> dict:
    """The fixed sep_aux config that the timing figures train, at a size: batch 64, lr 2e-3,
    dropout 0.2, batch norm, aux weight 1."""
    return {"channels": channels, "hidden": hidden, "batch_size": 64, "lr": 2e-3, "dropout": 0.2,
            "batchnorm": True, "weight_decay": 0.0, "aux_weight": 1.0}


def shipped_study(arch: str) -> dict:
    """The study document shipped in ``studies/ARCH.toml``."""
    import tomllib

    return tomllib.loads((REPO / "studies" / f"{arch}.toml").read_text(encoding="utf-8"))


# --- running pairsearch ----------------------------------------------------------------------


def cli_env(ctx: Context) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PAIRSEARCH_")}
    env.update(PAIRSEARCH_DATA_DIR=str(ctx.data_dir), PYTHONUNBUFFERED="1", COLUMNS="160")
    return env


def cli_command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "pairsearch", *args]


def start_cli(args: list[str], *, ctx: Context) -> subprocess.Popen:
    """Start ``python -m pairsearch ARGS`` as a user would (output captured)."""
    return subprocess.Popen(
        cli_command(args), cwd=REPO, env=cli_env(ctx), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )


def finish_cli(process: subprocess.Popen, *, args: list[str], timeout: float = 3600) -> str:
    """Wait for a started CLI command; raise with its last stderr lines if it failed."""
    stdout, stderr = process.communicate(timeout=timeout)
    if process.returncode != 0:
        tail = " | ".join(stderr.strip().splitlines()[-3:])
        raise BenchError(f"pairsearch {' '.join(args[:1])} exited {process.returncode}: {tail}")
    return stdout


def run_cli(args: list[str], *, ctx: Context, timeout: float = 3600) -> tuple[str, float]:
    """Run ``python -m pairsearch ARGS``; returns (stdout, wall seconds)."""
    started = time.perf_counter()
    stdout = finish_cli(start_cli(args, ctx=ctx), args=args, timeout=timeout)
    return stdout, time.perf_counter() - started


def tune_args(*, ctx: Context, study_file: Path, study: str, url: str, trials: int, workers: int,
              extra: list[str] | None = None) -> list[str]:
    from pairsearch.studyspec import load_study_file

    arch = load_study_file(path=study_file).arch
    return [
        "tune", "--arch", arch, "--study-file", str(study_file), "--study", study, "--storage", url,
        "--trials", str(trials), "--workers", str(workers), "--dataset", ctx.source,
        "--data-dir", str(ctx.data_dir), "--quiet", *(extra or []),
    ]


# --- reading trials back ---------------------------------------------------------------------


def load_trials(*, url: str, study: str) -> list:
    """Every trial of ``study`` in ``url``, ordered by number."""
    import optuna

    from pairsearch.storage.handle import StorageHandle

    loaded = optuna.load_study(study_name=study, storage=StorageHandle.resolve(url=url).open())
    return sorted(loaded.get_trials(deepcopy=False), key=lambda trial: trial.number)


def finished(trials: list) -> list:
    from optuna.trial import TrialState

    return [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


def span_seconds(trials: list) -> float:
    """From the first trial's start to the last trial's end (process start-up excluded)."""
    starts = [t.datetime_start.timestamp() for t in trials if t.datetime_start]
    ends = [t.datetime_complete.timestamp() for t in trials if t.datetime_complete]
    if not starts or not ends:
        raise BenchError("no finished trials to time")
    return max(ends) - min(starts)


def trial_seconds(trial) -> float:
    return trial.datetime_complete.timestamp() - trial.datetime_start.timestamp()


# --- small numeric helpers -------------------------------------------------------------------


def median(values) -> float:
    return statistics.median(values)


def rounded(values, digits: int = 4) -> list[float]:
    return [round(value, digits) for value in values]


def check(value: float | None, *, at_most: float | None = None, at_least: float | None = None) -> bool | None:
    """Whether ``value`` meets its target (None when it was not measured)."""
    if value is None:
        return None
    if at_most is not None and value > at_most:
        return False
    return not (at_least is not None and value < at_least)
