"""Storage URLs, clear one-line errors, journal files, coming to rest and the budget lock."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from conftest import REPO, run_cli

from pairsearch.errors import PairsearchError
from pairsearch.storage import handle as storage
from pairsearch.storage.handle import StorageHandle, kind_of

PASSWORD = "s3cretpw"
UNREACHABLE = f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:1/x"


# --- which URL -------------------------------------------------------------------------------


def test_storage_option_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("PAIRSEARCH_STORAGE", "sqlite:///from-env.db")
    assert StorageHandle.resolve(url="sqlite:///from-option.db").url == "sqlite:///from-option.db"


def test_environment_wins_over_the_default(monkeypatch):
    monkeypatch.setenv("PAIRSEARCH_STORAGE", "sqlite:///from-env.db")
    assert StorageHandle.resolve(url=None).url == "sqlite:///from-env.db"


def test_default_is_the_local_sqlite_file(monkeypatch):
    monkeypatch.delenv("PAIRSEARCH_STORAGE", raising=False)
    assert StorageHandle.resolve(url=None).url == "sqlite:///storage/pairsearch.db"


def test_empty_environment_variable_means_the_default(monkeypatch):
    monkeypatch.setenv("PAIRSEARCH_STORAGE", "")
    assert StorageHandle.resolve(url=None).url == "sqlite:///storage/pairsearch.db"


@pytest.mark.parametrize("url, kind", [
    ("sqlite:///storage/pairsearch.db", "sqlite"),
    ("postgresql+psycopg://u:p@h/db", "postgresql"),
    ("postgresql://u@h/db", "postgresql"),
    ("journal:/tmp/j.log", "journal"),
    ("/tmp/runs/j.log", "journal"),
    ("grpc://localhost:13000", "grpc"),
])
def test_kind_of_supported_urls(url, kind):
    assert kind_of(url).name == kind


@pytest.mark.parametrize("url", [
    f"mysql://root:{PASSWORD}@localhost/optuna",
    "http://localhost:8080",
    "sqlite://relative-without-third-slash.db",
    "storage/pairsearch.db",
])
def test_kind_of_refuses_unsupported_urls(url):
    with pytest.raises(PairsearchError) as caught:
        kind_of(url)
    message = str(caught.value)
    assert PASSWORD not in message
    for supported in ("sqlite:///", "postgresql+psycopg://", "journal:"):
        assert supported in message
    assert "\n" not in message


def assert_one_line_without_password(error: PairsearchError) -> str:
    message = str(error)
    assert "\n" not in message
    assert PASSWORD not in message
    assert error.__cause__ is None or PASSWORD not in str(error.__cause__)
    return message


def test_unreachable_postgres_is_one_line_without_the_password():
    started = time.monotonic()
    with pytest.raises(PairsearchError) as caught:
        StorageHandle.resolve(url=UNREACHABLE).open()
    message = assert_one_line_without_password(caught.value)
    assert "127.0.0.1" in message and "***" in message
    assert time.monotonic() - started < 30


@pytest.mark.postgres
def test_nonexistent_postgres_database_is_one_line_without_the_password(pg_url):
    server = pg_url.rsplit("/", 1)[0].replace("postgres@", f"postgres:{PASSWORD}@", 1)
    with pytest.raises(PairsearchError) as caught:
        StorageHandle.resolve(url=f"{server}/pairsearch_no_such_database").open()
    message = assert_one_line_without_password(caught.value)
    assert "pairsearch_no_such_database" in message


def test_cli_storage_error_exits_2_in_one_line(tmp_path, data_dir):
    result = run_cli(["status", "--storage", UNREACHABLE], data_dir=data_dir, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_cli_refuses_an_unsupported_scheme(data_dir):
    result = run_cli(["status", "--storage", f"mysql://root:{PASSWORD}@localhost/x"], data_dir=data_dir)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    assert "sqlite:///" in result.stderr


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "1.5", "²", "3601", "99999999999999999999"])
def test_bad_heartbeat_setting_is_refused(monkeypatch, raw):
    monkeypatch.setenv("PAIRSEARCH_HEARTBEAT_SECONDS", raw)
    with pytest.raises(PairsearchError, match="PAIRSEARCH_HEARTBEAT_SECONDS"):
        storage.heartbeat_seconds()


# --- storages that work ----------------------------------------------------------------------


def _roundtrip(url: str) -> None:
    study = optuna.create_study(study_name="s", storage=StorageHandle.resolve(url=url).open(), direction="maximize")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    again = optuna.load_study(study_name="s", storage=StorageHandle.resolve(url=url).open())
    assert len(again.trials) == 3
    assert all(trial.state == optuna.trial.TrialState.COMPLETE for trial in again.trials)


@pytest.mark.parametrize("form", ["journal:{}", "{}"])
def test_journal_file_storage(tmp_path, form):
    path = tmp_path / "runs" / "j.log"  # the parent folder is created
    _roundtrip(form.format(path))
    assert path.is_file()


def test_sqlite_storage_creates_its_folder(tmp_path):
    path = tmp_path / "deep" / "er" / "p.db"
    StorageHandle.resolve(url=f"sqlite:///{path}").check_writable()  # a folder still to be made
    _roundtrip(f"sqlite:///{path}")
    assert path.is_file()


def test_sqlite_storage_has_heartbeats(tmp_path, monkeypatch):
    monkeypatch.setenv("PAIRSEARCH_HEARTBEAT_SECONDS", "2")
    opened = StorageHandle.resolve(url=f"sqlite:///{tmp_path / 'p.db'}").open()
    assert opened.get_heartbeat_interval() == 2
    assert opened.grace_period == 6


def _sqlite_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name) and not p.name.endswith(".lock"))


def _trials_in_copy(path: Path, tmp_path: Path) -> int:
    """Trials in a copy of the database file alone, as a commit or a backup would hold it."""
    copy = tmp_path / "copy" / path.name
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    with sqlite3.connect(copy) as connection:
        return connection.execute("SELECT count(*) FROM trials").fetchone()[0]


def test_a_finished_tune_leaves_one_self_contained_file_that_readers_leave_alone(tmp_path, tiny_study, data_dir):
    """No run left behind in a -wal file: the .db alone holds it, and `status` adds no side file."""
    db = tmp_path / "p.db"
    args = ["tune", "--arch", "base", "--study-file", str(tiny_study), "--trials", "3", "--workers", "2",
            "--storage", f"sqlite:///{db}", "--quiet"]

    result = run_cli(args, data_dir=data_dir)

    assert result.returncode == 0, result.stderr
    assert _sqlite_files(db) == ["p.db"]
    assert db.read_bytes()[18:20] == b"\x01\x01"  # a rollback journal at rest; the next writer turns WAL on
    assert _trials_in_copy(db, tmp_path) == 3
    before = db.read_bytes()
    assert run_cli(["status", "--storage", f"sqlite:///{db}"], data_dir=data_dir).returncode == 0
    assert db.read_bytes() == before and _sqlite_files(db) == ["p.db"]


def test_a_tune_ending_while_another_process_reads_keeps_the_log_and_loses_nothing(tmp_path, tiny_study, data_dir):
    db = tmp_path / "p.db"

    def tune(trials: int):
        return run_cli(["tune", "--arch", "base", "--study-file", str(tiny_study), "--trials", str(trials),
                        "--workers", "1", "--storage", f"sqlite:///{db}", "--quiet"], data_dir=data_dir)

    assert tune(2).returncode == 0
    reader = sqlite3.connect(db, isolation_level=None)  # a dashboard, say, reading while the next run ends
    try:
        assert reader.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)  # as during a run
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM trials").fetchone() == (2,)  # its snapshot, held
        result = tune(4)
        assert result.returncode == 0, result.stderr
        assert "p.db-wal" in _sqlite_files(db)  # SQLite refused the switch: the log stays, correct
        reader.execute("COMMIT")
        assert reader.execute("SELECT count(*) FROM trials").fetchone() == (4,)
    finally:
        reader.close()  # the last connection: SQLite folds the log in
    assert _trials_in_copy(db, tmp_path) == 4


READ_AFTER_WRITING = """
import multiprocessing, os, sys
import optuna
from pairsearch.storage.handle import StorageHandle

def add_three(url):  # another process writing, as a worker does
    study = optuna.load_study(study_name="s", storage=StorageHandle.resolve(url=url).open())
    for value in range(3):
        study.add_trial(optuna.trial.create_trial(value=float(value)))
    os._exit(0)

if __name__ == "__main__":
    url = sys.argv[1]
    handle = StorageHandle.resolve(url=url)
    optuna.create_study(study_name="s", storage=handle.open())  # this process writes, then reads
    optuna.get_all_study_summaries(handle.open(readonly=True), include_best_trial=False)
    worker = multiprocessing.get_context("spawn").Process(target=add_three, args=(url,))
    worker.start()
    worker.join()
    print(len(optuna.load_study(study_name="s", storage=handle.open(readonly=True)).trials))
"""


def test_a_process_that_wrote_a_file_and_then_reads_it_loses_no_other_process_writes(tmp_path):
    """A read-only look after writing (tune's note on other studies) once hid the workers' trials
    from the parent and lost them when it ended: the process now reads through its writer."""
    db = tmp_path / "p.db"
    script = tmp_path / "read_after_writing.py"
    script.write_text(READ_AFTER_WRITING)

    seen = subprocess.run([sys.executable, str(script), f"sqlite:///{db}"], capture_output=True, text=True,
                          cwd=REPO, timeout=120, check=False)

    assert seen.returncode == 0, seen.stderr
    assert seen.stdout.split() == ["3"]  # the parent sees the worker's trials...
    assert len(optuna.load_study(study_name="s", storage=f"sqlite:///{db}").trials) == 3  # ...and they stay


def test_a_writing_connection_relaxes_fsync_only_in_wal_mode(tmp_path):
    opened = StorageHandle.resolve(url=f"sqlite:///{tmp_path / 'p.db'}").open()
    with opened.engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
    assert (mode, synchronous) == ("wal", 1)  # NORMAL: safe in WAL mode; a rollback journal keeps FULL (2)


@pytest.mark.postgres
def test_postgres_storage(pg_url):
    _roundtrip(pg_url)


# --- the budget lock -------------------------------------------------------------------------


def _overlaps(url: str, *, study_name: str = "s", other_study: str | None = None, threads: int = 3) -> bool:
    """Let ``threads`` threads each hold the lock for a moment; True if two were ever inside at once."""
    inside, overlapped, entered = [0], [False], [0]
    guard = threading.Lock()
    errors: list[BaseException] = []

    def hold(name: str) -> None:
        try:
            with StorageHandle.resolve(url=url).lock(study_name=name):
                with guard:
                    inside[0] += 1
                    entered[0] += 1
                    overlapped[0] |= inside[0] > 1
                time.sleep(0.3)
                with guard:
                    inside[0] -= 1
        except BaseException as error:  # noqa: BLE001 - re-raised in the test thread
            errors.append(error)

    names = [study_name] * threads if other_study is None else [study_name, other_study]
    workers = [threading.Thread(target=hold, args=(name,)) for name in names]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert not errors, errors
    # Each thread got the lock and let it go: a lock that never comes (a deadlock) fails here.
    assert not any(worker.is_alive() for worker in workers) and entered[0] == len(workers)
    return overlapped[0]


def test_sqlite_file_lock_serialises_threads(tmp_path):
    assert not _overlaps(f"sqlite:///{tmp_path / 'p.db'}")


def test_journal_file_lock_serialises_threads(tmp_path):
    assert not _overlaps(f"journal:{tmp_path / 'j.log'}")


def test_file_lock_is_per_study(tmp_path):
    assert _overlaps(f"sqlite:///{tmp_path / 'p.db'}", other_study="other")


HOLDER = """
import sys, time
from pathlib import Path
from pairsearch.storage.handle import StorageHandle
with StorageHandle.resolve(url=sys.argv[1]).lock(study_name="s"):
    Path(sys.argv[2]).write_text(str(time.time()))
    time.sleep(2.0)
    Path(sys.argv[3]).write_text(str(time.time()))
"""


def _held_by_another_process(url: str, tmp_path: Path) -> None:
    entered, leaving = tmp_path / "entered", tmp_path / "leaving"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url, str(entered), str(leaving)], cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while not entered.exists():
            assert holder.poll() is None, "the lock holder died"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with StorageHandle.resolve(url=url).lock(study_name="s"):
            acquired = time.time()
        assert leaving.exists(), "got the lock while another process held it"
        assert acquired >= float(leaving.read_text())
    finally:
        holder.wait(60)
    assert holder.returncode == 0


def test_sqlite_file_lock_serialises_processes(tmp_path):
    _held_by_another_process(f"sqlite:///{tmp_path / 'p.db'}", tmp_path)


@pytest.mark.postgres
def test_postgres_advisory_lock_serialises_threads(pg_url):
    assert not _overlaps(pg_url)


@pytest.mark.postgres
def test_postgres_advisory_lock_is_per_study(pg_url):
    assert _overlaps(pg_url, other_study="other")


@pytest.mark.postgres
def test_postgres_advisory_lock_serialises_processes(pg_url, tmp_path):
    _held_by_another_process(pg_url, tmp_path)


@pytest.mark.postgres
def test_postgres_advisory_lock_is_released_after_an_error(pg_url):
    handle = StorageHandle.resolve(url=pg_url)
    with pytest.raises(RuntimeError), handle.lock(study_name="s"):
        raise RuntimeError("boom")
    finished = threading.Event()

    def take() -> None:
        with handle.lock(study_name="s"):
            finished.set()

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    assert finished.wait(20), "the advisory lock stayed held after an exception inside it"
    thread.join(20)
