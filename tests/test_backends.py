"""How each storage kind opens and comes to rest (the parts :class:`StorageHandle` does not show)."""

from __future__ import annotations

import fcntl
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import optuna
import pytest
from optuna.storages._heartbeat import get_heartbeat_thread
from optuna.trial import TrialState
from pg_cluster import running_cluster

from pairsearch.errors import PairsearchError
from pairsearch.storage import locks, opened, sqlite_files
from pairsearch.storage.handle import StorageHandle
from pairsearch.workers import runtime


def test_coming_to_rest_never_makes_a_file_that_was_moved_away(tmp_path):
    assert sqlite_files.rest_in_one_file(tmp_path / "moved-away.db") is False
    assert list(tmp_path.iterdir()) == []


def test_a_file_comes_to_rest_only_when_no_one_else_is_connected(tmp_path):
    db = tmp_path / "p.db"
    other = sqlite3.connect(db)
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("CREATE TABLE t (x INTEGER)")
    other.commit()

    assert sqlite_files.rest_in_one_file(db) is False  # a worker still connected: the log stays
    assert (tmp_path / "p.db-wal").exists()
    other.close()
    assert sqlite_files.rest_in_one_file(db) is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.db"]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
@pytest.mark.slow
def test_the_heartbeat_outlives_a_storage_outage(monkeypatch):
    # Optuna's heartbeat thread ended at its first failed beat: once the server was back, the
    # trial still training looked stale and another worker's sweep failed and re-ran it.
    thread_errors = []
    monkeypatch.setattr(threading, "excepthook", thread_errors.append)
    with running_cluster() as cluster:
        handle = StorageHandle(url=cluster.create_database(), kind="postgresql", heartbeat_seconds=1)
        study = optuna.create_study(storage=handle.open(), direction="maximize")
        trial = study.ask()
        with get_heartbeat_thread(trial._trial_id, study._storage):  # as Study.optimize runs it
            time.sleep(1.5)
            cluster.stop("fast")
            time.sleep(2.5)  # a beat or two fail
            cluster.start()
            time.sleep(2.5)  # past the 3 s grace since the last beat before the outage
            runtime.sweep_stale_trials(study)
            state = study.get_trials()[trial.number].state
        opened.close_all()
    assert thread_errors == []
    assert state == TrialState.RUNNING


HOLD_AND_STOP = """
import os, signal, sys
from pairsearch.storage import locks
locks.LOCK_HOLD_LIMIT_SECONDS = 2
with locks.advisory_lock(url=sys.argv[1], study_name="s"):
    print("held", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)  # a host gone: its connection stays open, silent
"""


@pytest.mark.postgres
def test_a_study_lock_whose_holder_stopped_is_released(pg_url):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_AND_STOP, pg_url], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        taken = threading.Event()

        def take_the_lock() -> None:
            with locks.advisory_lock(url=pg_url, study_name="s"):
                taken.set()

        started = time.monotonic()
        threading.Thread(target=take_the_lock, daemon=True).start()
        assert taken.wait(timeout=30), "the lock of a stopped holder was never released"
        assert time.monotonic() - started >= 1.0  # it was held, then let go
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        opened.close_all()


def test_a_file_lock_held_too_long_is_one_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "p.db.s.lock"
    monkeypatch.setattr(locks, "LOCK_TIMEOUT_SECONDS", 0.2)
    with open(path, "w") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)  # another process's hold, as filelock takes it
        with pytest.raises(PairsearchError, match="held by another process for over 0.2 s"), \
                locks.file_lock(path=path):
            pytest.fail("took a lock another holds")
