"""Faults survived and load held, with the figures that ``docs/reliability.md`` records.

Each test that measures something writes its figures to ``test-artifacts/reliability.json``
(one entry per test, merged) and prints them (``pytest -s``). The long checks are marked
``slow`` and run once by ``.ci/run``; the ones on the shared PostgreSQL server are marked
``postgres``; the server restart uses a throwaway cluster of its own (``pg_cluster.py``).

Already covered elsewhere and not repeated: SIGKILL of a tune worker and Ctrl-C of the process
group with 2 workers on SQLite (``test_tuning.py``), and a killed ``final-run`` job retried by
the next ``final-report`` (``test_final_e2e.py``). Here: the same faults on Postgres, with more
workers, with SIGTERM (to the parent only, as ``kill``/``docker stop`` send it), inside a
running ``final-report``, plus a server restart, read-only storage, a full report disk, and load.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from conftest import (
    REPO,
    SECONDS_STUDY,
    cli_env,
    group_alive,
    main_in_process,
    start_cli,
    stop_group,
    storage_digest,
    wait_for,
    worker_pids,
    write_tiny_study,
)
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState
from pg_cluster import running_cluster
from reliability_load import LOAD_BUDGET, LOAD_WORKERS, run_load

from pairsearch import final, final_plans, searches, tuning, tuning_setup
from pairsearch.data.pairs import DataChoice
from pairsearch.storage.handle import StorageHandle
from pairsearch.studyspec import load_study_file
from pairsearch.training.recipes import course_recipe

ARTIFACTS = REPO / "test-artifacts" / "reliability.json"
HEARTBEAT = {"PAIRSEARCH_HEARTBEAT_SECONDS": "2"}  # grace period 6 s



def record(name: str, **figures) -> None:
    """Merge one test's figures into test-artifacts/reliability.json and print them (-s)."""
    figures["load_average_1min"] = round(os.getloadavg()[0], 1)  # this box is shared: context
    ARTIFACTS.parent.mkdir(parents=True, exist_ok=True)
    try:
        recorded = json.loads(ARTIFACTS.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        recorded = {}
    recorded[name] = {**figures, "recorded_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    ARTIFACTS.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
    print(f"\n[figures] {name}: {json.dumps(figures, sort_keys=True)}")


def count_states(trials) -> Counter:
    return Counter(trial.state.name for trial in trials)


def trials_of(url: str, study_name: str = "base") -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study_name, storage=StorageHandle.resolve(url=url).open()).get_trials(deepcopy=False)


class StatePoller:
    """Trial states of one study straight from the database (cheap enough to poll every 0.1 s)."""

    def __init__(self, url: str, study_name: str = "base") -> None:
        self.engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        self.study_name = study_name

    def __call__(self) -> Counter:
        query = sqlalchemy.text(
            "SELECT t.state FROM trials t JOIN studies s ON s.study_id = t.study_id "
            "WHERE s.study_name = :name"
        )
        try:
            with self.engine.connect() as connection:
                return Counter(row[0] for row in connection.execute(query, {"name": self.study_name}))
        except sqlalchemy.exc.SQLAlchemyError:  # tables not made yet, or the server is down
            return Counter()

    def close(self) -> None:
        self.engine.dispose()


def tune_args(*, study_file: Path, url: str, trials: int, workers: int) -> list[str]:
    return ["tune", "--arch", "base", "--study-file", str(study_file), "--trials", str(trials),
            "--workers", str(workers), "--storage", url, "--quiet", "--device", "cpu"]


def assert_every_failure_retried(trials) -> int:
    """Each FAIL trial that had drawn params has a COMPLETE twin; returns how many failed."""
    failed = [t for t in trials if t.state == TrialState.FAIL]
    done = [t.params for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    for trial in failed:
        if trial.params:
            assert trial.params in done, f"failed trial {trial.number} {trial.params} was never run again"
    return len(failed)


# --- SIGKILL of a tune worker mid-trial, on PostgreSQL ------------------------------------------


@pytest.mark.slow
@pytest.mark.postgres
def test_sigkill_of_a_tune_worker_on_postgres(pg_url, tmp_path, data_dir):
    study_file = tmp_path / "seconds.toml"
    study_file.write_text(SECONDS_STUDY)
    budget = 6
    poll = StatePoller(pg_url)
    started = time.monotonic()
    process = start_cli(tune_args(study_file=study_file, url=pg_url, trials=budget, workers=2),
                        data_dir=data_dir, **HEARTBEAT)
    try:
        wait_for(lambda: poll()["RUNNING"] == 2, timeout=180, what="two running trials", process=process)
        time.sleep(1.0)  # mid-epoch, heartbeats recorded
        workers = worker_pids(process.pid)
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(lambda: poll()["FAIL"] >= 1, timeout=120, what="the killed trial to be failed", process=process)
        failed_after = time.monotonic() - killed_at
        _, stderr = process.communicate(timeout=300)
        wall = time.monotonic() - started
    finally:
        stop_group(process)
        poll.close()
    trials = trials_of(pg_url)
    states = count_states(trials)
    record("sigkill_tune_worker_postgres", budget=budget, workers=2, finished=states["COMPLETE"] + states["PRUNED"],
           failed_and_retried=states["FAIL"], running_left=states["RUNNING"], waiting_left=states["WAITING"],
           trials_lost=budget - states["COMPLETE"] - states["PRUNED"],
           seconds_kill_to_trial_failed=round(failed_after, 1), wall_seconds=round(wall, 1), exit_code=process.returncode)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert "ended abnormally" in stderr  # the parent says a worker died
    assert states["COMPLETE"] + states["PRUNED"] == budget, states
    assert states["RUNNING"] == 0 and states["WAITING"] == 0, states
    assert assert_every_failure_retried(trials) == 1


# --- SIGKILL of a final-report worker mid-job ------------------------------------------------------


@pytest.mark.slow
def test_sigkill_of_a_final_report_worker_mid_job(tmp_path, data_dir):
    from test_final import tune as tune_in_process

    url = f"sqlite:///{tmp_path / 'p.db'}"
    study_file = tmp_path / "seconds.toml"
    study_file.write_text(SECONDS_STUDY.replace("epochs = 4", "epochs = 3"))
    tune_in_process(url=url, data_dir=data_dir, directory=tmp_path, trials=1, study_file=study_file)
    seeds, out = 4, tmp_path / "report"
    poll = StatePoller(url, "base.final")
    started = time.monotonic()
    process = start_cli(["final-report", "--storage", url, "--seeds", str(seeds), "--workers", "2", "--out",
                         str(out), "--quiet", "--device", "cpu"], data_dir=data_dir, **HEARTBEAT)
    try:
        wait_for(lambda: poll()["RUNNING"] == 2, timeout=180, what="two running jobs", process=process)
        time.sleep(1.0)
        workers = worker_pids(process.pid)
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(lambda: poll()["FAIL"] >= 1, timeout=120, what="the killed job to be failed", process=process)
        failed_after = time.monotonic() - killed_at
        stdout, stderr = process.communicate(timeout=300)
        wall = time.monotonic() - started
    finally:
        stop_group(process)
        poll.close()
    jobs = trials_of(url, "base.final")
    states = count_states(jobs)
    complete = [t for t in jobs if t.state == TrialState.COMPLETE]
    per_seed = Counter(t.user_attrs["seed"] for t in complete)
    record("sigkill_final_worker", seeds=seeds, workers=2, jobs_complete=len(complete),
           failed_and_retried=states["FAIL"], running_left=states["RUNNING"], waiting_left=states["WAITING"],
           trials_lost=seeds - len(per_seed), seconds_kill_to_job_failed=round(failed_after, 1),
           wall_seconds=round(wall, 1), exit_code=process.returncode)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert per_seed == Counter(searches.final_seeds(seeds)), per_seed  # every seed exactly once
    assert states["RUNNING"] == 0 and states["WAITING"] == 0, states
    (killed,) = [t for t in jobs if t.state == TrialState.FAIL]
    retry = next(t for t in complete if t.user_attrs["seed"] == killed.user_attrs["seed"])
    assert RetryHeartbeatStaleTrialCallback.retried_trial_number(retry) == killed.number
    assert (out / "report.html").is_file() and "| base |" in stdout


# --- SIGINT / SIGTERM of tune with K workers -----------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("signal_name, target", [
    ("SIGINT", "group"),    # Ctrl-C in a terminal: every process of the group gets it
    ("SIGTERM", "parent"),  # kill PID, docker stop, systemd's main process: the parent only
    ("SIGTERM", "group"),   # kill -TERM -PGID, systemd's control group
])
def test_signal_stops_tune_with_four_workers_and_a_rerun_spends_the_budget(signal_name, target, tmp_path, data_dir):
    study_file = tmp_path / "seconds.toml"
    study_file.write_text(SECONDS_STUDY)
    # budget = workers: every trial is running when the signal comes, so the rerun runs exactly
    # the re-queued ones.
    url, budget, workers = f"sqlite:///{tmp_path / 'p.db'}", 4, 4
    poll = StatePoller(url)
    process = start_cli(tune_args(study_file=study_file, url=url, trials=budget, workers=workers),
                        data_dir=data_dir, **HEARTBEAT)
    try:
        wait_for(lambda: poll()["RUNNING"] == workers, timeout=240, what=f"{workers} running trials", process=process)
        time.sleep(1.0)  # mid-epoch
        signum = getattr(signal, signal_name)
        if target == "group":
            os.killpg(process.pid, signum)
        else:
            os.kill(process.pid, signum)
        signalled = time.monotonic()
        _, stderr = process.communicate(timeout=60)
        wait_for(lambda: not group_alive(process.pid), timeout=30, what="every worker to exit")
        stop_seconds = time.monotonic() - signalled
    finally:
        stop_group(process)
    trials = trials_of(url)
    states = count_states(trials)
    interrupted = [t for t in trials if t.state == TrialState.FAIL]
    queued = [t for t in trials if t.state == TrialState.WAITING]
    # A trial whose last epoch ended as the signal came is told COMPLETE before its worker stops
    # (the interrupt waits while Optuna finishes a trial): finished, not lost.
    finished_first = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert stop_seconds < 5, f"tune and its {workers} workers took {stop_seconds:.1f} s to stop"
    assert process.returncode == 130, stderr
    assert states["RUNNING"] == 0, states
    assert interrupted, states  # the signal came mid-epoch: it stopped running trials …
    assert len(interrupted) + len(finished_first) == workers, states  # … and every one is accounted for …
    assert sorted(t.user_attrs["retry_of"] for t in queued) == sorted(t.number for t in interrupted if t.params)

    rerun_started = time.monotonic()
    rerun_args = tune_args(study_file=study_file, url=url, trials=budget, workers=2)  # the same command, 2 workers
    rerun = subprocess.run([sys.executable, "-m", "pairsearch", *rerun_args], capture_output=True, text=True,
                           check=False, env=cli_env(data_dir, **HEARTBEAT), cwd=REPO, timeout=600)
    rerun_seconds = time.monotonic() - rerun_started
    trials = trials_of(url)
    after = count_states(trials)
    record(f"{signal_name.lower()}_{target}_tune_{workers}_workers", budget=budget, workers=workers,
           seconds_to_stop_all=round(stop_seconds, 2), exit_code=process.returncode,
           running_left=states["RUNNING"], interrupted_trials=len(interrupted), requeued=len(queued),
           finished_before_stop=len(finished_first),
           rerun_finished=after["COMPLETE"] + after["PRUNED"], rerun_seconds=round(rerun_seconds, 1),
           trials_lost=budget - after["COMPLETE"] - after["PRUNED"],
           signal_race_tracebacks=stderr.count("ignored due to race condition"))
    assert rerun.returncode == 0, rerun.stderr
    assert after["COMPLETE"] + after["PRUNED"] == budget, after
    assert after["RUNNING"] == 0 and after["WAITING"] == 0, after
    assert_every_failure_retried(trials)
    assert "Traceback" not in stderr, stderr


# --- the PostgreSQL server restarted in the middle of a study --------------------------------------


@pytest.mark.slow
def test_postgres_restart_mid_study_workers_ride_it_out(tmp_path, data_dir):
    study_file = write_tiny_study(tmp_path, epochs=3)
    budget = 24
    with running_cluster() as cluster:
        url = cluster.create_database()
        poll = StatePoller(url)
        started = time.monotonic()
        process = start_cli(tune_args(study_file=study_file, url=url, trials=budget, workers=2),
                            data_dir=data_dir, **HEARTBEAT)
        try:
            wait_for(lambda: poll()["COMPLETE"] >= 3 and poll()["RUNNING"] >= 1, timeout=180,
                     what="a study under way", process=process)
            before = poll()
            cluster.stop("fast")  # every connection is cut; trials in flight lose their storage
            down_at = time.monotonic()
            time.sleep(3.0)
            cluster.start()
            outage = time.monotonic() - down_at
            stdout, stderr = process.communicate(timeout=300)
            wall = time.monotonic() - started
            after_restart = time.monotonic() - down_at - outage
        finally:
            stop_group(process)
            poll.close()
        trials = trials_of(url)
        password = cluster.password
    states = count_states(trials)
    outage_lines = [line for line in stderr.splitlines() if "storage unavailable" in line]
    record("postgres_restart_mid_study", budget=budget, workers=2, finished_before_outage=before["COMPLETE"],
           outage_seconds=round(outage, 1), finished=states["COMPLETE"] + states["PRUNED"],
           failed_and_retried=states["FAIL"], running_left=states["RUNNING"], waiting_left=states["WAITING"],
           trials_lost=budget - states["COMPLETE"] - states["PRUNED"], outage_lines=len(outage_lines),
           seconds_from_restart_to_done=round(after_restart, 1), wall_seconds=round(wall, 1),
           exit_code=process.returncode)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert password not in stdout + stderr
    assert outage_lines, "no worker said the storage was away"
    assert states["COMPLETE"] + states["PRUNED"] == budget, states
    assert states["RUNNING"] == 0 and states["WAITING"] == 0, states
    assert_every_failure_retried(trials)


# --- read-only storage, a full or read-only report folder ----------------------------------------


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True, check=False).returncode == 0


@contextlib.contextmanager
def read_only_view(folder: Path):
    """``folder`` seen through a read-only bind mount (root can write through chmod 0o555)."""
    view = Path(tempfile.mkdtemp(prefix="ps-ro-"))
    try:
        if not (_mount("--bind", str(folder), str(view)) and _mount("-o", "remount,ro,bind", str(view))):
            subprocess.run(["umount", str(view)], capture_output=True, check=False)
            pytest.skip("cannot bind-mount read-only here (needs root and mount); see docs/reliability.md")
        try:
            yield view
        finally:
            subprocess.run(["umount", str(view)], capture_output=True, check=False)
    finally:
        shutil.rmtree(view, ignore_errors=True)


@contextlib.contextmanager
def immutable(path: Path):
    """``chattr +i``: not even root may write ``path`` (its folder stays writable)."""
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)],
                                                                capture_output=True, check=False).returncode:
        pytest.skip("chattr +i is not available on this file system; see docs/reliability.md")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=False)


@contextlib.contextmanager
def tiny_tmpfs(size: str = "64k"):
    folder = Path(tempfile.mkdtemp(prefix="ps-full-"))
    try:
        if not _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)):
            pytest.skip("cannot mount a tmpfs here (needs root); see docs/reliability.md")
        try:
            yield folder
        finally:
            subprocess.run(["umount", str(folder)], capture_output=True, check=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def cli_main(data_dir, monkeypatch, capsys):
    """``pairsearch ARGS`` in this process: (exit code, stdout, stderr). Workers are not started."""

    for key in [key for key in os.environ if key.startswith("PAIRSEARCH_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PAIRSEARCH_DATA_DIR", str(data_dir))

    def refuse(**kwargs):
        raise AssertionError("this command should have stopped before starting workers")

    monkeypatch.setattr(tuning, "run_workers", refuse)

    def call(args: list[str]) -> tuple[int, str, str]:
        return main_in_process(args, capsys=capsys)

    return call


@pytest.fixture
def tuned_db(tmp_path, pools) -> Path:
    """An SQLite storage holding one pairsearch study ("base") with two finished trials."""
    spec = load_study_file(path=write_tiny_study(tmp_path))
    folder = tmp_path / "storage"
    folder.mkdir()
    db = folder / "p.db"
    job = tuning.TuneRequest(spec=spec, study_name="base", storage=StorageHandle.resolve(url=f"sqlite:///{db}"), trials=2,
                         data=DataChoice(source=pools.source, data_dir=tmp_path), recipe=course_recipe(epochs=spec.epochs))
    study = tuning_setup.prepare_study(request=job, fingerprint=pools.fingerprint)
    distributions = {"channels": optuna.distributions.IntDistribution(4, 8),
                     "lr": optuna.distributions.FloatDistribution(1e-3, 1e-2, log=True)}
    for channels, value in ((4, 0.61), (8, 0.66)):
        study.add_trial(optuna.trial.create_trial(
            params={"channels": channels, "lr": 3e-3}, distributions=distributions, value=value,
            intermediate_values={1: value}, user_attrs={"stop_reason": "completed"},
        ))
    return db


def one_error_line(code: int, stdout: str, stderr: str, *, progress_before: bool = False) -> str:
    """Exit 2, no traceback, one ``pairsearch: error:`` line: the only stderr line, or the last
    one after the progress lines of a command that got some way (``progress_before``)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("pairsearch: error: ")]
    assert code == 2, f"exit {code}\n{stdout}\n{stderr}"
    assert "Traceback" not in stderr, stderr
    assert len(errors) == 1 and lines[-1] == errors[0], stderr
    if not progress_before:
        assert len(lines) == 1, stderr
    return errors[0]


def test_read_only_storage_folder_is_one_clear_error_and_still_readable(tuned_db, tmp_path, cli_main):
    study_file = tmp_path / "base-tiny.toml"
    before = storage_digest(tuned_db)
    with read_only_view(tuned_db.parent) as view:
        url = f"sqlite:///{view / tuned_db.name}"
        line = one_error_line(*cli_main(tune_args(study_file=study_file, url=url, trials=5, workers=1)))
        code, stdout, stderr = cli_main(["status", "--storage", url])
    assert "Read-only file system" in line and "lock" in line, line
    assert code == 0, stderr  # reading a read-only storage works
    assert "base" in stdout and "2" in stdout
    assert storage_digest(tuned_db) == before
    record("read_only_storage_folder", error=line.split("error: ", 1)[1].replace(str(tmp_path), "…"),
           status_exit_code=code, storage_unchanged=True)


def test_a_write_ahead_log_on_read_only_media_is_named_in_one_line(tuned_db, tmp_path, cli_main):
    """A storage copied with the -wal its writer left open (SQLite must update the log to read the
    file) onto read-only media: the one line says so and what to do, not 'unable to open database file'."""
    written, media = tmp_path / "written", tmp_path / "media"
    written.mkdir(), media.mkdir()
    with contextlib.closing(sqlite3.connect(tuned_db)) as source, \
            contextlib.closing(sqlite3.connect(written / "p.db")) as target:
        source.backup(target)
    with contextlib.closing(sqlite3.connect(written / "p.db")) as writer:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("CREATE TABLE left_in_the_log (x)")
        writer.commit()
        for name in ("p.db", "p.db-wal"):  # copied while the writer still has it open
            shutil.copy(written / name, media / name)
    before = storage_digest(media / "p.db")
    with read_only_view(media) as view:
        code, _, stderr = cli_main(["status", "--storage", f"sqlite:///{view / 'p.db'}"])
    assert code == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert "write-ahead log (p.db-wal)" in stderr and "read-only" in stderr and "writable folder" in stderr
    assert storage_digest(media / "p.db") == before


def test_read_only_storage_file_is_one_clear_error(tuned_db, tmp_path, cli_main):
    study_file = tmp_path / "base-tiny.toml"
    # A one-file copy, as a storage copied from elsewhere would be: with pairsearch's WAL mode
    # the writes would otherwise land in the (writable) -wal file beside the immutable one.
    copy = tmp_path / "copied.db"
    with contextlib.closing(sqlite3.connect(tuned_db)) as source, contextlib.closing(sqlite3.connect(copy)) as target:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")
    tuned_db = copy
    url = f"sqlite:///{tuned_db}"
    before = storage_digest(tuned_db)
    with immutable(tuned_db):
        tune_line = one_error_line(*cli_main(tune_args(study_file=study_file, url=url, trials=5, workers=1)))
        report_line = one_error_line(*cli_main(["final-report", "--storage", url, "--seeds", "2", "--out",
                                                str(tmp_path / "report"), "--workers", "1"]))
    for line in (tune_line, report_line):
        assert "readonly database" in line, line
    assert storage_digest(tuned_db) == before
    assert count_states(trials_of(url)) == Counter({"COMPLETE": 2})
    record("read_only_storage_file", error=tune_line.split("error: ", 1)[1], storage_unchanged=True)


@pytest.fixture
def finished_final_jobs(tmp_path, data_dir):
    """A tuned study whose two final jobs have run (in this process): only the report is left."""
    from test_final import run_final_jobs
    from test_final import tune as tune_in_process

    url = f"sqlite:///{tmp_path / 'p.db'}"
    tune_in_process(url=url, data_dir=data_dir, directory=tmp_path, trials=1, epochs=1)
    storage = StorageHandle.resolve(url=url).open()
    plan = final_plans.make_plan(storage=storage, study_name="base", epochs=None)
    final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=plan, seeds=2)
    run_final_jobs(url=url, data_dir=data_dir, plans=[plan])
    return url


def final_snapshot(url: str) -> list[tuple]:
    return [(t.number, t.state.name, t.value, t.user_attrs.get("seed"))
            for name in ("base", "base.final") for t in trials_of(url, name)]


def test_full_report_disk_is_one_clear_error_and_the_jobs_are_kept(finished_final_jobs, cli_main, monkeypatch):
    url = finished_final_jobs
    monkeypatch.setattr(final, "run_workers", lambda **kwargs: pytest.fail("workers started"))  # every job has run
    before = final_snapshot(url)
    with tiny_tmpfs("64k") as full:
        line = one_error_line(*cli_main(["final-report", "--storage", url, "--seeds", "2", "--out",
                                         str(full / "report"), "--workers", "1", "--quiet"]),
                              progress_before=True)
    assert "No space left on device" in line and "report" in line, line
    assert final_snapshot(url) == before  # the jobs' results are intact: a rerun writes the report
    record("report_disk_full", error=line.split("error: ", 1)[1].split(": ", 1)[-1], jobs_kept=len(before))


def test_read_only_report_folder_is_refused_before_any_training(finished_final_jobs, cli_main, tmp_path, monkeypatch):
    url = finished_final_jobs
    monkeypatch.setattr(final, "run_workers", lambda **kwargs: pytest.fail("workers started"))
    folder = tmp_path / "reports"
    folder.mkdir()
    before = final_snapshot(url)
    with read_only_view(folder) as view:
        line = one_error_line(*cli_main(["final-report", "--storage", url, "--seeds", "3", "--out",
                                         str(view / "run"), "--workers", "1", "--quiet"]))
    assert "Read-only file system" in line and "report" in line, line
    assert final_snapshot(url) == before  # no new job was queued for seed 2
    record("report_folder_read_only", error=line.split("error: ", 1)[1].split(": ", 1)[-1], jobs_kept=len(before))


# --- load: 8 workers, a trivial objective, an exact budget of 200 -------------------------------


@pytest.fixture
def load_url(request, tmp_path):
    kind = request.param
    if kind == "postgres":
        return request.getfixturevalue("pg_url")
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'load.db'}"
    return f"journal:{tmp_path / 'load.log'}"


@pytest.mark.slow
@pytest.mark.parametrize("load_url", [
    "sqlite", "journal", pytest.param("postgres", marks=pytest.mark.postgres),
], indirect=True)
def test_eight_workers_spend_an_exact_budget_of_200(load_url, request):
    kind = request.node.callspec.id
    outcome = run_load(url=load_url)
    reports, trials = outcome["reports"], outcome["trials"]
    errors = [error for report in reports for error in report["errors"]]
    numbers = [trial.number for trial in trials]
    ids = [trial._trial_id for trial in trials]
    states = count_states(trials)
    per_worker = sorted(report["ran"] for report in reports)
    record(
        f"load_{kind}", storage=kind, workers=LOAD_WORKERS, budget=LOAD_BUDGET,
        finished=states["COMPLETE"] + states["PRUNED"], trials_created=len(trials),
        errors=len(errors), duplicate_numbers=len(numbers) - len(set(numbers)),
        seconds=round(outcome["seconds"], 2), trials_per_second=round(LOAD_BUDGET / outcome["seconds"], 1),
        trials_per_worker=per_worker,
    )
    assert errors == []
    assert sorted(numbers) == list(range(LOAD_BUDGET)), "trial numbers are not 0…199 exactly once"
    assert len(set(ids)) == len(ids)
    assert states == Counter({"COMPLETE": LOAD_BUDGET}), states
    assert sum(per_worker) == LOAD_BUDGET
    assert all(trial.intermediate_values == {1: trial.value} for trial in trials)


def test_four_workers_spend_an_exact_small_budget_on_sqlite(tmp_path):
    """The load test's quick sibling in the unit suite: same loop, 4 workers, 40 trials."""
    outcome = run_load(url=f"sqlite:///{tmp_path / 'load.db'}", workers=4, budget=40)
    assert [error for report in outcome["reports"] for error in report["errors"]] == []
    assert sorted(t.number for t in outcome["trials"]) == list(range(40))
    assert count_states(outcome["trials"]) == Counter({"COMPLETE": 40})
