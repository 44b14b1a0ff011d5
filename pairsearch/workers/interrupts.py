"""Interrupts inside a worker process: Ctrl-C deferred while a trial is made or told, and exit codes.

Ctrl-C and SIGTERM reach every worker; :func:`worker_exit_code` turns them into a clean stop
(exit 130) that never leaves a trial RUNNING, a user error into exit 2 with one line, and a
storage that cannot mend into one line too.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Iterator

import optuna

from pairsearch.errors import EXIT_INTERRUPTED, PairsearchError, error_line
from pairsearch.storage.failures import describe_error, is_storage_failure

EXIT_USER_ERROR = 2
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})  # held (blocked) while a worker starts


class StorageLost(Exception):
    """The storage file this worker writes was deleted or replaced: it stops, and its parent says so."""


class InterruptGate:
    """Defers Ctrl-C while Optuna creates or finishes a trial.

    An interrupt there would leave the trial RUNNING with nobody to fail or re-queue it
    (journal storages have no heartbeat to notice); it is raised once the trial exists or has
    been told instead.
    """

    def __init__(self) -> None:
        self.critical = False
        self.pending = False

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self.critical = True
        try:
            yield
        finally:
            self.critical = False
        if self.pending:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def open(self) -> Iterator[None]:
        if self.pending:
            raise KeyboardInterrupt
        self.critical = False
        try:
            yield
        finally:
            self.critical = True


GATE = InterruptGate()  # the one gate of this worker process


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
    if GATE.critical:
        GATE.pending = True
        return
    raise KeyboardInterrupt


def worker_exit_code(run: Callable[[], None]) -> int:
    """Run a worker's loop with clean interrupts: 0 done, 2 user error (said on stderr), 130 stopped."""
    signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the parent's display says what matters
    try:
        # Held since the parent started this process (supervisor.start_processes): a Ctrl-C
        # that came while it imported torch is taken now, as a clean stop.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        run()
    except PairsearchError as error:
        print(error_line(str(error)), file=sys.stderr, flush=True)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except StorageLost:  # the parent watches the file and says what was lost, once
        return EXIT_USER_ERROR
    except Exception as error:  # a storage that cannot mend (read-only, full): one line, not a traceback
        if not is_storage_failure(error):
            raise
        print(error_line(f"the storage failed: {describe_error(error)}"), file=sys.stderr, flush=True)
        return EXIT_USER_ERROR
    return 0
