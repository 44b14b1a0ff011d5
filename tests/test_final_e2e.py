"""End-to-end checks of final-report / final-run: the commands as a user runs them (slow)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from conftest import (
    cli_env,
    run_cli,
    storage_digest,
    tiny_study_text,
    worker_pids,
    write_tiny_study,
)
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState
from test_final import (
    REPORT_FILES,
    add_better_trial,
    expected_params,
    final_trials,
    seeds_of,
    sqlite_url,
    tune,
    tune_and_run_jobs,
)

from pairsearch import final_plans, searches
from pairsearch.storage.handle import StorageHandle

pytestmark = pytest.mark.slow


def report_args(*, url: str, out: Path, seeds: int = 3, epochs: int | None = 2, workers: int = 1) -> list[str]:
    args = ["final-report", "--storage", url, "--seeds", str(seeds), "--out", str(out),
            "--workers", str(workers), "--quiet"]
    return args + (["--epochs", str(epochs)] if epochs else [])


def trial_snapshot(*, url: str, study_name: str) -> list[tuple]:
    study = optuna.load_study(study_name=study_name, storage=StorageHandle.resolve(url=url).open())
    return [(t.number, t.state, t.value, t.datetime_complete) for t in study.get_trials(deepcopy=False)]


def assert_report(*, out: Path, archs: list[str], seeds: int, epochs: int) -> pd.DataFrame:
    for name in REPORT_FILES:
        assert (out / name).is_file(), name
    results = pd.read_csv(out / "results.csv")
    assert results.groupby("arch")["seed"].apply(list).to_dict() == {a: searches.final_seeds(seeds) for a in archs}
    curves = pd.read_csv(out / "curves.csv")
    assert len(curves) == len(archs) * seeds * epochs
    return results


# --- the README flow ----------------------------------------------------------------------------


def test_tune_then_final_report_then_rerun(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    for arch in ("base", "digits"):
        study_file = write_tiny_study(tmp_path, arch=arch, epochs=2)
        tuned = run_cli(
            ["tune", "--arch", arch, "--study-file", str(study_file), "--trials", "3", "--storage", url,
             "--workers", "1", "--quiet"],
            data_dir=data_dir,
        )
        assert tuned.returncode == 0, tuned.stderr

    out = tmp_path / "report"
    first = run_cli(["final-report", "--storage", url, "--seeds", "3", "--epochs", "2", "--out", str(out)],
                    data_dir=data_dir)
    assert first.returncode == 0, first.stderr
    assert "3 new job(s) of 3" in first.stderr
    assert_report(out=out, archs=["base", "digits"], seeds=3, epochs=2)
    summary = (out / "summary.md").read_text().strip()
    assert "| base |" in summary and "| digits |" in summary
    assert summary in first.stdout
    assert "report.html" in first.stderr

    before = {name: trial_snapshot(url=url, study_name=name) for name in ("base.final", "digits.final")}
    for name in REPORT_FILES:
        os.utime(out / name, (0, 0))
    second = run_cli(["final-report", "--storage", url, "--seeds", "3", "--epochs", "2", "--out", str(out)],
                     data_dir=data_dir)
    assert second.returncode == 0, second.stderr
    assert second.stderr.count("0 new job(s) of 3") == 2
    assert {name: trial_snapshot(url=url, study_name=name) for name in before} == before
    for name in REPORT_FILES:
        assert (out / name).stat().st_mtime > 0, f"{name} was not rewritten"
    assert summary in second.stdout


# --- the best trial changes between runs --------------------------------------------------------


def test_final_report_says_the_best_trial_changed_and_reports_only_the_new_config(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    tuned, old = tune_and_run_jobs(url=url, data_dir=data_dir, directory=tmp_path, trials=2, seeds=2)
    better = add_better_trial(tuned)

    out = tmp_path / "report"
    result = run_cli(report_args(url=url, out=out, seeds=2, epochs=1), data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert (f"base: its best trial (#{old.best_trial}, now #{better.number}) changed since earlier final jobs of "
            "recipe course were made") in result.stderr
    assert "2 new job(s) of 2" in result.stderr

    new = final_plans.make_plan(storage=StorageHandle.resolve(url=url).open(), study_name="base", epochs=1)
    trials = final_trials(url=url, plan=new)
    assert seeds_of(trials, config_hash=new.config_hash) == {s: 1 for s in searches.final_seeds(2)}
    assert seeds_of(trials, config_hash=old.config_hash) == {s: 1 for s in searches.final_seeds(2)}
    results = assert_report(out=out, archs=["base"], seeds=2, epochs=1)
    expected = expected_params(arch="base", trial=better)
    assert [json.loads(p) for p in results["params"]] == [expected, expected]
    new_values = {t.value for t in trials if t.user_attrs["config_hash"] == new.config_hash}
    assert set(results["test_accuracy"]) == new_values


# --- concurrent job creation from processes ------------------------------------------------------

ENQUEUE_SCRIPT = """
import sys, time
from pathlib import Path
from pairsearch import final_plans, searches
from pairsearch.storage.handle import StorageHandle

url, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
storage = StorageHandle.resolve(url=url).open()
plan = final_plans.make_plan(storage=storage, study_name="base", epochs=2)
ready.touch()
while not go.exists():
    time.sleep(0.005)
print(final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=plan, seeds=3)[0])
"""


def test_ensure_jobs_from_concurrent_processes_makes_each_job_once(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    tune(url=url, data_dir=data_dir, directory=tmp_path, trials=1)
    go = tmp_path / "go"
    ready = [tmp_path / f"ready{index}" for index in range(3)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", ENQUEUE_SCRIPT, url, str(flag), str(go)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(data_dir),
        )
        for flag in ready
    ]
    try:
        deadline = time.monotonic() + 120
        while not all(flag.exists() for flag in ready):
            assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        go.touch()  # the .final study does not exist yet: all three create it at once
        outputs = [p.communicate(timeout=120) for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    assert [p.returncode for p in processes] == [0, 0, 0], outputs
    assert sorted(int(out.strip()) for out, _ in outputs) == [0, 0, 3]
    plan = final_plans.make_plan(storage=StorageHandle.resolve(url=url).open(), study_name="base", epochs=2)
    assert seeds_of(final_trials(url=url, plan=plan), config_hash=plan.config_hash) == {s: 1 for s in searches.final_seeds(3)}


# --- a killed job is retried --------------------------------------------------------------------


def wait_for_running_job(*, url: str, study_name: str, runner: subprocess.Popen, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert runner.poll() is None, runner.communicate()
        study = optuna.load_study(study_name=study_name, storage=StorageHandle.resolve(url=url).open())
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if running:
            return running[0]
        time.sleep(0.1)
    raise AssertionError("no final job started")


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_killed_final_job_is_retried(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    study_file = tmp_path / "slow-base.toml"
    study_file.write_text(tiny_study_text(epochs=5, fixed={"channels": 32}))  # channels 32, 5 epochs: a few seconds per job
    tune(url=url, data_dir=data_dir, directory=tmp_path, trials=1, study_file=study_file)
    storage = StorageHandle.resolve(url=url).open()
    plan = final_plans.make_plan(storage=storage, study_name="base", epochs=None)
    assert plan.epochs == 5 and plan.params["channels"] == 32
    assert final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=plan, seeds=3)[0] == 3

    heartbeat = {"PAIRSEARCH_HEARTBEAT_SECONDS": "2"}
    runner = subprocess.Popen(
        [sys.executable, "-m", "pairsearch", "final-run", "--storage", url, "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(data_dir, **heartbeat),
    )
    try:
        killed = wait_for_running_job(url=url, study_name=plan.final_study_name, runner=runner)
        time.sleep(1.0)  # mid-job, with a heartbeat recorded
        children = worker_pids(runner.pid)
        assert len(children) == 1, children
        os.kill(children[0], signal.SIGKILL)
        runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.communicate()
    assert runner.returncode != 0  # its worker died: final-run does not claim success
    states = {t.number: t.state for t in final_trials(url=url, plan=plan)}
    assert states[killed.number] == TrialState.RUNNING  # nobody has noticed yet

    out = tmp_path / "report"
    result = run_cli(report_args(url=url, out=out, seeds=3, epochs=None), data_dir=data_dir, **heartbeat)
    assert result.returncode == 0, result.stderr
    assert "0 new job(s) of 3" in result.stderr  # the killed job is still its seed's job

    trials = final_trials(url=url, plan=plan)
    by_number = {t.number: t for t in trials}
    assert by_number[killed.number].state == TrialState.FAIL
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert seeds_of(complete, config_hash=plan.config_hash) == {s: 1 for s in searches.final_seeds(3)}
    retry = next(t for t in complete if t.user_attrs["seed"] == killed.user_attrs["seed"])
    assert RetryHeartbeatStaleTrialCallback.retried_trial_number(retry) == killed.number
    assert_report(out=out, archs=["base"], seeds=3, epochs=5)


# --- Postgres -----------------------------------------------------------------------------------


@pytest.mark.postgres
def test_final_report_with_two_workers_on_postgres(tmp_path, data_dir, pg_url):
    for arch in ("base", "digits"):
        tune(url=pg_url, data_dir=data_dir, directory=tmp_path, arch=arch, trials=2, epochs=2)
    out = tmp_path / "report"
    result = run_cli(report_args(url=pg_url, out=out, seeds=3, epochs=2, workers=2), data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert_report(out=out, archs=["base", "digits"], seeds=3, epochs=2)
    storage = StorageHandle.resolve(url=pg_url).open()
    for arch in ("base", "digits"):
        plan = final_plans.make_plan(storage=storage, study_name=arch, epochs=2)
        trials = final_trials(url=pg_url, plan=plan)
        assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
        assert seeds_of(trials, config_hash=plan.config_hash) == {s: 1 for s in searches.final_seeds(3)}


# --- independent searches: the two-level answer, recomputed from the storage -------------------


def _two_level_effect(*, accuracy: dict, archs_plus: list[str], archs_minus: list[str]) -> tuple[float, float, float]:
    """The weight-sharing average over replicates, by hand: (mean, t interval low, high)."""
    from scipy import stats as scipy_stats

    searches = sorted({search for (_, search, _) in accuracy})
    per_search = []
    for search in searches:
        seeds = sorted({seed for (_, s, seed) in accuracy if s == search})
        runs = [(sum(accuracy[(a, search, seed)] for a in archs_plus)
                 - sum(accuracy[(a, search, seed)] for a in archs_minus)) / 2 for seed in seeds]
        per_search.append(sum(runs) / len(runs))
    mean = sum(per_search) / len(per_search)
    half = scipy_stats.t.ppf(0.975, len(per_search) - 1) * scipy_stats.tstd(per_search) / len(per_search) ** 0.5
    return mean, mean - half, mean + half


def test_three_searches_of_the_2x2_give_an_answer_over_replicates(tmp_path, data_dir):
    """tune --repeats 3 of the four archs of the 2×2, then final-report: the answer's intervals
    are over the 3 replicates, with the variance split, and equal what the storage holds."""
    url = sqlite_url(tmp_path)
    for arch in ("base", "sep", "base_aux", "sep_aux"):
        done = run_cli(["tune", "--arch", arch, "--trials", "2", "--repeats", "3", "--epochs", "1",
                        "--storage", url, "--workers", "2", "--quiet"], data_dir=data_dir, timeout=600)
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("finished=2") == 3, done.stdout
    out = tmp_path / "report"
    done = run_cli(report_args(url=url, out=out, seeds=2, epochs=1, workers=2), data_dir=data_dir, timeout=900)
    assert done.returncode == 0, done.stderr
    assert "## The answer" in done.stdout  # the terminal shows the answer, not only the table

    storage = StorageHandle.resolve(url=url).open(readonly=True)
    accuracy = {}
    for summary in optuna.get_all_study_summaries(storage=storage):
        if summary.study_name.endswith(".final"):
            tuned = optuna.load_study(study_name=summary.study_name.removesuffix(".final"), storage=storage)
            for trial in optuna.load_study(study_name=summary.study_name, storage=storage).get_trials():
                if trial.state == TrialState.COMPLETE:
                    key = (tuned.user_attrs["arch"], tuned.user_attrs["search"], trial.user_attrs["seed"])
                    accuracy[key] = trial.value
    assert {seed for (_, _, seed) in accuracy} == {1000, 1001}
    assert len(accuracy) == 4 * 3 * 2

    effects = pd.read_csv(out / "effects.csv").set_index(["factor", "given"])
    average = effects.loc[("shared_weights", "average")]
    mean, low, high = _two_level_effect(accuracy=accuracy, archs_plus=["base", "base_aux"],
                                        archs_minus=["sep", "sep_aux"])
    assert (average["n_searches"], average["n_pairs"], average["level"]) == (3, 6, "searches")
    assert average["mean_diff"] == pytest.approx(mean)
    assert (average["ci_low"], average["ci_high"]) == pytest.approx((low, high))
    assert 0 <= average["tuning_share"] <= 1 or pd.isna(average["tuning_share"])
    assert {"sd_search", "sd_seed", "p_better", "p_better_low", "p_better_high"} <= set(effects.columns)
    summary = (out / "summary.md").read_text()
    assert summary.startswith("## The answer")
    assert "t interval over the searches" in summary
    assert "3 × 2" in summary  # searches × seeds
    budget = pd.read_csv(out / "budget.csv")
    assert set(budget["arch"]) == {"base", "sep", "base_aux", "sep_aux"}
    assert (budget["searches"] == 3).all()


PUBLISHED = Path(__file__).resolve().parent.parent / "docs" / "results"
PUBLISHED_TABLES = ("summary.md", "effects.csv", "results.csv", "pairwise.csv", "budget.csv")


@pytest.mark.parametrize(("recipe", "folder", "tables"), [
    ("course", PUBLISHED, PUBLISHED_TABLES),
    ("strong", PUBLISHED / "strong", (*PUBLISHED_TABLES, "effects_by_recipe.csv")),
])
def test_the_published_tables_are_recomputed_from_the_published_storage(tmp_path, data_dir, recipe, folder, tables):
    """docs/results is what ``final-report`` makes of docs/results/pairsearch.db with today's code:
    every job is there (nothing trains), the storage keeps every byte, each table is equal byte for byte."""
    db = tmp_path / "pairsearch.db"
    db.write_bytes((PUBLISHED / "pairsearch.db").read_bytes())
    before = storage_digest(db)
    out = tmp_path / recipe
    done = run_cli(["final-report", "--storage", f"sqlite:///{db}", "--recipe", recipe, "--out", str(out),
                    "--workers", "1", "--quiet"], data_dir=data_dir, timeout=900)
    assert done.returncode == 0, done.stderr
    planned = [line for line in done.stderr.splitlines() if "new job(s) of" in line]
    assert planned and all(" 0 new job(s) of" in line for line in planned), done.stderr
    assert storage_digest(db) == before
    for name in tables:
        assert (out / name).read_bytes() == (folder / name).read_bytes(), name
