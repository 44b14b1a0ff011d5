"""What a final-stage worker process runs: waiting seeded jobs, each trained on the final protocol.

:func:`pairsearch.final.final_report` and ``final-run`` start these workers on the worker runtime;
a job is an enqueued trial of a ``<study>.final`` study (:class:`pairsearch.records.FinalJob`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import optuna

from pairsearch.defaults import MAX_SEED
from pairsearch.errors import PairsearchError
from pairsearch.records import final_job, record_run
from pairsearch.searches import FINAL_SUFFIX
from pairsearch.storage.handle import StorageHandle
from pairsearch.version import process_record, utc_now
from pairsearch.workers.interrupts import worker_exit_code
from pairsearch.workers.runtime import (
    Counts,
    SurplusTrial,
    WorkQueue,
    work_until_done,
)


@dataclass(frozen=True)
class JobWorker:
    """What a final-stage worker process receives (picklable).

    Attributes:
        storage: Where the jobs live.
        data_dir: Where the MNIST files and pool caches are.
        final_studies: The ``<study>.final`` studies to work on (None: every one in the storage).
        device: A device torch accepted.
        threads: Torch threads per worker process.
    """

    storage: StorageHandle
    data_dir: Path
    final_studies: tuple[str, ...] | None = None
    device: str = "cpu"
    threads: int = 1


def job_decision(counts: Counts) -> str:
    """Run while jobs wait; wait while some run (a killed one may come back); else done."""
    if counts.waiting:
        return "run"
    return "full" if counts.running else "done"


def make_job_objective(*, data_dir: Path, device):
    """Train one seeded job on the final protocol; the value is test accuracy after the last epoch."""
    from pairsearch.data.pairs import DataChoice, final_split
    from pairsearch.training.augment import make_augment
    from pairsearch.training.loop import train_run

    pools_by_source = {}

    def objective(trial: optuna.Trial) -> float:
        job = final_job(trial)
        if job is None:  # only possible without a shared lock (gRPC): not a real job
            record_run(trial, stop_reason="no job")
            raise SurplusTrial("no waiting job")
        trial.suggest_int("seed", 0, MAX_SEED)  # the enqueued value: the job's seed
        if job.data_source not in pools_by_source:
            pools_by_source[job.data_source] = DataChoice(source=job.data_source, data_dir=data_dir).load()
        pools = pools_by_source[job.data_source]
        if pools.fingerprint != job.data_fingerprint:
            raise PairsearchError(
                f"this worker's {job.data_source} data ({pools.fingerprint}) differs from the study's "
                f"({job.data_fingerprint}); it refuses to run"
            )
        started, started_at = time.perf_counter(), utc_now()
        result = train_run(
            arch=job.arch, params=job.params, split=final_split(pools=pools, seed=job.seed),
            epochs=job.epochs, seed=job.seed, device=device,
            augment=make_augment(max_shift=job.training_recipe.max_shift, seed=job.seed),
        )
        record_run(trial, seconds=round(time.perf_counter() - started, 3), n_parameters=result.n_parameters,
                   history=result.history_dicts(), stop_reason=result.status,
                   provenance=run_provenance(device=device, started=started_at, finished=utc_now()))
        return math.nan if result.final_accuracy is None else result.final_accuracy

    return objective


def run_provenance(*, device, started: str, finished: str) -> dict:
    """Where, when and with what a job ran: recorded with every job, shown in the report.

    Args:
        device: The torch device the job trained on.
        started: When training began, UTC (:func:`utc_now`).
        finished: When it ended, UTC.

    Returns:
        The attrs of its :class:`~pairsearch.version.ProcessRecord`: ``device``, ``gpu``, ``cpu``,
        ``host``, ``worker``, ``threads``, ``pairsearch``, ``commit``, ``optuna``, ``torch``,
        ``python``, ``started``, ``finished``.
    """
    return dataclasses.replace(process_record(device=device), started=started, finished=finished).to_attrs()


def run_job_worker(worker: JobWorker) -> int:
    """One worker process: run waiting jobs until none are left. Returns an exit code."""
    return worker_exit_code(lambda: run_jobs(worker=worker))


def run_jobs(*, worker: JobWorker) -> None:
    """The worker's loop, in this process: claim and run jobs until every final study is done."""
    import torch

    from pairsearch.training.loop import set_threads

    set_threads(worker.threads)
    objective = make_job_objective(data_dir=worker.data_dir, device=torch.device(worker.device))
    storage = worker.storage.open(schema_ready=True)
    names = worker.final_studies or final_study_names(storage=storage)
    queues = [
        WorkQueue(study=optuna.load_study(study_name=name, storage=storage), objective=objective, decide=job_decision)
        for name in names
    ]
    work_until_done(handle=worker.storage, queues=queues)


def final_study_names(*, storage) -> list[str]:
    """Every ``<study>.final`` study in the storage."""
    return [
        summary.study_name
        for summary in optuna.get_all_study_summaries(storage=storage, include_best_trial=False)
        if summary.study_name.endswith(FINAL_SUFFIX)
    ]
