"""``pairsearch dashboard``: optuna-dashboard on the study storage, local by default."""

from __future__ import annotations

import gzip
import json
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import optuna
import optuna_dashboard
import pytest
from conftest import (
    REPO,
    cli_env,
    copy_one_search_run,
    free_port,
    run_cli,
    storage_digest,
    write_tiny_study,
)

from pairsearch import tuning, tuning_setup
from pairsearch.data.pairs import DataChoice
from pairsearch.final_notes import write_dashboard_notes
from pairsearch.storage.handle import StorageHandle
from pairsearch.studyspec import load_study_file
from pairsearch.training.recipes import course_recipe


def get(url: str, *, accept_gzip: bool = True, timeout: float = 10) -> tuple[int, bytes]:
    """GET ``url`` as a browser would (it always sends Accept-Encoding); returns status, body."""
    headers = {"Accept-Encoding": "gzip"} if accept_gzip else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
            if response.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            return response.status, body
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def tiny_db(tmp_path, pools) -> str:
    """An SQLite storage with one pairsearch study ("base") holding two finished trials."""
    spec = load_study_file(path=write_tiny_study(tmp_path))
    url = f"sqlite:///{tmp_path / 'p.db'}"
    job = tuning.TuneRequest(spec=spec, study_name="base", storage=StorageHandle.resolve(url=url), trials=2, data=DataChoice(source=pools.source, data_dir=tmp_path), recipe=course_recipe(epochs=spec.epochs))
    study = tuning_setup.prepare_study(request=job, fingerprint=pools.fingerprint)
    distributions = {"channels": optuna.distributions.IntDistribution(4, 8)}
    for channels, curve in ((4, {1: 0.6, 2: 0.7}), (8, {1: 0.65, 2: 0.75})):
        study.add_trial(optuna.trial.create_trial(
            params={"channels": channels}, distributions=distributions, value=curve[2],
            intermediate_values=curve, user_attrs={"n_parameters": 1000, "stop_reason": "completed"},
        ))
    return url


def start_dashboard(args: list[str], *, data_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pairsearch", "dashboard", *args], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=cli_env(data_dir), cwd=REPO,
    )


def wait_until_serving(process: subprocess.Popen, base: str, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"dashboard exited {process.returncode}: {process.stderr.read()}")
        try:
            get(f"{base}/api/studies", timeout=2)
            return
        except (TimeoutError, urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError("dashboard did not answer")


def test_dashboard_serves_the_study(tiny_db, data_dir):
    port = free_port()
    process = start_dashboard(["--storage", tiny_db, "--port", str(port)], data_dir=data_dir)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, base)
        status, body = get(f"{base}/api/studies")
        assert status == 200
        summaries = json.loads(body)["study_summaries"]
        assert [summary["study_name"] for summary in summaries] == ["base"]

        status, body = get(f"{base}/api/studies/{summaries[0]['study_id']}?after=0")
        assert status == 200
        detail = json.loads(body)
        assert detail["objective_names"] == ["validation accuracy"]
        assert len(detail["trials"]) == 2
        assert all(len(trial["intermediate_values"]) == 2 for trial in detail["trials"])

        status, body = get(f"{base}/")
        assert status == 200 and b"<html" in body.lower()
        status, body = get(f"{base}/static/bundle.js")  # served from the package: works offline
        assert status == 200 and len(body) > 10_000
    finally:
        process.terminate()
        stdout, _ = process.communicate(timeout=20)
    # The default host is local only, and that is what it says.
    assert f"http://127.0.0.1:{port}/" in stdout
    assert tiny_db in stdout  # no password to hide in an SQLite URL


def test_port_already_in_use_exits_2_in_one_line(tiny_db, data_dir):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(["dashboard", "--storage", tiny_db, "--port", str(port)], data_dir=data_dir,
                         timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(port) in lines[0] and "--port" in lines[0]
    assert "Traceback" not in result.stderr


def test_dashboard_refuses_an_unreachable_storage_in_one_line(data_dir):
    result = run_cli(
        ["dashboard", "--storage", "postgresql+psycopg://postgres:s3cretpw@127.0.0.1:1/x", "--port",
         str(free_port())],
        data_dir=data_dir, timeout=60,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "s3cretpw" not in result.stderr + result.stdout


def test_every_study_of_a_report_storage_answers_200_and_reading_changes_nothing(tmp_path, data_dir):
    """Tuning studies and their ``.final`` companions: details and parameter importances."""
    from test_final import run_final_jobs
    from test_final import tune as tune_in_process

    from pairsearch import final_plans

    url = f"sqlite:///{tmp_path / 'p.db'}"
    tune_in_process(url=url, data_dir=data_dir, directory=tmp_path, trials=3, epochs=1)
    storage = StorageHandle.resolve(url=url).open()
    plan = final_plans.make_plan(storage=storage, study_name="base", epochs=1)
    final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=plan, seeds=3)
    run_final_jobs(url=url, data_dir=data_dir, plans=[plan])
    db = tmp_path / "p.db"
    with sqlite3.connect(db) as connection:  # a settled, one-file storage, as a user leaves it
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = storage_digest(db)
    port = free_port()
    process = start_dashboard(["--storage", url, "--port", str(port)], data_dir=data_dir)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, base)
        summaries = json.loads(get(f"{base}/api/studies")[1])["study_summaries"]
        assert sorted(summary["study_name"] for summary in summaries) == ["base", "base.final"]
        for summary in summaries:
            for path in ("?after=0", "/param_importances"):
                status, body = get(f"{base}/api/studies/{summary['study_id']}{path}")
                assert status == 200, (summary["study_name"], path, body[:300])
    finally:
        process.terminate()
        process.communicate(timeout=20)
    assert storage_digest(db) == before


# --- the note final-report writes on each final study ---------------------------------------


@pytest.fixture
def one_search_copy(tmp_path) -> Path:
    """A copy of the one-search run's storage, its jobs at today's final seeds: 7 final studies,
    two recipes, 2 failed jobs (each a job and its retry) re-run."""
    return copy_one_search_run(tmp_path, seeds_moved=15)


def stored_note(url: str, study: str) -> str:
    return optuna_dashboard.get_note(optuna.load_study(study_name=study, storage=StorageHandle.resolve(url=url).open(readonly=True)))


def test_a_final_studys_note_says_what_a_trial_is_and_gives_each_recipes_mean(one_search_copy):
    url = f"sqlite:///{one_search_copy}"
    said = []
    write_dashboard_notes(handle=StorageHandle.resolve(url=url), studies=["base", "digits"], say=said.append)
    note = stored_note(url, "digits.final")
    assert "one seeded retraining" in note and "luckiest seed" in note and '"seed" tops' in note
    assert "| course | 15 | 97.23 ± 0.48 % | 96.96 – 97.49 % |" in note
    assert "| strong | 15 | 97.90 ± 0.29 % |" in note
    assert "2 course job(s) failed (a worker stopped or killed) over 4 attempts; 2 of them were re-run" in note
    assert "the final seeds 1000–1014" in note and "other seeds" not in note
    assert "| course | 15 | 86.52 ± 0.68 % |" in stored_note(url, "base.final")
    assert stored_note(url, "sep.final") == "" and not said  # only the studies reported on


def test_a_note_counts_the_jobs_at_the_seeds_of_the_default_report_only(tmp_path):
    url = f"sqlite:///{copy_one_search_run(tmp_path)}"  # every job at seeds 0…14: an earlier run's
    write_dashboard_notes(handle=StorageHandle.resolve(url=url), studies=["digits"], say=print)
    note = stored_note(url, "digits.final")
    assert "| course | 0 | — | — |" in note and "| strong | 0 | — | — |" in note
    assert "15 course and 15 strong jobs at other seeds (an earlier run's) are left out" in note
    assert "failed" not in note


def test_an_up_to_date_note_is_not_written_again(one_search_copy):
    url = f"sqlite:///{one_search_copy}"
    handle = StorageHandle.resolve(url=url)
    write_dashboard_notes(handle=handle, studies=["joint"], say=print)
    handle.open().engine.dispose()
    with sqlite3.connect(one_search_copy) as connection:  # settled, as a user leaves it
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = storage_digest(one_search_copy)
    write_dashboard_notes(handle=StorageHandle.resolve(url=url), studies=["joint"], say=print)
    assert storage_digest(one_search_copy) == before
