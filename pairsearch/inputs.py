"""The boundary: every value a user gives is checked here, before any stage starts its work.

The CLI turns raw option text into the typed values the stages take with these functions;
each raises :class:`~pairsearch.errors.PairsearchError` with one line naming the option.
Heavy modules are imported inside the functions so ``--help`` stays instant.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from pairsearch.errors import PairsearchError
from pairsearch.searches import FINAL_SUFFIX, SEARCH_SUFFIX, split_search_name

if TYPE_CHECKING:
    from pairsearch.studyspec import StudySpec
    from pairsearch.training.recipes import Recipe

MAX_WORKERS = 512
TRAINING_DEVICES = ("cpu", "cuda", "mps", "xpu")  # device types that hold data and run kernels
MAX_STUDY_NAME = 512  # Optuna's RDB storages keep a study name in a VARCHAR(512)


def parse_workers(raw: str) -> int:
    """``--workers``: ``auto`` (one per usable core) or a whole number from 1 to 512."""
    import os

    if raw == "auto":
        return len(os.sched_getaffinity(0))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_WORKERS:
        raise PairsearchError(f"--workers must be auto or a whole number from 1 to {MAX_WORKERS}, got {raw!r}")
    return int(raw)


def check_device(raw: str) -> str:
    """``--device``: ``auto`` → ``cuda`` when present, else ``cpu``; others must work here.

    A device is tried by placing a small tensor on it: torch knows names (``mps``, ``xpu``,
    ``cuda:7``) that this machine may not have.
    """
    import torch

    from pairsearch.training.loop import resolve_device

    device = resolve_device(raw)
    if device.type not in TRAINING_DEVICES:  # e.g. meta: tensors without data, nothing trains there
        raise PairsearchError(f"--device {raw!r} cannot train a network; use auto, cpu or cuda")
    try:
        torch.zeros(1, device=device)
    except (RuntimeError, AssertionError, AttributeError):
        raise PairsearchError(f"--device {raw!r} is not available on this machine; use auto or cpu") from None
    return str(device)


def study_name(raw: str | None, *, default: str) -> str:
    """``--study``: a name that prints on one line and fits every storage (default: the arch)."""
    name = default if raw is None else raw
    if not name.strip():
        raise PairsearchError("--study must not be empty (leave it out to use the arch name)")
    if not name.isprintable():
        raise PairsearchError(f"--study must be printable text on one line, got {name!r}"[:200])
    if len(name) > MAX_STUDY_NAME - len(".search100.final"):
        raise PairsearchError(f"--study must be at most {MAX_STUDY_NAME - len('.search100.final')} characters, "
                              f"got {len(name)}")
    if name.endswith(FINAL_SUFFIX) or split_search_name(name)[1]:
        raise PairsearchError(f"--study must not end in {FINAL_SUFFIX} or {SEARCH_SUFFIX}N: pairsearch names its "
                              f"final jobs' and repeated searches' studies so (use --repeats), got {name!r}"[:300])
    return name


def choose_data(*, dataset: str, data_dir: Path):
    """``--dataset`` / ``--data-dir`` → a :class:`~pairsearch.data.DataChoice`."""
    from pairsearch.data.pairs import DataChoice

    return DataChoice.resolve(dataset=dataset, data_dir=data_dir)


def storage_handle(*, url: str | None):
    """``--storage`` (else ``$PAIRSEARCH_STORAGE``, else the local SQLite file) → a handle."""
    from pairsearch.storage.handle import StorageHandle

    return StorageHandle.resolve(url=url)


def tuning_spec_and_recipe(*, arch: str, study_file: Path | None, epochs: int | None, pruner: str | None,
                           recipe_name: str | None) -> tuple[StudySpec, Recipe]:
    """``tune``'s study file with its overrides, and the recipe every trial trains with.

    The epochs per trial are decided here, once: ``--epochs``, else ``--recipe``'s, else the
    study file's; the recipe (``--recipe``'s, else the course's) trains them.

    Args:
        arch: ``--arch``.
        study_file: ``--study-file`` (None: ``studies/ARCH.toml``).
        epochs: ``--epochs`` (None: the recipe's, else the file's).
        pruner: ``--pruner`` (None: the file's).
        recipe_name: ``--recipe`` (None: the course's training).
    """
    from pairsearch import studyspec
    from pairsearch.training.recipes import course_recipe

    chosen = chosen_recipe(name_or_path=recipe_name)
    path = study_file or studyspec.default_study_file(arch=arch)
    epochs = epochs or (chosen.epochs if chosen is not None else None)
    spec = studyspec.load_study_file(path=path, arch=arch).with_overrides(epochs=epochs, pruner=pruner)
    recipe = course_recipe(epochs=spec.epochs) if chosen is None else dataclasses.replace(chosen, epochs=spec.epochs)
    return spec, recipe


def run_params(*, arch: str, assignments: list[str]) -> dict:
    """``--set name=value`` options → the arch's full, checked params."""
    from pairsearch.training import models, params

    spec = models.get_arch(arch)
    overrides = dict(params.parse_assignment(text) for text in assignments)
    spec.check_param_names(overrides)
    parsed = {name: params.parse_value(name=name, raw=raw) for name, raw in overrides.items()}
    return models.resolve_params(arch=arch, overrides=parsed)


def chosen_recipe(*, name_or_path: str | None) -> Recipe | None:
    """``--recipe NAME|PATH`` → the validated :class:`~pairsearch.training.recipes.Recipe` it names
    (None when not given: each command says what trains then)."""
    from pairsearch.training import recipes

    if name_or_path is not None and not name_or_path.strip():
        raise PairsearchError("--recipe must name a recipe (course, strong) or a TOML file, got an empty text")
    return None if name_or_path is None else recipes.load_recipe(name_or_path=name_or_path)


def report_dir(raw: str | None) -> Path | None:
    """``--out``: a folder for the report (None: the default under storage/reports)."""
    if raw is not None and not raw.strip():
        raise PairsearchError("--out must name a folder, got an empty text (leave it out for storage/reports/<time>/)")
    return None if raw is None else Path(raw)
