"""The final stage: each tuned study's best configuration retrained over paired seeds, as jobs.

:func:`final_report` turns each study's best params into seeded jobs (:mod:`pairsearch.jobs`),
runs them on the worker runtime (:mod:`pairsearch.workers.runtime`) with the same lock, heartbeat and
retry as tuning, and writes the report. Any number of workers on any host can run the jobs
(:func:`run_final_jobs`); a rerun only trains what is missing. The jobs train under one training
recipe (:mod:`pairsearch.training.recipes`): by default the one the studies were tuned with (the course's
unless ``tune --recipe`` said otherwise), else ``--recipe``'s, whose report then also answers
under the studies' own recipe where its jobs ran. A report never mixes recipes across archs.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import optuna

from pairsearch.errors import PairsearchError
from pairsearch.final_notes import write_dashboard_notes
from pairsearch.final_plans import (
    check_local_data,
    check_seeds_apart,
    ensure_jobs,
    make_plan,
    missing_seeds,
    searches_of,
)
from pairsearch.jobs import FinalPlan, job_state
from pairsearch.report.results import (
    check_writable,
    default_report_dir,
    job_counts,
    write_final_report,
)
from pairsearch.searches import default_seeds_per_search
from pairsearch.storage.failures import NoOptunaSchema
from pairsearch.storage.handle import StorageHandle
from pairsearch.training.recipes import Recipe
from pairsearch.workers.final_worker import JobWorker, final_study_names, run_job_worker
from pairsearch.workers.supervisor import Display, WorkerExits, run_workers


@dataclass(frozen=True)
class FinalRequest:
    """A checked ``final-report`` command.

    Attributes:
        storage: Where the tuned studies and the jobs live.
        data_dir: Where the MNIST files and pool caches are.
        studies: The tuned studies (groups of searches) to report (empty: every tuned study in the storage).
        seeds: Final seeds per search, the same for every study (None: 15 runs per arch spread
            over its searches, at least 3 a search: :func:`pairsearch.searches.default_seeds_per_search`).
        epochs: Final epochs (None: the recipe's; without ``--recipe``, each study's tuning epochs).
        recipe: The training recipe (None: the one the studies were tuned with).
        out_dir: The report folder (None: ``storage/reports/<UTC timestamp>/``).
        workers: Local worker processes.
        device: A device torch accepted.
        threads: Torch threads per worker process.
    """

    storage: StorageHandle
    data_dir: Path
    studies: tuple[str, ...] = ()
    seeds: int | None = None
    epochs: int | None = None
    recipe: Recipe | None = None
    out_dir: Path | None = None
    workers: int = 1
    device: str = "cpu"
    threads: int = 1


@dataclass(frozen=True)
class FinalOutcome:
    """What ``final-report`` produced."""

    summary: str
    out_dir: Path
    unfinished: dict[str, int]
    exits: WorkerExits | None


def final_report(*, request: FinalRequest, display: Display) -> FinalOutcome:
    """Make the missing seeded jobs, run them with local workers, and write the report.

    Args:
        request: The checked command.
        display: Where status lines and the live progress go.

    Returns:
        The summary table in Markdown, the report folder, the studies with jobs left unfinished
        (every worker died first), and how the workers ended (None when nothing was left to train).
    """
    handle = request.storage
    reading = handle.open(readonly=True)  # the tuned studies are only read
    names = searches_of(storage=reading, groups=request.studies)
    if not names:
        raise PairsearchError(f"no tuned study in {handle.redacted}; run 'pairsearch tune' first")
    plans = [make_plan(storage=reading, study_name=name, epochs=request.epochs, recipe=request.recipe)
             for name in names]
    seeds = request.seeds or default_seeds_per_search(searches=max(Counter(p.label for p in plans).values()))
    request = dataclasses.replace(request, seeds=seeds)
    check_trained_alike(plans=plans)
    check_seeds_apart(plans=plans, seeds=seeds)
    for plan in plans:  # before the report folder exists: a refused data dir leaves nothing behind
        check_local_data(plan=plan, data_dir=request.data_dir)
    out_dir = request.out_dir or default_report_dir()
    check_writable(out_dir)
    exits = None
    if _work_left(storage=reading, plans=plans, seeds=request.seeds):
        identity = handle.file_identity()
        exits = _train_jobs(request=request, plans=plans, display=display)
        handle.check_still_there(identity=identity, what="the final jobs of this run")
    else:  # every job has run: nothing is written to the storage, not even a lock file
        for plan in plans:
            display.say(f"{_label(plan, request)}: best trial #{plan.best_trial}, 0 new job(s) of {request.seeds}")
    summary = write_final_report(handle=handle, plans=plans, seeds=request.seeds, out_dir=out_dir,
                                 baseline=_baseline_plans(storage=reading, request=request, plans=plans,
                                                          display=display))
    write_dashboard_notes(handle=handle, studies=[plan.study_name for plan in plans], say=display.say)
    return FinalOutcome(summary=summary, out_dir=out_dir, unfinished=_unfinished(storage=reading, plans=plans),
                        exits=exits)


def _label(plan: FinalPlan, request: FinalRequest) -> str:
    """The study, and the recipe where ``--recipe`` named one."""
    return plan.study_name if request.recipe is None else f"{plan.study_name} (recipe {plan.recipe.name})"


def _baseline_plans(*, storage, request: FinalRequest, plans: list[FinalPlan],
                    display: Display) -> list[FinalPlan] | None:
    """The plain ``final-report``'s plans, which the answer is compared with under ``--recipe``
    (None without ``--recipe``, when they are the same jobs, or when the studies were tuned
    unlike each other: no plain report compares them, and the user is told so)."""
    if request.recipe is None:
        return None
    baseline = [make_plan(storage=storage, study_name=plan.study_name, epochs=None) for plan in plans]
    if [old.config_hash for old in baseline] == [plan.config_hash for plan in plans]:
        return None
    unlike = _unlike_training(baseline)
    if unlike is not None:
        display.say(f"note: no answer under both recipes, since no plain report compares these studies: {unlike[0]}")
        return None
    return baseline


def check_trained_alike(*, plans: list[FinalPlan]) -> None:
    """Refuse plans whose jobs would train differently: a report compares archs trained alike.

    Raises:
        PairsearchError: the studies were tuned under recipes that train differently, or their
            jobs would train for different epochs (no ``--recipe`` or ``--epochs`` put them under
            one), naming which study trains how.
    """
    unlike = _unlike_training(plans)
    if unlike is not None:
        difference, remedy = unlike
        raise PairsearchError(f"{difference}; a report compares archs trained alike: {remedy}")


def _unlike_training(plans: list[FinalPlan]) -> tuple[str, str] | None:
    """How the plans' training differs and what puts it alike, in words; None when they train alike."""
    by_recipe = _studies_by(plans, same=lambda a, b: a.recipe.trains_like(b.recipe),
                            label=lambda plan: f"{plan.recipe.name} ({plan.recipe.augmentation()})")
    if len(by_recipe) > 1:
        return (f"the studies were tuned under different training recipes ({_listing(by_recipe)})",
                "give --recipe NAME to retrain them all under one, or --arch to report those of one recipe")
    by_epochs = _studies_by(plans, same=lambda a, b: a.epochs == b.epochs, label=lambda plan: f"{plan.epochs} epochs")
    if len(by_epochs) > 1:
        return (f"the studies' jobs would train for different epochs ({_listing(by_epochs)}), as each study was tuned",
                "give --epochs N to train them all for N, or --arch to report some")
    return None


def _studies_by(plans: list[FinalPlan], *, same, label) -> dict[str, list[str]]:
    """The plans grouped by ``same`` (each group labelled by its first plan) → their study names, in order."""
    groups: list[tuple[FinalPlan, list[str]]] = []
    for plan in plans:
        group = next((studies for first, studies in groups if same(first, plan)), None)
        if group is None:
            groups.append((plan, group := []))
        group.append(plan.study_name)
    return {label(first): studies for first, studies in groups}


def _listing(groups: dict[str, list[str]]) -> str:
    return "; ".join(f"{label} for {', '.join(studies)}" for label, studies in groups.items())


def _train_jobs(*, request: FinalRequest, plans: list[FinalPlan], display: Display) -> WorkerExits:
    """Enqueue the missing jobs and run every waiting one with local workers."""
    request.storage.check_writable()
    for plan in plans:
        added, notes = ensure_jobs(handle=request.storage, plan=plan, seeds=request.seeds)
        for note in notes:
            display.say(note)
        display.say(f"{_label(plan, request)}: best trial #{plan.best_trial}, {added} new job(s) of {request.seeds}")
    worker = JobWorker(
        storage=request.storage, data_dir=request.data_dir, final_studies=tuple(p.final_study_name for p in plans),
        device=request.device, threads=request.threads,
    )
    storage = request.storage.open()
    return run_workers(target=run_job_worker, config=worker, count=request.workers, watch=lambda keep: (
        display.watch_jobs(counts=lambda: job_counts(storage=storage, plans=plans), keep_watching=keep)))


def run_final_jobs(*, worker: JobWorker, workers: int) -> WorkerExits | None:
    """Run waiting jobs of every final study with ``workers`` local processes (for extra machines).

    Returns:
        How the workers ended; None when no job was waiting (nothing was started or written).
    """
    try:
        reading = worker.storage.open(readonly=True)
    except NoOptunaSchema:
        raise PairsearchError(f"{worker.storage.redacted} holds no Optuna storage, so no final jobs to run; "
                              "check --storage") from None
    if not _jobs_waiting(storage=reading):
        return None
    worker.storage.check_writable()
    worker.storage.open(must_exist=True)
    return run_workers(target=run_job_worker, config=worker, count=workers, watch=_wait)


def _jobs_waiting(*, storage) -> bool:
    """Whether some final study has a job queued or running (read without writing)."""
    return any(job_state(trial) == "queued"
               for name in final_study_names(storage=storage)
               for trial in optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False))


def _wait(keep_watching) -> None:
    while keep_watching():
        time.sleep(1.0)


def _work_left(*, storage, plans: list[FinalPlan], seeds: int) -> bool:
    return any(missing_seeds(storage=storage, plan=plan, seeds=seeds) for plan in plans) or bool(
        _unfinished(storage=storage, plans=plans))


def _unfinished(*, storage, plans: list[FinalPlan]) -> dict[str, int]:
    counts = job_counts(storage=storage, plans=plans)
    return {label: total - done for label, (done, total) in counts.items() if done < total}
