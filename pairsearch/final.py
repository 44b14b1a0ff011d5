"""The final stage: each tuned study's best configuration retrained over paired seeds, as jobs.

:func:`final_report` turns each study's best params into seeded jobs (:mod:`pairsearch.jobs`),
runs them on the worker runtime (:mod:`pairsearch.workers.runtime`) with the same lock, heartbeat and
retry as tuning, and writes the report. Any number of workers on any host can run the jobs
(:func:`run_final_jobs`); a rerun only trains what is missing. Each study's jobs train under one
training recipe (:mod:`pairsearch.training.recipes`, resolved in its plan): the one the study was
tuned with (the course's unless ``tune --recipe`` said otherwise), or ``--recipe``'s (the request's
``retrain_recipe``), whose report then also answers under the studies' own recipe where its jobs
ran. A report never mixes recipes across archs.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from pairsearch.errors import PairsearchError
from pairsearch.final_notes import write_dashboard_notes
from pairsearch.final_plans import baseline_plans, ensure_jobs, report_plans, unfinished, work_left
from pairsearch.jobs import FinalPlan, job_counts
from pairsearch.report.results import (
    check_writable,
    default_report_dir,
    write_final_report,
)
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
        epochs: ``--epochs``: the epochs of every final run (None: its recipe's — without
            ``--recipe``, each study's tuning epochs).
        retrain_recipe: ``--recipe``: the recipe every study's choice is retrained under, its
            epochs unless ``epochs`` (None: each search is retrained under the recipe it was
            tuned with).
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
    retrain_recipe: Recipe | None = None
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
    reading = handle.open(readonly=True)  # opened once per process: the same storage report_plans reads
    plans, seeds = report_plans(handle=handle, groups=request.studies, epochs=request.epochs,
                                retrain_recipe=request.retrain_recipe, seeds=request.seeds,
                                data_dir=request.data_dir)
    request = dataclasses.replace(request, seeds=seeds)
    out_dir = request.out_dir or default_report_dir()
    check_writable(out_dir)
    exits = None
    if work_left(storage=reading, plans=plans, seeds=request.seeds):
        identity = handle.file_identity()
        exits = _train_jobs(request=request, plans=plans, display=display)
        handle.check_still_there(identity=identity, what="the final jobs of this run")
    else:  # every job has run: no job is made and no lock file taken
        for plan in plans:
            display.say(f"{_label(plan, request)}: best trial #{plan.best_trial}, 0 new job(s) of {request.seeds}")
    summary = write_final_report(handle=handle, plans=plans, seeds=request.seeds, out_dir=out_dir,
                                 baseline=baseline_plans(storage=reading, retrain_recipe=request.retrain_recipe,
                                                         plans=plans, say=display.say))
    # Only a note whose text changed is written: a rerun with nothing new changes no byte of the storage.
    write_dashboard_notes(handle=handle, studies=[plan.study_name for plan in plans], say=display.say)
    return FinalOutcome(summary=summary, out_dir=out_dir,
                        unfinished=unfinished(storage=reading, plans=plans, seeds=request.seeds), exits=exits)


def _label(plan: FinalPlan, request: FinalRequest) -> str:
    """The study, and the recipe where ``--recipe`` named one."""
    return plan.study_name if request.retrain_recipe is None else f"{plan.study_name} (recipe {plan.recipe.name})"


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
    counts = functools.partial(job_counts, storage=storage, plans=plans, seeds=request.seeds)
    return run_workers(target=run_job_worker, config=worker, count=request.workers, watch=lambda keep: (
        display.watch_jobs(counts=counts, keep_watching=keep)))


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
    """Whether some final study has a job queued or running (read without writing; only those
    trials are read)."""
    queued = (TrialState.WAITING, TrialState.RUNNING)  # job_state's "queued"
    return any(optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False, states=queued)
               for name in final_study_names(storage=storage))


def _wait(keep_watching) -> None:
    while keep_watching():
        time.sleep(1.0)
