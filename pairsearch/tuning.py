"""The tune stage: an objective that reports and prunes every epoch, under an exact study-wide budget.

:func:`tune` prepares (or checks) the study, then runs worker processes on the worker runtime
(:mod:`pairsearch.workers.runtime`): each one claims a trial under the study's lock only while
``finished + running`` is below the budget, so ``--trials N`` ends with exactly N finished
(complete + pruned) trials however many workers, hosts and re-runs join.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import optuna

from pairsearch.data.pairs import tuning_split
from pairsearch.records import (
    record_run,
    record_tuning_worker,
)
from pairsearch.samplers import build_pruner, build_sampler, suggest_params
from pairsearch.storage.failures import is_storage_outage
from pairsearch.tuning_setup import (
    TuneRequest,
    check_compatible,
    prepare_study,
    unlike_studies_note,
)
from pairsearch.version import process_record, utc_now
from pairsearch.workers.interrupts import StorageLost, worker_exit_code
from pairsearch.workers.runtime import (
    Counts,
    SurplusTrial,
    WorkQueue,
    count_trials,
    work_until_done,
)
from pairsearch.workers.supervisor import Display, Snapshot, WorkerExits, run_workers, snapshot

LOST_TRIALS = "the trials of this run"


@dataclass(frozen=True)
class TuneOutcome:
    """How a ``tune`` command ended: each search's study as the last worker left it, and the workers' exits."""

    searches: tuple[Snapshot, ...]
    exits: WorkerExits
    budget: int

    @property
    def final(self) -> Snapshot:
        """The last search's study (the only one without ``--repeats``)."""
        return self.searches[-1]

    @property
    def budget_spent(self) -> bool:
        return all(shot.counts.finished >= self.budget for shot in self.searches)

    @property
    def budget_held(self) -> bool:
        """Not spent, but every unit of it finished or RUNNING (in this command's workers or others')."""
        return not self.budget_spent and all(
            budget_decision(shot.counts, budget=self.budget) in ("full", "done") for shot in self.searches)


def tune(*, request: TuneRequest, display: Display) -> TuneOutcome:
    """Run ``request.workers`` local workers on the study until its budget is spent.

    Args:
        request: The checked command.
        display: Where status lines and the live progress go.

    Returns:
        The final state of the study and how the workers ended.
    """
    pools = request.data.load()
    searches = request.searches()
    studies = [prepare_study(request=search, fingerprint=pools.fingerprint) for search in searches]
    request = dataclasses.replace(request, storage=request.storage.for_run())  # its workers write this file only
    identity = request.storage.run_file
    note = unlike_studies_note(request=request)
    if note:
        display.say(note)
    if request.data.announcement():
        display.say(request.data.announcement())
    what = f"study {request.study_name}" if request.repeats == 1 else (
        f"{request.repeats} independent searches ({searches[0].study_name} … {searches[-1].study_name})")
    display.say(f"{what} in {request.storage.redacted}: {request.workers} worker(s), "
                f"budget {request.trials}{' each' if request.repeats > 1 else ''}")
    still_there = functools.partial(request.storage.check_still_there, identity=identity, what=LOST_TRIALS)
    exits = run_workers(
        target=run_worker, config=request, count=request.workers,
        watch=lambda keep_watching: watch_searches(
            studies=studies, budget=request.trials, display=display,
            keep_watching=lambda: still_there() is None and keep_watching()),
    )
    still_there()
    return TuneOutcome(searches=tuple(exits.watched), exits=exits, budget=request.trials)


def watch_searches(*, studies: list[optuna.Study], budget: int, keep_watching: Callable[[], bool],
                   display: Display) -> list[Snapshot]:
    """Show each search's progress in turn (workers finish them in order); the last snapshot of each.

    ``keep_watching`` is asked at every poll: it raises (and the workers are stopped) when the
    storage file was deleted or replaced, so a lost run fails within a second, not at its end.
    """
    if len(studies) == 1:
        return [display.watch_study(study=studies[0], budget=budget, keep_watching=keep_watching)]
    shots = []
    for study in studies:
        if study is studies[-1] or _unfinished(study=study, budget=budget):
            shots.append(display.watch_study(study=study, budget=budget, keep_watching=lambda study=study: (
                keep_watching() and _unfinished(study=study, budget=budget))))
        else:
            shots.append(snapshot(study))
    return shots


def _unfinished(*, study: optuna.Study, budget: int) -> bool:
    """Whether the search has budget left; during a storage outage, as far as we know, yes."""
    try:
        return snapshot(study).counts.finished < budget
    except Exception as error:
        if is_storage_outage(error):
            return True
        raise


# --- the objective ---------------------------------------------------------------------------


def make_objective(*, request: TuneRequest, split, device):
    """The Optuna objective: train, report validation accuracy every epoch, prune when told."""
    from pairsearch.training.augment import make_augment
    from pairsearch.training.loop import train_run
    from pairsearch.training.models import resolve_params

    spec = request.spec
    max_shift = request.recipe.max_shift

    def objective(trial: optuna.Trial) -> float:
        params = resolve_params(arch=spec.arch, overrides=suggest_params(trial=trial, spec=spec))
        epoch_seconds: list[float] = []

        def on_start(run) -> None:  # before training: pruned, diverged and interrupted trials have it too
            record_run(trial, n_parameters=run.n_parameters)

        def on_epoch(record) -> None:
            epoch_seconds.append(record.seconds)
            trial.report(record.eval_accuracy, step=record.epoch)
            if trial.should_prune():
                record_run_attrs(trial=trial, seconds=epoch_seconds, stop_reason="pruned")
                raise optuna.TrialPruned(f"pruned after epoch {record.epoch}")

        result = train_run(
            arch=spec.arch, params=params, split=split, epochs=spec.epochs,
            seed=request.seed, device=device, on_epoch=on_epoch, on_start=on_start,
            augment=make_augment(max_shift=max_shift, seed=request.seed),  # every trial the same shifts
        )
        record_run_attrs(trial=trial, seconds=epoch_seconds, stop_reason=result.status)
        if result.status == "diverged":
            return math.nan  # Optuna records a NaN objective as a failed trial
        return result.final_accuracy

    return objective


def record_run_attrs(*, trial: optuna.Trial, seconds: list[float], stop_reason: str) -> None:
    """What a dashboard user reads of a trial: why it stopped, epochs run, seconds per epoch."""
    per_epoch = round(sum(seconds) / len(seconds), 3) if seconds else None
    record_run(trial, stop_reason=stop_reason, epochs_run=len(seconds), seconds_per_epoch=per_epoch)


def recording_worker(*, objective, device):
    """The objective, recording this worker process on the study after each trial it ends (complete,
    pruned or diverged): where and with what it runs, its first trial's start and its latest trial's
    end (:class:`~pairsearch.version.ProcessRecord`). A trial that raised (an interrupt, an outage) adds nothing."""
    process = process_record(device=device)
    started = None

    def note_ended(study: optuna.Study) -> None:
        record_tuning_worker(study, record=dataclasses.replace(process, started=started, finished=utc_now()))

    def recorded(trial: optuna.Trial) -> float:
        nonlocal started
        started = started or utc_now()
        try:
            value = objective(trial)
        except optuna.TrialPruned:
            note_ended(trial.study)
            raise
        note_ended(trial.study)
        return value

    return recorded


def budget_decision(counts: Counts, *, budget: int) -> str:
    """``run`` a new trial, wait while running trials hold the budget (``full``), or ``done``."""
    if counts.finished >= budget:
        return "done"
    if counts.finished + counts.running >= budget:
        return "full"
    return "run"


def refuse_surplus(*, objective, study: optuna.Study, budget: int):
    """Without a lock (gRPC) the trials created first win; a later one beyond the budget fails."""

    def checked(trial: optuna.Trial) -> float:
        earlier = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number]
        if budget_decision(count_trials(earlier), budget=budget) != "run":
            record_run(trial, stop_reason="over budget")
            raise SurplusTrial("the study-wide budget was already taken")
        return objective(trial)

    return checked


# --- the worker ------------------------------------------------------------------------------


def run_worker(request: TuneRequest) -> int:
    """One worker process: run trials until the study-wide budget is spent. Returns an exit code."""
    return worker_exit_code(lambda: run_trials(request=request))


def worker_queue(*, request: TuneRequest) -> WorkQueue:
    """What a worker claims trials of in one search: its checked study with its sampler and
    pruner, the objective, and the budget rule."""
    import torch

    pools = request.data.load()
    study = optuna.load_study(
        study_name=request.study_name, storage=request.storage.open(schema_ready=True),
        sampler=build_sampler(spec=request.spec, search=request.search), pruner=build_pruner(spec=request.spec),
    )
    check_compatible(study=study, request=request, fingerprint=pools.fingerprint)
    split = tuning_split(pools=pools, seed=request.seed)
    device = torch.device(request.device)
    objective = recording_worker(objective=make_objective(request=request, split=split, device=device), device=device)
    if not request.storage.has_lock:  # no shared lock (gRPC): re-check the budget after creating
        objective = refuse_surplus(objective=objective, study=study, budget=request.trials)
    return WorkQueue(study=study, objective=objective,
                     decide=lambda counts: budget_decision(counts, budget=request.trials))


def run_trials(*, request: TuneRequest) -> None:
    """The worker's loop, in this process: claim and run trials until every search's budget is
    spent, the first unfinished search first."""
    from pairsearch.training.loop import set_threads

    set_threads(request.threads)
    quiet_once_lost(request.storage)
    try:
        queues = [worker_queue(request=search) for search in request.searches()]
    except Exception:
        if request.storage.lost():  # a worker started after the file was deleted or replaced
            raise StorageLost from None
        raise
    deadline = None if request.timeout is None else time.monotonic() + request.timeout
    work_until_done(handle=request.storage, queues=queues, deadline=deadline)


def quiet_once_lost(handle) -> None:
    """Once the run's storage file is deleted or replaced, Optuna's logs in this worker (a failed
    commit with its traceback) say nothing: the parent says what was lost, in one line."""
    for handler in logging.getLogger("optuna").handlers:
        handler.addFilter(lambda record: not handle.lost())
