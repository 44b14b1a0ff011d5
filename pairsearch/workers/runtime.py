"""The worker runtime that ``tune`` and ``final-report`` both stand on: the worker's side.

A unit of work is one Optuna trial: a tuning trial, or one seeded final job (an enqueued
trial). Every worker is one long-lived process with one torch thread that repeats: take the
study's lock, sweep stale trials of killed workers, count, and — only if the study's rule says
so — create and run one trial. The lock makes a study-wide budget exact however many workers,
hosts and re-runs join. Around that loop: riding out a storage outage (interrupts and exit
codes: :mod:`pairsearch.workers.interrupts`). The parent's side (starting, watching and stopping the processes) is
:mod:`pairsearch.workers.supervisor`.
"""

from __future__ import annotations

import contextlib
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from pairsearch.errors import PairsearchError
from pairsearch.records import enqueue_retry, final_job, is_labelled, record_run, run_facts
from pairsearch.storage.failures import describe_error, is_storage_outage
from pairsearch.storage.handle import StorageHandle
from pairsearch.storage.heartbeats import adopt_heartbeatless_trials
from pairsearch.workers.interrupts import GATE, StorageLost

WAIT_SECONDS = 2.0
# Without a shared lock (gRPC) a study another process has just made is labelled within a second.
LABEL_WAIT_SECONDS = 10.0


class SurplusTrial(Exception):
    """A trial created beyond the budget or the job list (only without a shared lock: gRPC)."""


class TrialTakenOver(BaseException):
    """This worker's trial was failed and re-queued by another one's sweep while it ran.

    A BaseException, so that Optuna does not try to tell the trial (already failed) its result.
    """


@dataclass(frozen=True)
class Counts:
    """A study's trials by state."""

    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    waiting: int = 0

    @property
    def finished(self) -> int:
        return self.complete + self.pruned


def count_trials(trials: list[optuna.trial.FrozenTrial]) -> Counts:
    """Count ``trials`` by state."""
    states = [trial.state for trial in trials]
    return Counts(
        complete=states.count(TrialState.COMPLETE), pruned=states.count(TrialState.PRUNED),
        failed=states.count(TrialState.FAIL), running=states.count(TrialState.RUNNING),
        waiting=states.count(TrialState.WAITING),
    )


# --- studies both stages keep ----------------------------------------------------------------


def own_study(
    *, storage: optuna.storages.BaseStorage, study_name: str, label: Callable[[optuna.Study], None], refusal: str,
    locked: bool = True,
) -> optuna.Study:
    """The study pairsearch made under ``study_name``, or a new one (maximize) labelled by ``label``.

    A study of that name that pairsearch did not make (plain Optuna's default direction is
    MINIMIZE; it may be multi-objective; it has trials) is refused with ``refusal`` before
    anything is written. Call under the study's lock, so no other pairsearch process is half-way
    through labelling it: an empty, unlabelled maximize study is then one a command was killed
    while making, and it is adopted (labelled now). Where there is no lock (``locked=False``:
    gRPC), such a study is given :data:`LABEL_WAIT_SECONDS` to be labelled by the process that
    just made it, then refused saying what to do. Not
    ``create_study(load_if_exists=True)``: on a journal file that appends a record even when the
    study exists, so a refused or repeated command would still change it.
    """
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        study, made = create_or_join(storage=storage, study_name=study_name)
        if made:
            label(study)
            return study
    deadline = time.monotonic() + (0 if locked else LABEL_WAIT_SECONDS)
    while not is_labelled(study):
        if not may_be_in_labelling(study):
            raise PairsearchError(refusal)
        if locked:  # no one else is labelling it: a command killed after making it left it so
            label(study)
            return study
        if time.monotonic() > deadline:
            raise PairsearchError(never_labelled(study_name=study_name))
        time.sleep(WAIT_SECONDS)
        study = optuna.load_study(study_name=study_name, storage=storage)
    return study


def never_labelled(*, study_name: str) -> str:
    """What to do about an empty study left unlabelled where no lock tells a killed maker from a slow one."""
    return (f"study {study_name!r} is empty and was never labelled (a command was stopped while making it): "
            f"delete it with 'optuna delete-study --study-name {study_name} --storage URL' on the storage "
            "behind the proxy, or choose another --study")


def create_or_join(*, storage: optuna.storages.BaseStorage | str, study_name: str) -> tuple[optuna.Study, bool]:
    """A new maximize study and True, or the study another process made since we looked and False.

    Without a lock (gRPC) two processes starting one new study at once both find none; the
    second's create is refused by the storage, and it joins the first's.
    """
    try:
        return optuna.create_study(study_name=study_name, storage=storage, direction="maximize"), True
    except optuna.exceptions.DuplicatedStudyError:
        return optuna.load_study(study_name=study_name, storage=storage), False


def may_be_in_labelling(study: optuna.Study) -> bool:
    """An empty maximize study: what pairsearch has made and may still be labelling (an unlabelled
    study with trials, or minimize, or multi-objective, was made by something else)."""
    return not study.trials and study.directions == [optuna.study.StudyDirection.MAXIMIZE]


def label_objective(*, study: optuna.Study, name: str) -> None:
    """Name the objective for the dashboard (``set_metric_names`` is marked experimental)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([name])


# --- the claim-a-unit loop -------------------------------------------------------------------


@dataclass(frozen=True)
class WorkQueue:
    """One study's units of work, as one worker sees them.

    Attributes:
        study: The study whose trials are the units.
        objective: Runs one unit (an Optuna objective).
        decide: ``Counts`` → ``run`` (create one now), ``full`` (running units hold the rest;
            one may fail and come back) or ``done``.
    """

    study: optuna.Study
    objective: Callable[[optuna.Trial], float]
    decide: Callable[[Counts], str]


def work_until_done(*, handle: StorageHandle, queues: list[WorkQueue], deadline: float | None = None) -> None:
    """Claim and run units from ``queues`` until every queue is done (or ``deadline`` passes).

    After each unit the worker goes back to the first queue that has room, so the queues finish
    in order (a search, a final study) while the workers spread over the rest.

    A storage outage is waited out (the heartbeat sweep fails and retries a unit in flight).
    Without a heartbeat (journal, gRPC) a dead worker's unit never comes back, so a queue that
    is only ``full`` counts as done.
    """
    pending = list(queues)
    outage = OutageBackoff(limit=handle.outage_seconds)
    while pending and (deadline is None or time.monotonic() < deadline):
        waiting = False
        for queue in list(pending):
            try:
                outcome = claim_one(handle=handle, queue=queue)
            except Exception as error:
                if handle.lost():  # deleted or replaced: no outage, nothing to wait for
                    raise StorageLost from None
                if not is_storage_outage(error):
                    raise
                outage.wait(error)
                waiting = True
                continue
            outage.reset()
            if outcome == "done" or (outcome == "full" and not handle.has_heartbeat):
                pending.remove(queue)
            waiting = waiting or outcome == "full"
            if outcome == "ran":  # back to the first queue with room: queues finish in order
                waiting = False
                break
        if waiting and pending:
            time.sleep(WAIT_SECONDS)


def claim_one(*, handle: StorageHandle, queue: WorkQueue) -> str:
    """Under the study's lock, sweep stale trials and ask ``queue.decide``; run one unit if told.

    Returns ``ran`` or what ``decide`` said (``full``: wait and ask again, ``done``: stop).
    """
    study = queue.study
    with contextlib.ExitStack() as held:
        held.enter_context(handle.lock(study_name=study.study_name))
        with GATE.deferred():
            sweep_stale_trials(study)
        decision = queue.decide(count_trials(study.get_trials(deepcopy=False)))
        if decision != "run":
            return decision
        started: list[int] = []

        def guarded(trial: optuna.Trial) -> float:
            started.append(trial.number)
            held.close()  # the trial exists now: let other workers count it and go on
            try:
                with GATE.open():
                    value = queue.objective(trial)
            except KeyboardInterrupt:
                record_run(trial, stop_reason="interrupted")  # the dashboard says why it failed
                raise
            except optuna.exceptions.UpdateFinishedTrialError:
                raise TrialTakenOver from None
            if study._storage.get_trial(trial._trial_id).state.is_finished():
                raise TrialTakenOver
            return value

        try:
            with GATE.deferred():
                study.optimize(guarded, n_trials=1, catch=(SurplusTrial,), gc_after_trial=False)
        except KeyboardInterrupt:
            if started:
                retry_interrupted(study=study, number=started[0])
            raise
        except TrialTakenOver:
            print(f"pairsearch: trial {started[0]} of {study.study_name} was failed and re-queued by another "
                  "worker (its heartbeat had lapsed); going on", file=sys.stderr, flush=True)
    return "ran"


def sweep_stale_trials(study: optuna.Study) -> None:
    """Fail trials of killed workers (heartbeat older than the grace period) and re-enqueue them."""
    adopt_heartbeatless_trials(study)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def retry_interrupted(*, study: optuna.Study, number: int) -> None:
    """Ctrl-C failed trial ``number``; enqueue its params so the next run does it again."""
    trials = study.get_trials(deepcopy=False)
    trial = next(t for t in trials if t.number == number)
    # A queued trial (another worker's retry) interrupted before its objective asked for its
    # params has none yet: its queued ones, or the retry would be lost with it.
    params = trial.params or trial.system_attrs.get("fixed_params")
    if trial.state != TrialState.FAIL or not params:
        return
    if any(run_facts(t).retry_of == number for t in trials):
        return
    # Not skip_if_exists: it matches the failed trial itself (same params) and never enqueues.
    enqueue_retry(study, params=params, retry_of=number, job=final_job(trial))


class OutageBackoff:
    """Rides out a storage outage: wait 1, 2, 4 … 30 s between tries, give up after a limit."""

    def __init__(self, *, limit: float) -> None:
        self.limit = limit
        self.reset()

    def reset(self) -> None:
        self.started: float | None = None
        self.delay = 1.0

    def wait(self, error: BaseException) -> None:
        """Sleep before the next try, or raise once the outage has lasted longer than the limit."""
        now = time.monotonic()
        self.started = self.started or now
        reason = describe_error(error)
        if now - self.started > self.limit:
            raise PairsearchError(f"storage unavailable for over {self.limit:.0f} s: {reason}") from None
        print(f"pairsearch: storage unavailable ({reason}); retrying in {self.delay:.0f} s",
              file=sys.stderr, flush=True)
        time.sleep(self.delay)
        self.delay = min(2 * self.delay, 30.0)
