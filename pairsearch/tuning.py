"""``pairsearch tune``: the objective, the worker loop and the exact study-wide budget.

Each worker is one long-lived process with one torch thread. Before it creates a trial it
takes the study's budget lock, sweeps stale trials (killed workers), and counts
``finished + running``; only when that is below the budget does it create the trial. So
``--trials N`` ends with exactly N finished (complete + pruned) trials however many workers,
hosts and re-runs join.
"""

from __future__ import annotations

import contextlib
import functools
import math
import multiprocessing
import os
import signal
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from pairsearch import __version__
from pairsearch.errors import PairsearchError
from pairsearch.storage import (
    BudgetLock,
    OutageBackoff,
    describe_error,
    is_storage_failure,
    is_storage_outage,
    kind_of,
    open_storage,
    redact,
)
from pairsearch.studyspec import StudySpec

METRIC_NAME = "validation accuracy"
WAIT_SECONDS = 2.0
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class TuneJob:
    """Everything a worker process needs (picklable: it crosses a process boundary)."""

    spec: StudySpec
    study_name: str
    url: str
    trials: int
    data_source: str
    data_dir: Path
    device: str = "cpu"
    threads: int = 1
    timeout: float | None = None


@dataclass(frozen=True)
class Counts:
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    waiting: int = 0

    @property
    def finished(self) -> int:
        return self.complete + self.pruned


def count_trials(trials: list[optuna.trial.FrozenTrial]) -> Counts:
    states = [trial.state for trial in trials]
    return Counts(
        complete=states.count(TrialState.COMPLETE), pruned=states.count(TrialState.PRUNED),
        failed=states.count(TrialState.FAIL), running=states.count(TrialState.RUNNING),
        waiting=states.count(TrialState.WAITING),
    )


# --- the study -------------------------------------------------------------------------------


def study_attrs(*, spec: StudySpec, pools_source: str, fingerprint: str) -> dict:
    import torch

    return {
        "pairsearch": True, "arch": spec.arch, "spec": spec.to_json(), "spec_hash": spec.spec_hash,
        "epochs": spec.epochs, "data_source": pools_source, "data_fingerprint": fingerprint,
        "versions": {"pairsearch": __version__, "optuna": optuna.__version__, "torch": torch.__version__},
    }


def prepare_study(*, job: TuneJob, fingerprint: str) -> optuna.Study:
    """Create the study, or check that an existing one has the same spec and data."""
    storage = open_storage(url=job.url)
    # Under the study's lock: a second `tune` starting at the same moment must not check the
    # attrs while the first is still writing them one by one.
    with BudgetLock(url=job.url, study_name=job.study_name).hold():
        study = load_or_create_study(storage=storage, study_name=job.study_name)
        if not study.user_attrs.get("pairsearch"):
            _label_new_study(study=study, job=job, fingerprint=fingerprint)
            return study
    check_compatible(study=study, job=job, fingerprint=fingerprint)
    # A write before any worker starts: a read-only storage fails here, with one clear line.
    study.set_user_attr("last_tune_started", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return study


def load_or_create_study(*, storage, study_name: str) -> optuna.Study:
    """Load the study, creating it only when missing.

    Not ``create_study(load_if_exists=True)``: on a journal file that appends a record even when
    the study exists, so a refused or repeated command would still change the storage.
    """
    try:
        return optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return optuna.create_study(
            study_name=study_name, storage=storage, direction="maximize", load_if_exists=True
        )


def name_objective(*, study: optuna.Study, name: str) -> None:
    """Label the objective for the dashboard (``set_metric_names`` is marked experimental)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([name])


def _label_new_study(*, study: optuna.Study, job: TuneJob, fingerprint: str) -> None:
    if study.trials:
        raise PairsearchError(
            f"study {job.study_name!r} in {redact(job.url)} was not made by pairsearch; "
            "choose another name with --study"
        )
    attrs = study_attrs(spec=job.spec, pools_source=job.data_source, fingerprint=fingerprint)
    marker = attrs.pop("pairsearch")
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    name_objective(study=study, name=METRIC_NAME)
    study.set_user_attr("pairsearch", marker)  # last: only a fully labelled study is checked


def check_compatible(*, study: optuna.Study, job: TuneJob, fingerprint: str) -> None:
    attrs = study.user_attrs
    if attrs.get("spec_hash") != job.spec.spec_hash:
        raise PairsearchError(
            f"study {job.study_name!r} was created with a different study spec "
            f"(arch {attrs.get('arch')}, epochs {attrs.get('epochs')}); "
            f"use --study NEW_NAME to start a fresh study"
        )
    if attrs.get("data_fingerprint") != fingerprint:
        raise PairsearchError(
            f"study {job.study_name!r} was tuned on other data ({attrs.get('data_source')} "
            f"{attrs.get('data_fingerprint')}, here {job.data_source} {fingerprint}); "
            "use the same --dataset, or --study NEW_NAME"
        )


def build_sampler(spec: StudySpec) -> optuna.samplers.BaseSampler:
    seed = spec.sampler.get("seed")
    if seed is None:
        return _make_sampler(spec, seed=None)
    return TrialSeededSampler(make=functools.partial(_make_sampler, spec), seed=seed)


def _make_sampler(spec: StudySpec, *, seed: int | None) -> optuna.samplers.BaseSampler:
    if spec.sampler["name"] == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(n_startup_trials=spec.sampler["n_startup_trials"], seed=seed)


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """A study file's sampler seed, offset by the trial number for every trial.

    One seeded sampler per worker would make every worker (and every re-run) draw the same
    sequence of params; seeding by trial number keeps a seeded study reproducible trial by
    trial while no two trials replay the same random draws.
    """

    def __init__(self, *, make, seed: int) -> None:
        self._make, self._seed = make, seed
        self._sampler = make(seed=seed)

    def before_trial(self, study, trial) -> None:
        self._sampler = self._make(seed=self._seed + trial.number)
        self._sampler.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self._sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._sampler.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self._sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._sampler.reseed_rng()


def build_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    pruner = spec.pruner
    if pruner["name"] == "none":
        return optuna.pruners.NopPruner()
    if pruner["name"] == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=spec.epochs, reduction_factor=pruner.get("reduction_factor", 3)
        )
    return optuna.pruners.MedianPruner(
        n_startup_trials=pruner["n_startup_trials"], n_warmup_steps=pruner["n_warmup_steps"]
    )


def suggest_params(*, trial: optuna.Trial, spec: StudySpec) -> dict:
    params = dict(spec.fixed)
    for space in spec.space:
        if space.type == "categorical":
            params[space.name] = trial.suggest_categorical(space.name, list(space.choices))
        elif space.type == "int":
            params[space.name] = trial.suggest_int(
                name=space.name, low=int(space.low), high=int(space.high), log=space.log,
                step=int(space.step or 1),
            )
        else:
            params[space.name] = trial.suggest_float(
                space.name, space.low, space.high, log=space.log, step=space.step
            )
    return params


# --- the objective ---------------------------------------------------------------------------


class SurplusTrial(Exception):
    """A trial created beyond the budget or the job list (only without a shared lock: gRPC)."""


def make_objective(*, job: TuneJob, split, device):
    """The Optuna objective: train, report validation accuracy every epoch, prune when told."""
    from pairsearch.models import resolve_params
    from pairsearch.training import train_run

    def objective(trial: optuna.Trial) -> float:
        params = resolve_params(arch=job.spec.arch, overrides=suggest_params(trial=trial, spec=job.spec))
        epoch_seconds: list[float] = []

        def on_epoch(record) -> None:
            epoch_seconds.append(record.seconds)
            trial.report(record.eval_accuracy, step=record.epoch)
            if trial.should_prune():
                record_run_attrs(trial=trial, seconds=epoch_seconds, stop_reason="pruned")
                raise optuna.TrialPruned(f"pruned after epoch {record.epoch}")

        result = train_run(
            arch=job.spec.arch, params=params, split=split, epochs=job.spec.epochs,
            seed=job.spec.seed, device=device, on_epoch=on_epoch,
        )
        trial.set_user_attr("n_parameters", result.n_parameters)
        record_run_attrs(trial=trial, seconds=epoch_seconds, stop_reason=result.status)
        if result.status == "diverged":
            return math.nan  # Optuna records a NaN objective as a failed trial
        return result.final_accuracy

    return objective


def record_run_attrs(*, trial: optuna.Trial, seconds: list[float], stop_reason: str) -> None:
    trial.set_user_attr("stop_reason", stop_reason)
    trial.set_user_attr("epochs_run", len(seconds))
    if seconds:
        trial.set_user_attr("seconds_per_epoch", round(sum(seconds) / len(seconds), 3))


# --- the worker ------------------------------------------------------------------------------


def run_worker(job: TuneJob) -> int:
    """One worker process: run trials until the study-wide budget is spent. Returns an exit code."""
    return worker_exit_code(lambda: run_trials(job=job))


def worker_exit_code(run) -> int:
    """Run a worker's loop with clean interrupts: 0 done, 2 user error (said on stderr), 130 stopped."""
    signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        run()
    except PairsearchError as error:
        print(f"pairsearch: error: {error}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a storage that cannot mend (read-only, full): one line, not a traceback
        if not is_storage_failure(error):
            raise
        print(f"pairsearch: error: the storage failed: {describe_error(error)}", file=sys.stderr, flush=True)
        return 2
    return 0


def ignore_signal(signum, frame) -> None:
    """A handler that does nothing (see :func:`_raise_keyboard_interrupt`)."""


def _raise_keyboard_interrupt(signum, frame) -> None:
    # Ctrl-C reaches every worker and then the parent's stop request follows at once: only
    # the first signal may interrupt, or the second one lands inside the clean-up (failing
    # and re-queuing the running trial) and leaves the trial RUNNING. stop_workers still
    # kills a worker that does not exit in time. A no-op handler, not SIG_IGN: a signal already
    # pending when the handler becomes SIG_IGN makes CPython print a race-condition traceback.
    signal.signal(signal.SIGINT, ignore_signal)
    signal.signal(signal.SIGTERM, ignore_signal)
    # Optuna would log the interrupted trial as a failure with a page-long traceback per
    # worker; the parent already says what happened.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    global _interrupt_pending
    if _storage_critical:
        _interrupt_pending = True  # raised as soon as the trial exists or has been told
        return
    raise KeyboardInterrupt


# While Optuna creates or finishes a trial, an interrupt would leave it RUNNING with nobody to
# fail or re-queue it (journal storages have no heartbeat to notice): defer it to the objective.
_storage_critical = False
_interrupt_pending = False


@contextlib.contextmanager
def _deferred_interrupts():
    global _storage_critical
    _storage_critical = True
    try:
        yield
    finally:
        _storage_critical = False
    if _interrupt_pending:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _interruptible():
    global _storage_critical
    if _interrupt_pending:
        raise KeyboardInterrupt
    _storage_critical = False
    try:
        yield
    finally:
        _storage_critical = True


def run_trials(*, job: TuneJob) -> None:
    from pairsearch.data import load_pools, tuning_split
    from pairsearch.training import resolve_device, set_threads

    set_threads(job.threads)
    device = resolve_device(job.device)
    pools = load_pools(source=job.data_source, data_dir=job.data_dir)
    storage = open_storage(url=job.url)
    study = optuna.load_study(
        study_name=job.study_name, storage=storage,
        sampler=build_sampler(job.spec), pruner=build_pruner(job.spec),
    )
    check_compatible(study=study, job=job, fingerprint=pools.fingerprint)
    objective = make_objective(job=job, split=tuning_split(pools=pools, seed=job.spec.seed), device=device)
    if kind_of(job.url) == "grpc":  # no shared lock through the proxy: re-check after creating
        objective = refuse_surplus(objective=objective, study=study, budget=job.trials)
    lock = BudgetLock(url=job.url, study_name=job.study_name)
    decide = functools.partial(budget_decision, budget=job.trials)
    deadline = None if job.timeout is None else time.monotonic() + job.timeout
    heartbeat = isinstance(storage, optuna.storages.RDBStorage)
    outage = OutageBackoff()
    while deadline is None or time.monotonic() < deadline:
        try:
            outcome = run_one_trial(study=study, objective=objective, lock=lock, decide=decide)
        except Exception as error:
            if not is_storage_outage(error):
                raise
            # The database went away (restart, network). A trial in flight stays RUNNING: the
            # heartbeat sweep fails and retries it once the storage is back.
            outage.wait(error)
            continue
        outage.reset()
        if outcome == "done":
            return
        if outcome == "full":
            if not heartbeat:  # no heartbeat (journal, gRPC): a dead worker's trial never comes back
                return
            time.sleep(WAIT_SECONDS)  # running trials hold the rest of the budget; one may fail


def budget_decision(counts: Counts, *, budget: int) -> str:
    """``run`` a new trial, wait while running trials hold the budget (``full``), or ``done``."""
    if counts.finished >= budget:
        return "done"
    if counts.finished + counts.running >= budget:
        return "full"
    return "run"


def run_one_trial(*, study: optuna.Study, objective, lock: BudgetLock, decide) -> str:
    """Under the study's lock, sweep stale trials and ask ``decide(counts)``; run one trial if told.

    Returns ``ran`` or what ``decide`` said (``full``: wait and ask again, ``done``: stop).
    """
    with contextlib.ExitStack() as held:
        held.enter_context(lock.hold())
        with _deferred_interrupts():
            sweep_stale_trials(study)
        decision = decide(count_trials(study.get_trials(deepcopy=False)))
        if decision != "run":
            return decision
        started: list[int] = []

        def guarded(trial: optuna.Trial) -> float:
            started.append(trial.number)
            held.close()  # the trial exists now: let other workers count it and go on
            with _interruptible():
                return objective(trial)

        try:
            with _deferred_interrupts():
                study.optimize(guarded, n_trials=1, catch=(SurplusTrial,), gc_after_trial=False)
        except KeyboardInterrupt:
            if started:
                retry_interrupted(study=study, number=started[0])
            raise
    return "ran"


def refuse_surplus(*, objective, study: optuna.Study, budget: int):
    """Without a lock the trials created first win; a later one beyond the budget fails."""

    def checked(trial: optuna.Trial) -> float:
        earlier = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number]
        if budget_decision(count_trials(earlier), budget=budget) != "run":
            trial.set_user_attr("stop_reason", "over budget")
            raise SurplusTrial("the study-wide budget was already taken")
        return objective(trial)

    return checked


def sweep_stale_trials(study: optuna.Study) -> None:
    """Fail trials of killed workers (heartbeat older than the grace period) and re-enqueue them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def retry_interrupted(*, study: optuna.Study, number: int) -> None:
    """Ctrl-C failed trial ``number``; enqueue its params so the next ``tune`` runs it again."""
    trials = study.get_trials(deepcopy=False)
    trial = next(t for t in trials if t.number == number)
    if trial.state != TrialState.FAIL or not trial.params:
        return
    if any(t.user_attrs.get("retry_of") == number for t in trials):
        return
    # Not skip_if_exists: it matches the failed trial itself (same params) and never enqueues.
    study.enqueue_trial(trial.params, user_attrs={"retry_of": number})


# --- the parent: start workers, watch, stop cleanly ------------------------------------------


def resolve_workers(workers: str) -> int:
    if workers == "auto":
        return len(os.sched_getaffinity(0))
    if not workers.isdigit() or not 1 <= int(workers) <= 512:
        raise PairsearchError(f"--workers must be auto or a whole number from 1 to 512, got {workers!r}")
    return int(workers)


def start_processes(*, target, arg, count: int) -> list[multiprocessing.Process]:
    """Start ``count`` worker processes running ``target(arg)``."""
    context = multiprocessing.get_context("spawn")  # no fork: torch and SQLAlchemy dislike it
    processes = [context.Process(target=target, args=(arg,)) for _ in range(count)]
    for process in processes:
        process.start()
    return processes


def start_workers(*, job: TuneJob, workers: int) -> list[multiprocessing.Process]:
    return start_processes(target=_worker_entry, arg=job, count=workers)


def _worker_entry(job: TuneJob) -> None:
    sys.exit(run_worker(job))


def stop_workers(processes: list[multiprocessing.Process], *, grace_seconds: float = 5.0) -> None:
    """Ask every worker to stop (SIGINT: it fails and re-enqueues its trial), then make sure."""
    for process in processes:
        if process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGINT)
    deadline = time.monotonic() + grace_seconds
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()
