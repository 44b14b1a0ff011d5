"""Which code runs, and where: the package version and its commit, read from ``.git`` in a
checkout, else from :data:`COMMIT_ENV` (set by the image build, whose context leaves ``.git``
out); and a worker process's :class:`ProcessRecord`, the one record a final job and a tuning
worker keep of where and with what they ran."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import os
import platform
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pairsearch import __version__

COMMIT_ENV = "PAIRSEARCH_GIT_COMMIT"
DIRTY_SUFFIX = "-dirty"
# What decides how a run trains: a change here, not yet committed, makes the commit "-dirty". The
# storage under storage/ is left out: a run writes it (and storage/results/pairsearch.db is tracked).
CODE_PATHS = ("pairsearch", "studies", "recipes", "pyproject.toml")
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
GIT_SECONDS = 10


def version_text() -> str:
    """``pairsearch 0.1.0`` and, where known, the commit it runs (``(commit a69019a)``)."""
    commit = running_commit()
    return f"pairsearch {__version__}" + (f" (commit {commit})" if commit else "")


@functools.cache
def running_commit() -> str | None:
    """The commit of the code this process runs (:func:`git_commit` of the package's root), once per process."""
    return git_commit(PACKAGE_ROOT)


def git_commit(root: Path) -> str | None:
    """The commit checked out at ``root``, with :data:`DIRTY_SUFFIX` where :data:`CODE_PATHS` have
    uncommitted changes; outside a checkout, ``$PAIRSEARCH_GIT_COMMIT`` as given; else None."""
    head = checked_out_commit(root)
    if head is None:
        return os.environ.get(COMMIT_ENV) or None
    return head + (DIRTY_SUFFIX if has_uncommitted_changes(root) else "")


def has_uncommitted_changes(root: Path) -> bool:
    """Whether git sees changes to tracked files under :data:`CODE_PATHS` at ``root`` (False where
    git cannot say: not installed, or no repository)."""
    try:
        status = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS],
            cwd=root, capture_output=True, text=True, timeout=GIT_SECONDS, check=False,
            env={**os.environ, "GIT_CEILING_DIRECTORIES": str(root.parent)},  # never a repository above root
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return status.returncode == 0 and bool(status.stdout.strip())


def checked_out_commit(root: Path) -> str | None:
    """The commit checked out at ``root``, read from ``.git`` (no subprocess); None outside a checkout."""
    git = root / ".git"
    if git.is_file():  # a worktree: "gitdir: PATH"
        git = Path(git.read_text(encoding="utf-8").removeprefix("gitdir:").strip())
    try:
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref: "):
            return head[:7]
        ref = head.removeprefix("ref: ")
        common = Path((git / "commondir").read_text(encoding="utf-8").strip()) if (git / "commondir").exists() else None
        for folder in filter(None, (git, common and (git / common))):
            if (folder / ref).is_file():
                return (folder / ref).read_text(encoding="utf-8").strip()[:7]
            packed = folder / "packed-refs"
            if packed.is_file():
                for line in packed.read_text(encoding="utf-8").splitlines():
                    if line.endswith(f" {ref}"):
                        return line[:7]
    except OSError:
        return None
    return None


@dataclass(frozen=True)
class ProcessRecord:
    """Where, when and with what a worker process ran: stored with each final job (its
    ``provenance``) and, once per worker process, on each tuning study it ran trials of
    (:func:`pairsearch.records.record_tuning_worker`).

    Attributes:
        device: The torch device (with the GPU's name on CUDA).
        gpu: The GPU's name, ``none`` off CUDA.
        cpu: The CPU's model.
        host: The host name.
        worker: Host and process id (one per worker process).
        threads: Torch threads.
        pairsearch: The package version.
        commit: The commit it ran (:func:`git_commit`; None: not known).
        optuna: Optuna's version.
        torch: Torch's version.
        python: Python's version.
        started: When it began, UTC (a job's training; a tuning worker's first trial of the study).
        finished: When it ended (a job's training; a tuning worker's latest trial of the study).
    """

    device: str
    gpu: str
    cpu: str
    host: str
    worker: str
    threads: int
    pairsearch: str
    commit: str | None
    optuna: str
    torch: str
    python: str
    started: str | None = None
    finished: str | None = None

    def to_attrs(self) -> dict:
        """The record as a user attr's JSON value."""
        return dataclasses.asdict(self)

    @classmethod
    def from_attrs(cls, value) -> ProcessRecord | None:
        """The record a user attr's value holds, or None where it is not a whole record."""
        names = [field.name for field in dataclasses.fields(cls)]
        if not isinstance(value, dict) or any(name not in value for name in names):
            return None
        return cls(**{name: value[name] for name in names})


def process_record(*, device) -> ProcessRecord:
    """Where and with what this process runs, training on the torch ``device`` (no dates yet)."""
    import optuna
    import torch

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "none"
    host = socket.gethostname()
    return ProcessRecord(
        device=str(device) if gpu == "none" else f"{device} ({gpu})", gpu=gpu, cpu=cpu_model(), host=host,
        worker=f"{host}:{os.getpid()}", threads=torch.get_num_threads(), pairsearch=__version__,
        commit=running_commit(), optuna=optuna.__version__, torch=torch.__version__,
        python=platform.python_version(),
    )


def utc_now() -> str:
    """The time now in UTC, to the second: ``2026-12-02T22:40:57Z``."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else what the platform says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
