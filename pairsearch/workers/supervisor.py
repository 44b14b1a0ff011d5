"""The worker runtime, the parent's side: start worker processes, watch them, stop them cleanly.

``tune`` and ``final-report`` both call :func:`run_workers`; what each worker runs is in
:mod:`pairsearch.workers.runtime`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.resource_tracker
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import optuna
from optuna.trial import TrialState

from pairsearch.workers.interrupts import EXIT_USER_ERROR, STOP_SIGNALS, ignore_signal
from pairsearch.workers.runtime import Counts, count_trials

STOP_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class Snapshot:
    """A study as it stands: counts by state and the best complete trial."""

    counts: Counts
    best_value: float | None
    best_params: dict


def snapshot(study: optuna.Study) -> Snapshot:
    """Read ``study``'s trials once into a :class:`Snapshot`."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    best = max(complete, key=lambda t: t.value, default=None)
    return Snapshot(count_trials(trials), best and best.value, best.params if best else {})


class Display(Protocol):
    """Where a stage's status lines and live progress go (the CLI passes one)."""

    def say(self, message: str) -> None:
        """One status line."""

    def watch_study(self, *, study: optuna.Study, budget: int, keep_watching: Callable[[], bool]) -> Snapshot:
        """Show a tuning study's progress until ``keep_watching()`` is false; the last snapshot."""

    def watch_jobs(self, *, counts: Callable[[], dict[str, tuple[int, int]]],
                   keep_watching: Callable[[], bool]) -> None:
        """Show finished/total final jobs per study until ``keep_watching()`` is false."""


@dataclass(frozen=True)
class WorkerExits:
    """How the worker processes ended, and what the watcher returned last."""

    codes: tuple[int | None, ...]
    watched: object = None

    @property
    def user_error(self) -> bool:
        """A worker stopped on a user error; it said why on stderr."""
        return EXIT_USER_ERROR in self.codes

    @property
    def lost(self) -> list[int | None]:
        """Exit codes of workers that died (e.g. the OOM killer); their units are retried."""
        return [code for code in self.codes if code != 0]


def run_workers(*, target: Callable, config, count: int, watch: Callable[[Callable[[], bool]], object]) -> WorkerExits:
    """Start ``count`` processes running ``target(config)``; ``watch`` until they end.

    ``watch(keep_watching)`` shows progress while ``keep_watching()`` is true. Ctrl-C (or SIGTERM
    to this process) stops every worker cleanly — each fails and re-queues its unit — and is
    raised again as KeyboardInterrupt; any other error of ``watch`` (a storage file deleted
    under the run) stops them the same way before it is raised.
    """
    processes = make_processes(target=target, config=config, count=count)
    with sigterm_stops_cleanly():
        try:
            start_processes(processes)
            watched = watch(lambda: any(process.is_alive() for process in processes))
        except BaseException:  # Ctrl-C, or the watcher found the storage gone: no worker runs on
            stop_workers([process for process in processes if process.pid is not None])
            raise
    for process in processes:
        process.join()
    return WorkerExits(codes=tuple(process.exitcode for process in processes), watched=watched)


def make_processes(*, target: Callable, config, count: int) -> list[multiprocessing.Process]:
    """``count`` worker processes (not started), each to run ``sys.exit(target(config))``."""
    context = multiprocessing.get_context("spawn")  # no fork: torch and SQLAlchemy dislike it
    return [context.Process(target=_exit_with, args=(target, config)) for _ in range(count)]


def start_processes(processes: list[multiprocessing.Process]) -> None:
    """Start the workers with Ctrl-C and SIGTERM held (blocked), in this process and in theirs.

    A worker imports optuna and torch (seconds) before it can stop cleanly; a Ctrl-C then printed
    a ~50-line traceback per worker. A blocked signal stays blocked across ``exec``: each worker
    takes it once its handlers are in place (:func:`~pairsearch.workers.interrupts.worker_exit_code`),
    and this process once all are started, so no Ctrl-C is lost.
    """
    # Its first start unblocks SIGINT/SIGTERM in this process (resource_tracker.ensure_running
    # restores them so): started before the signals are held, it leaves them held.
    multiprocessing.resource_tracker.ensure_running()
    with signals_held():
        for process in processes:
            process.start()


def signals_held() -> contextlib.AbstractContextManager[None]:
    """Block :data:`~pairsearch.workers.interrupts.STOP_SIGNALS` inside; a signal that came meanwhile is taken after."""
    return _signal_setting(change=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS),
                           restore=lambda previous: signal.pthread_sigmask(signal.SIG_SETMASK, previous))


@contextlib.contextmanager
def _signal_setting(*, change: Callable[[], object], restore: Callable[[object], object]) -> Iterator[None]:
    """``change()`` a signal setting inside, then ``restore`` what it returned (the setting before).

    Only in the main thread, where Python takes signals and sets their handlers: a command run
    from another thread (a test, an embedding program) leaves signals as they are.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = change()
    try:
        yield
    finally:
        restore(previous)


def _exit_with(target: Callable, config) -> None:
    code = target(config)
    # Everything the worker wrote is committed and its locks are released; skipping the
    # interpreter's teardown (torch's finalizers: ~0.6 s a process) lets Ctrl-C stop a host
    # full of workers within seconds.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def stop_workers(processes: list[multiprocessing.Process], *, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
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


def _terminate_as_interrupt(signum, frame) -> None:
    # `kill PID`, `docker stop`, systemd and Slurm send SIGTERM to this process only: without
    # this handler it died at once and left its workers running on, orphaned. Now it stops
    # them as Ctrl-C does; a second request must not interrupt that clean-up (no-op handler,
    # not SIG_IGN: see _raise_keyboard_interrupt).
    signal.signal(signal.SIGTERM, ignore_signal)
    raise KeyboardInterrupt


def sigterm_stops_cleanly() -> contextlib.AbstractContextManager[None]:
    """While inside, SIGTERM to this (parent) process acts as Ctrl-C."""
    return _signal_setting(change=lambda: signal.signal(signal.SIGTERM, _terminate_as_interrupt),
                           restore=lambda previous: signal.signal(signal.SIGTERM, previous))
