"""The load test's worker processes (spawned: this module stays light, no torch, no pytest)."""

from __future__ import annotations

import functools
import multiprocessing
import os
import time

import optuna

from pairsearch.storage.handle import StorageHandle

LOAD_WORKERS = 8
LOAD_BUDGET = 200


def trivial_objective(trial: optuna.Trial) -> float:
    """No training: one param, one intermediate report, a float."""
    x = trial.suggest_float("x", 0.0, 1.0)
    trial.report(x, step=1)
    return x


def load_worker(url: str, study_name: str, budget: int, start, results) -> None:
    """One worker process: the real claim step (lock, sweep, count, run) around a trivial objective."""
    from pairsearch.tuning import budget_decision
    from pairsearch.workers.runtime import WorkQueue, claim_one

    ran, errors, waits = 0, [], 0
    try:
        handle = StorageHandle.resolve(url=url)
        study = optuna.load_study(study_name=study_name, storage=handle.open(),
                                  sampler=optuna.samplers.RandomSampler())
        queue = WorkQueue(study=study, objective=trivial_objective,
                          decide=functools.partial(budget_decision, budget=budget))
        start.wait(timeout=180)
        while True:
            outcome = claim_one(handle=handle, queue=queue)
            if outcome == "done":
                break
            if outcome == "full":  # the last trials are running elsewhere
                waits += 1
                time.sleep(0.05)
            else:
                ran += 1
    except Exception as error:  # noqa: BLE001 -- counted, not raised: the parent asserts there were none
        errors.append(f"{type(error).__name__}: {error}")
    results.put({"pid": os.getpid(), "ran": ran, "errors": errors, "waits": waits})


def run_load(*, url: str, study_name: str = "load", workers: int = LOAD_WORKERS,
             budget: int = LOAD_BUDGET) -> dict:
    """``workers`` spawned processes spend ``budget`` trials; timed from when all are ready."""
    optuna.create_study(study_name=study_name, storage=StorageHandle.resolve(url=url).open(), direction="maximize")
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(workers + 1)
    results = context.Queue()
    processes = [
        context.Process(target=load_worker, args=(url, study_name, budget, start, results))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        start.wait(timeout=240)  # every worker has imported, connected and loaded the study
        started = time.perf_counter()
        reports = [results.get(timeout=600) for _ in processes]
        seconds = time.perf_counter() - started
    finally:
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.kill()
    trials = optuna.load_study(study_name=study_name, storage=StorageHandle.resolve(url=url).open()).get_trials(deepcopy=False)
    return {"reports": reports, "seconds": seconds, "trials": trials}
