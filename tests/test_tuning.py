"""``pairsearch tune`` end to end: exact study-wide budgets, re-runs, storages, failures, kills."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
import torch
from conftest import (
    REPO,
    SECONDS_STUDY,
    SHIFTED_RECIPE,
    TINY_STUDY,
    cli_env,
    run_cli,
    start_cli,
    stop_group,
    stop_with_signal,
    wait_for,
    worker_pids,
    write_tiny_study,
)
from optuna.trial import TrialState

from pairsearch import tuning, tuning_setup
from pairsearch.data.pairs import DataChoice, PairSet, Split
from pairsearch.records import label_study, tuning_workers
from pairsearch.report import provenance
from pairsearch.report.studies import read_studies
from pairsearch.storage.handle import StorageHandle
from pairsearch.studyspec import load_study_file
from pairsearch.training.recipes import course_recipe
from pairsearch.version import cpu_model, git_commit
from pairsearch.workers import interrupts, runtime

TINY_EPOCHS = 2
SLOW_STUDY = SECONDS_STUDY


def tune_args(*, study_file: Path, url: str, trials: int, workers: int = 2, extra: tuple = ()) -> list[str]:
    return [
        "tune", "--arch", "base", "--study-file", str(study_file), "--trials", str(trials),
        "--workers", str(workers), "--storage", url, "--quiet", *extra,
    ]


def load(storage, name: str = "base") -> optuna.Study:
    """The study read back with plain Optuna, no pairsearch code in between."""
    return optuna.load_study(study_name=name, storage=storage)


def states(study: optuna.Study) -> dict[TrialState, int]:
    found: dict[TrialState, int] = {}
    for trial in study.get_trials(deepcopy=False):
        found[trial.state] = found.get(trial.state, 0) + 1
    return found


def finished(study: optuna.Study) -> int:
    counted = states(study)
    return counted.get(TrialState.COMPLETE, 0) + counted.get(TrialState.PRUNED, 0)


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("pairsearch: error")]


# --- one tuned SQLite study, shared by the read-back tests ------------------------------------


@pytest.fixture(scope="module")
def sqlite_tuned(tmp_path_factory, data_dir):
    """``tune --trials 4 --workers 2`` on a fresh SQLite file, run once for this module."""
    directory = tmp_path_factory.mktemp("tuned")
    study_file = write_tiny_study(directory, epochs=TINY_EPOCHS)
    db = directory / "p.db"
    result = run_cli(tune_args(study_file=study_file, url=f"sqlite:///{db}", trials=4), data_dir=data_dir)
    return {"db": db, "study_file": study_file, "result": result, "trials": 4}


@pytest.fixture
def sqlite_copy(sqlite_tuned, tmp_path):
    """A private copy of the tuned SQLite study that a test may add to."""
    db = tmp_path / "p.db"
    shutil.copy(sqlite_tuned["db"], db)
    return f"sqlite:///{db}"


def test_sqlite_two_workers_exact_budget(sqlite_tuned):
    assert_ok(sqlite_tuned["result"])
    study = load(f"sqlite:///{sqlite_tuned['db']}")
    counted = states(study)
    assert finished(study) == sqlite_tuned["trials"]
    assert counted.get(TrialState.RUNNING, 0) == 0
    assert counted.get(TrialState.WAITING, 0) == 0
    assert "finished=4" in sqlite_tuned["result"].stdout


def test_parallel_workers_with_a_seeded_sampler_draw_different_params(sqlite_tuned):
    study = load(f"sqlite:///{sqlite_tuned['db']}")
    drawn = [json.dumps(trial.params, sort_keys=True) for trial in study.trials]
    assert len(set(drawn)) == len(drawn), drawn


def test_trials_record_curves_and_attrs(sqlite_tuned):
    study = load(f"sqlite:///{sqlite_tuned['db']}")
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert complete
    for trial in complete:
        assert sorted(trial.intermediate_values) == list(range(1, TINY_EPOCHS + 1))
        assert all(0.0 <= value <= 1.0 for value in trial.intermediate_values.values())
        assert trial.value == trial.intermediate_values[TINY_EPOCHS]  # last epoch, not the best
        assert isinstance(trial.user_attrs["n_parameters"], int) and trial.user_attrs["n_parameters"] > 0
        assert trial.user_attrs["seconds_per_epoch"] > 0
        assert trial.user_attrs["stop_reason"] == "completed"
        assert set(trial.params) == {"channels", "lr"}


def test_study_records_spec_data_and_versions(sqlite_tuned, pools):
    study = load(f"sqlite:///{sqlite_tuned['db']}")
    spec = load_study_file(path=sqlite_tuned["study_file"])
    attrs = study.user_attrs
    assert attrs["arch"] == "base"
    assert json.loads(attrs["spec"]) == json.loads(spec.to_json())
    assert attrs["spec_hash"] == spec.spec_hash
    assert attrs["epochs"] == TINY_EPOCHS
    assert attrs["data_source"] == "mnist5k"
    assert attrs["data_fingerprint"] == pools.fingerprint
    assert attrs["versions"]["optuna"] == optuna.__version__
    assert attrs["versions"]["torch"] == torch.__version__
    assert "pairsearch" in attrs["versions"]
    assert study.metric_names == ["validation accuracy"]
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE


def test_each_worker_that_ran_trials_records_itself_and_the_report_shows_it(sqlite_tuned):
    study = load(f"sqlite:///{sqlite_tuned['db']}")
    workers = tuning_workers(study)
    assert 1 <= len(workers) <= 2  # tune --workers 2: each worker that ran a trial, once
    assert len({worker.worker for worker in workers}) == len(workers)
    for worker in workers:
        assert worker.commit == git_commit(REPO)
        assert (worker.cpu, worker.device, worker.threads) == (cpu_model(), "cpu", 1)
        assert worker.torch == torch.__version__
        assert worker.started <= worker.finished
    table = provenance.tuning_table(studies=read_studies(studies={"base": study}), archs=["base"], tuning=pd.DataFrame(
        columns=["final_mean", "final_minus_best", "n_parameters", "mean_seconds"]))
    assert f">{workers[0].cpu}</td>" in table
    assert f">{len(workers)} worker process" in table
    assert f">{workers[0].started[:10]} " in table


def test_rerun_with_the_same_budget_adds_nothing(sqlite_tuned, sqlite_copy, data_dir):
    trials = sqlite_tuned["trials"]
    before = len(load(sqlite_copy).trials)
    result = run_cli(tune_args(study_file=sqlite_tuned["study_file"], url=sqlite_copy, trials=trials, workers=1),
                     data_dir=data_dir)
    assert_ok(result)
    study = load(sqlite_copy)
    assert finished(study) == trials
    assert len(study.trials) == before
    assert f"finished={trials}" in result.stdout


def test_rerun_with_a_bigger_budget_adds_the_difference(sqlite_tuned, sqlite_copy, data_dir):
    trials = sqlite_tuned["trials"]
    before = len(load(sqlite_copy).trials)
    assert_ok(run_cli(tune_args(study_file=sqlite_tuned["study_file"], url=sqlite_copy, trials=trials + 3),
                      data_dir=data_dir))
    study = load(sqlite_copy)
    assert finished(study) == trials + 3
    assert len(study.trials) == before + 3
    assert states(study).get(TrialState.RUNNING, 0) == 0
    drawn = [json.dumps(trial.params, sort_keys=True) for trial in study.trials]
    assert len(set(drawn)) == len(drawn), "the re-run replayed the first run's draws"


def test_spec_mismatch_exits_2_and_suggests_a_new_study_name(sqlite_tuned, sqlite_copy, data_dir):
    before = len(load(sqlite_copy).trials)
    result = run_cli(
        tune_args(study_file=sqlite_tuned["study_file"], url=sqlite_copy, trials=8,
                  extra=("--epochs", str(TINY_EPOCHS + 1))),
        data_dir=data_dir,
    )
    assert result.returncode == 2, result.stderr
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert "--study" in errors[0] and f"tuned at {TINY_EPOCHS} epochs" in errors[0]
    assert f"give --epochs {TINY_EPOCHS} to continue it" in errors[0]
    assert "Traceback" not in result.stderr
    assert len(load(sqlite_copy).trials) == before


# --- tuning under a training recipe ------------------------------------------------------------



def test_a_tune_request_carries_the_recipe_its_trials_train_resolved_at_the_boundary(tmp_path):
    """``recipe`` is never None: without --recipe the boundary gives the course's, at the spec's epochs."""
    from pairsearch import inputs

    study_file = write_tiny_study(tmp_path, epochs=2)
    spec, recipe = inputs.tuning_spec_and_recipe(arch="base", study_file=study_file, epochs=None, pruner=None,
                                                 recipe_name=None)
    assert (spec.epochs, recipe) == (2, course_recipe(epochs=2))
    spec, recipe = inputs.tuning_spec_and_recipe(arch="base", study_file=study_file, epochs=3, pruner=None,
                                                 recipe_name="strong")
    assert (spec.epochs, recipe.name, recipe.epochs, recipe.max_shift) == (3, "strong", 3, 1)
    spec, recipe = inputs.tuning_spec_and_recipe(arch="base", study_file=study_file, epochs=None, pruner=None,
                                                 recipe_name="strong")
    assert (spec.epochs, recipe.epochs) == (25, 25)  # the recipe's epochs replace the file's

    fields = {"spec": spec, "study_name": "base", "storage": StorageHandle.resolve(url=f"sqlite:///{tmp_path / 'p.db'}"),
              "trials": 1, "data": DataChoice(source="mnist5k", data_dir=tmp_path)}
    with pytest.raises(TypeError, match="recipe"):
        tuning.TuneRequest(**fields)  # no recipe is assumed
    with pytest.raises(ValueError, match="trains 10 epochs, the study spec 25"):
        tuning.TuneRequest(**fields, recipe=course_recipe(epochs=10))
    request = tuning.TuneRequest(**fields, recipe=recipe, repeats=2)
    assert [search.recipe for search in request.searches()] == [recipe, recipe]
    assert not hasattr(request, "training")


def test_tune_under_a_recipe_trains_with_it_records_it_and_final_report_follows(tmp_path, data_dir):
    from pairsearch import final_plans
    from pairsearch.training import recipes

    # Small batches: a tiny net learns something in one epoch, so the shifts can show in its accuracy.
    tiny_study = tmp_path / "study.toml"
    tiny_study.write_text(TINY_STUDY.format(arch="base", epochs=2).replace("batch_size = 250", "batch_size = 20"))
    recipe = tmp_path / "shifted.toml"
    recipe.write_text(SHIFTED_RECIPE)
    shifted, plain = f"sqlite:///{tmp_path / 'shifted.db'}", f"sqlite:///{tmp_path / 'plain.db'}"
    assert_ok(run_cli(tune_args(study_file=tiny_study, url=shifted, trials=2, workers=1,
                                extra=("--recipe", str(recipe))), data_dir=data_dir))
    assert_ok(run_cli(tune_args(study_file=tiny_study, url=plain, trials=2, workers=1,
                                extra=("--epochs", "1")), data_dir=data_dir))

    study, course = load(shifted), load(plain)
    # The recipe's epochs replace the study file's 2; it is recorded with its augmentation.
    assert study.user_attrs["epochs"] == 1 and study.user_attrs["recipe"]["augment"] == {"max_shift": 1}
    # A plain tune records the course recipe at its epochs (the same training as before recipes),
    # and where the study stands among independent searches: search 0 of its own group, tuning seed 0.
    assert course.user_attrs["recipe"]["name"] == "course"
    assert course.user_attrs["recipe"]["hash"] == recipes.course_recipe(epochs=1).to_record()["hash"]
    assert course.user_attrs["recipe"] == recipes.course_recipe(epochs=1).to_record()
    assert study.user_attrs["recipe"]["hash"] != course.user_attrs["recipe"]["hash"]
    for attrs in (study.user_attrs, course.user_attrs):
        assert (attrs["schema"], attrs["search_group"], attrs["search"], attrs["tuning_seed"]) == (2, "base", 0, 0)
    # The same seeded draws, trained on shifted images: other validation accuracies.
    assert [t.params for t in study.trials] == [t.params for t in course.trials]
    assert [t.value for t in study.trials] != [t.value for t in course.trials]
    # final-report without --recipe trains the study's best config under the recipe it was tuned with.
    plan = final_plans.make_plan(storage=StorageHandle.resolve(url=shifted).open(readonly=True), study_name="base",
                           epochs=None)
    assert (plan.recipe.name, plan.recipe.max_shift, plan.epochs) == ("shifted", 1, 1)
    plain_plan = final_plans.make_plan(storage=StorageHandle.resolve(url=plain).open(readonly=True), study_name="base",
                                 epochs=None)
    assert (plain_plan.recipe, plain_plan.epochs) == (recipes.course_recipe(epochs=1), 1)


def test_a_study_of_another_recipe_is_refused_and_one_beside_it_is_warned_about(tmp_path, tiny_study, data_dir):
    recipe = tmp_path / "shifted.toml"
    recipe.write_text(SHIFTED_RECIPE)
    db = tmp_path / "p.db"
    first = run_cli(tune_args(study_file=tiny_study, url=f"sqlite:///{db}", trials=1, workers=1,
                              extra=("--recipe", str(recipe))), data_dir=data_dir)
    assert_ok(first)
    assert "note:" not in first.stderr
    before, files = db.read_bytes(), sorted(tmp_path.iterdir())

    # The same study without --recipe: refused in one line, not a byte written.
    continued = run_cli(tune_args(study_file=tiny_study, url=f"sqlite:///{db}", trials=2, workers=1,
                                  extra=("--epochs", "1")), data_dir=data_dir)
    assert continued.returncode == 2, continued.stderr
    errors = error_lines(continued.stderr)
    assert len(errors) == 1 and "recipe" in errors[0] and "--storage" in errors[0], continued.stderr
    assert "Traceback" not in continued.stderr
    assert db.read_bytes() == before and sorted(tmp_path.iterdir()) == files

    # Another study beside it: tuned, with a note before any trial that a report will not mix them.
    beside = run_cli(tune_args(study_file=tiny_study, url=f"sqlite:///{db}", trials=1, workers=1,
                               extra=("--study", "base-course", "--epochs", "1")), data_dir=data_dir)
    assert_ok(beside)
    assert ("note: base (shifted) in this storage was tuned under another recipe than course (no augmentation); "
            "a report never compares studies of different recipes: tune under one recipe per --storage") in beside.stderr


def test_tune_notes_the_studies_beside_it_tuned_at_other_epochs(tmp_path):
    request = tiny_job(tmp_path=tmp_path, trials=1)
    storage = request.storage.open()
    for name, epochs in (("sep", TINY_EPOCHS), ("joint", TINY_EPOCHS + 1)):
        beside = optuna.create_study(study_name=name, storage=storage, direction="maximize")
        record = tuning_setup.tuned_record(request=request, fingerprint="beside")
        label_study(beside, record=dataclasses.replace(record, arch=name, epochs=epochs))

    assert tuning_setup.unlike_studies_note(request=request) == (
        f"note: joint ({TINY_EPOCHS + 1}) in this storage was tuned at other epochs per trial than {TINY_EPOCHS}; "
        "a report trains each study's choice at its own epochs and compares them only when given --epochs N for all")


@pytest.mark.slow  # two more CLI runs; the other direction is checked in the unit suite above
def test_a_plain_study_continued_under_a_recipe_exits_2_and_changes_no_byte(tmp_path, tiny_study, data_dir):
    recipe = tmp_path / "shifted.toml"
    recipe.write_text(SHIFTED_RECIPE)
    db = tmp_path / "p.db"
    assert_ok(run_cli(tune_args(study_file=tiny_study, url=f"sqlite:///{db}", trials=1, workers=1,
                                extra=("--epochs", "1")), data_dir=data_dir))
    before, files = db.read_bytes(), sorted(tmp_path.iterdir())

    result = run_cli(tune_args(study_file=tiny_study, url=f"sqlite:///{db}", trials=2, workers=1,
                               extra=("--recipe", str(recipe), "--epochs", "1")), data_dir=data_dir)

    assert result.returncode == 2, result.stderr
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and "recipe" in errors[0] and "--storage" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert db.read_bytes() == before and sorted(tmp_path.iterdir()) == files


# --- other storages --------------------------------------------------------------------------


def test_journal_file_two_workers_exact_budget(tmp_path, tiny_study, data_dir):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = tmp_path / "j.log"
    result = run_cli(tune_args(study_file=tiny_study, url=f"journal:{path}", trials=3), data_dir=data_dir)
    assert_ok(result)
    study = load(JournalStorage(JournalFileBackend(str(path))))
    assert finished(study) == 3
    assert states(study).get(TrialState.RUNNING, 0) == 0

    # A trial left RUNNING (a killed worker, or one still at work elsewhere: without a heartbeat
    # nothing tells them apart) holds the last unit of a budget of 4: this tune's share is done.
    study.ask()
    again = run_cli(tune_args(study_file=tiny_study, url=f"journal:{path}", trials=4), data_dir=data_dir)
    assert again.returncode == 0, again.stderr
    assert ("the budget is taken: 3/4 finished and 1 RUNNING in other workers, or left by a killed one "
            "(a journal storage has no heartbeat to tell them apart)") in again.stderr
    assert len(load(JournalStorage(JournalFileBackend(str(path)))).trials) == 4  # nothing beyond the budget


@pytest.mark.postgres
def test_postgres_two_tune_processes_share_one_budget(pg_url, tiny_study, data_dir):
    trials = 5
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "pairsearch",
             *tune_args(study_file=tiny_study, url=pg_url, trials=trials, workers=1)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(data_dir), cwd=REPO,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode == 0, f"stdout:\n{stdout}\nstderr:\n{stderr}"
    study = load(pg_url)
    assert finished(study) == trials
    assert states(study).get(TrialState.RUNNING, 0) == 0
    assert len(study.trials) == trials  # nobody started a surplus trial


def _prepare_at_once(url: str, tmp_path: Path, fingerprint: str, *, name: str, starts: int = 4) -> list[str]:
    """``starts`` threads run tune's study preparation at the same moment; their errors."""
    import threading

    job = dataclasses.replace(tiny_job(tmp_path=tmp_path, trials=2), storage=StorageHandle.resolve(url=url),
                              study_name=name)
    barrier, errors, returned = threading.Barrier(starts), [], []

    def prepare() -> None:
        barrier.wait()
        try:
            tuning_setup.prepare_study(request=job, fingerprint=fingerprint)
            returned.append(True)
        except Exception as error:  # noqa: BLE001 - collected for the assertion
            errors.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=prepare) for _ in range(starts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # Every start ended, one way or the other: a hung preparation fails here, not silently.
    assert not any(thread.is_alive() for thread in threads) and len(returned) + len(errors) == starts
    return errors


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_tune_processes_starting_together_all_accept_the_new_study(kind, tmp_path, pools, request):
    """No start may see a half-labelled study and call it a different spec (or other data)."""
    url = request.getfixturevalue("pg_url") if kind == "postgres" else f"sqlite:///{tmp_path / 'p.db'}"
    StorageHandle.resolve(url=url).open()  # the schema exists; only the studies' creation races
    for attempt in range(5):
        name = f"base-{attempt}"
        assert _prepare_at_once(url, tmp_path, pools.fingerprint, name=name) == []
        assert load(url, name).user_attrs["spec_hash"]


# --- diverged trials -------------------------------------------------------------------------


def nan_split(split: Split) -> Split:
    """The split with NaN training images: the first loss is NaN."""
    train = split.train
    return Split(
        PairSet(torch.full_like(train.images, math.nan), train.targets, train.classes),
        split.evaluation, split.evaluation_name,
    )


def tiny_job(*, tmp_path: Path, trials: int) -> tuning.TuneRequest:
    spec = load_study_file(path=write_tiny_study(tmp_path, epochs=TINY_EPOCHS))
    return tuning.TuneRequest(
        spec=spec, study_name="base", storage=StorageHandle.resolve(url=f"sqlite:///{tmp_path / 'p.db'}"),
        trials=trials, data=DataChoice(source="mnist5k", data_dir=tmp_path / "unused"),
        recipe=course_recipe(epochs=spec.epochs),
    )


def run_worker_loop_here(job: tuning.TuneRequest) -> None:
    """A worker's loop in this process (the torch thread count it sets is given back after the test)."""
    tuning.run_trials(request=job)


def test_diverged_trial_fails_with_stop_reason(tmp_path, pools, small_split):
    job = tiny_job(tmp_path=tmp_path, trials=1)
    study = tuning_setup.prepare_study(request=job, fingerprint=pools.fingerprint)
    objective = tuning.make_objective(request=job, split=nan_split(small_split), device=torch.device("cpu"))
    study.optimize(objective, n_trials=1)
    (trial,) = load(job.storage.url).trials
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["stop_reason"] == "diverged"
    assert trial.value is None


def test_worker_loop_goes_on_after_a_diverged_trial(tmp_path, data_dir, pools, monkeypatch):
    """The first trial diverges (NaN data); the worker still finishes the whole budget."""
    from pairsearch.training import loop

    real_train_run = loop.train_run
    calls = []

    def first_run_diverges(**kwargs):
        calls.append(kwargs["params"])
        if len(calls) == 1:
            kwargs["split"] = nan_split(kwargs["split"])
        return real_train_run(**kwargs)

    monkeypatch.setattr(loop, "train_run", first_run_diverges)
    job = dataclasses.replace(tiny_job(tmp_path=tmp_path, trials=3), data=DataChoice(source="mnist5k", data_dir=data_dir))
    tuning_setup.prepare_study(request=job, fingerprint=pools.fingerprint)
    run_worker_loop_here(job)
    study = load(job.storage.url)
    counted = states(study)
    assert counted == {TrialState.FAIL: 1, TrialState.COMPLETE: 3}
    (failed,) = study.get_trials(states=(TrialState.FAIL,))
    assert failed.number == 0
    assert failed.user_attrs["stop_reason"] == "diverged"
    assert len(calls) == 4


# --- Ctrl-C inside a worker, at the worst moments (in-process, deterministic) -------------------


class InterruptingSampler(optuna.samplers.RandomSampler):
    """Ctrl-C arrives while Optuna creates (``before_trial``) or finishes (``after_trial``) a trial."""

    def __init__(self, moment: str) -> None:
        super().__init__(seed=0)
        self.moment = moment

    def before_trial(self, study, trial) -> None:
        if self.moment == "create":
            os.kill(os.getpid(), signal.SIGINT)

    def after_trial(self, study, trial, state, values) -> None:
        if self.moment == "finish":
            os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture
def worker_signal_handlers(monkeypatch):
    """The handlers a tune worker installs, restored afterwards."""
    monkeypatch.setattr(interrupts.GATE, "pending", False)
    verbosity = optuna.logging.get_verbosity()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, interrupts._raise_keyboard_interrupt)
    yield
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    optuna.logging.set_verbosity(verbosity)


@pytest.mark.parametrize("moment", ["create", "finish"])
def test_ctrl_c_while_optuna_writes_a_trial_never_leaves_it_running(tmp_path, moment, worker_signal_handlers):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    study = optuna.create_study(study_name="s", storage=url, sampler=InterruptingSampler(moment),
                                direction="maximize")
    with pytest.raises(KeyboardInterrupt):
        runtime.claim_one(handle=StorageHandle.resolve(url=url), queue=runtime.WorkQueue(
            study=study, objective=lambda trial: trial.suggest_float("x", 0, 1), decide=lambda counts: "run",
        ))
    trials = load(url, "s").trials
    assert all(trial.state != TrialState.RUNNING for trial in trials), [t.state for t in trials]
    if moment == "create":  # failed before it drew any params: nothing to run again
        assert [(trial.state, trial.params) for trial in trials] == [(TrialState.FAIL, {})]
    else:  # it had finished: kept, nothing to retry
        assert [trial.state for trial in trials] == [TrialState.COMPLETE]


# --- killed and interrupted workers (slow: real processes, real heartbeats) ---------------------


def sqlite_states(db: Path) -> list[str]:
    """Trial states straight from the SQLite file (cheap enough to poll)."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
            return [row[0] for row in connection.execute("SELECT state FROM trials")]
    except sqlite3.OperationalError:  # tables not created yet
        return []


@pytest.mark.slow
def test_killed_worker_trial_is_retried_and_the_budget_is_exact(tmp_path, data_dir):
    study_file = tmp_path / "slow.toml"
    study_file.write_text(SLOW_STUDY)
    db, trials = tmp_path / "p.db", 6
    process = start_cli(tune_args(study_file=study_file, url=f"sqlite:///{db}", trials=trials),
                         data_dir=data_dir, PAIRSEARCH_HEARTBEAT_SECONDS="2")
    try:
        wait_for(lambda: sqlite_states(db).count("RUNNING") == 2, timeout=120,
                 what="two running trials", process=process)
        time.sleep(0.5)  # mid-epoch
        workers = worker_pids(process.pid)
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGKILL)
        _, stderr = process.communicate(timeout=240)
    finally:
        stop_group(process)
    # The parent reports that a worker died; the study itself must still be whole.
    assert process.returncode in (0, 1), stderr
    assert "Traceback" not in stderr, stderr
    study = load(f"sqlite:///{db}")
    counted = states(study)
    assert finished(study) == trials, counted
    assert counted.get(TrialState.RUNNING, 0) == 0, counted
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert failed, "the killed worker's trial was never failed"
    done = study.get_trials(states=(TrialState.COMPLETE,))
    for trial in failed:
        retries = [t for t in done if t.system_attrs.get("failed_trial") == trial.number or t.params == trial.params]
        assert retries, f"trial {trial.number} ({trial.params}) was not retried"


@pytest.mark.slow
def test_ctrl_c_stops_everything_and_requeues_the_running_trials(tmp_path, data_dir):
    study_file = tmp_path / "slow.toml"
    study_file.write_text(SLOW_STUDY)
    db, trials = tmp_path / "p.db", 4
    args = tune_args(study_file=study_file, url=f"sqlite:///{db}", trials=trials)
    process = start_cli(args, data_dir=data_dir, PAIRSEARCH_HEARTBEAT_SECONDS="2")
    try:
        wait_for(lambda: "RUNNING" in sqlite_states(db), timeout=120, what="a running trial", process=process)
        time.sleep(1.0)  # mid-epoch
        stderr, all_gone = stop_with_signal(process, signal.SIGINT, timeout=30)
    finally:
        stop_group(process)
    assert all_gone < 5, f"tune and its workers took {all_gone:.1f}s to stop"
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr

    study = load(f"sqlite:///{db}")
    assert states(study).get(TrialState.RUNNING, 0) == 0, states(study)
    failed = study.get_trials(states=(TrialState.FAIL,))
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert failed and waiting
    # A queued trial keeps its params as Optuna's fixed_params until a worker picks it up; a
    # worker may have picked up the other's retry just as Ctrl-C came (then it has no params yet).
    assert {json.dumps(t.params or t.system_attrs["fixed_params"], sort_keys=True) for t in failed} == {
        json.dumps(t.system_attrs["fixed_params"], sort_keys=True) for t in waiting
    }
    assert {t.user_attrs["retry_of"] for t in waiting} <= {t.number for t in failed}
    assert {t.user_attrs.get("stop_reason") for t in failed} == {"interrupted"}
    assert all(t.user_attrs["n_parameters"] > 0 for t in failed if t.params)

    result = run_cli(args, data_dir=data_dir, PAIRSEARCH_HEARTBEAT_SECONDS="2")
    assert_ok(result)
    study = load(f"sqlite:///{db}")
    counted = states(study)
    assert finished(study) == trials, counted
    assert counted.get(TrialState.RUNNING, 0) == 0 and counted.get(TrialState.WAITING, 0) == 0, counted
    reran = {json.dumps(t.params, sort_keys=True) for t in study.get_trials(states=(TrialState.COMPLETE,))}
    assert {json.dumps(t.params, sort_keys=True) for t in failed} <= reran


def test_every_trial_records_its_size_and_why_it_stopped(tmp_path, data_dir, pools):
    """Pruned trials too: the dashboard's accuracy-vs-size view has no holes."""
    study_file = tmp_path / "pruned.toml"
    study_file.write_text(write_tiny_study(tmp_path, epochs=3).read_text().replace(
        '[pruner]\nname = "none"', '[pruner]\nname = "median"\nn_startup_trials = 1\nn_warmup_steps = 0'))
    spec = load_study_file(path=study_file)
    job = dataclasses.replace(tiny_job(tmp_path=tmp_path, trials=6), spec=spec, recipe=course_recipe(epochs=spec.epochs),
                              data=DataChoice(source="mnist5k", data_dir=data_dir))
    tuning_setup.prepare_study(request=job, fingerprint=pools.fingerprint)
    run_worker_loop_here(job)
    trials = load(job.storage.url).trials
    assert {t.state for t in trials} == {TrialState.COMPLETE, TrialState.PRUNED}, [t.state for t in trials]
    for trial in trials:
        assert trial.user_attrs["n_parameters"] > 0
        expected = "pruned" if trial.state == TrialState.PRUNED else "completed"
        assert trial.user_attrs["stop_reason"] == expected
