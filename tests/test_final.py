"""The final stage: seeded jobs in ``<study>.final``, the final protocol, reruns, bad input.

Tuning here is real but tiny (``write_tiny_study``: a trial takes a fraction of a second) and
runs in-process, as do the final jobs where a test checks the protocol; the ``final-report``
command itself runs as a user would run it (a subprocess) where a test checks what it says or
writes. The slow end-to-end checks (a killed job, the README flow, Postgres) are in
``test_final_e2e.py``; the one slow check here reports a storage of two recipes three ways.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import optuna
import pandas as pd
import pytest
from conftest import SHIFTED_RECIPE, copy_one_search_run, run_cli, storage_digest, write_tiny_study
from optuna.trial import TrialState

from pairsearch import final_plans, inputs, jobs, searches, studyspec, tuning, tuning_setup
from pairsearch.data.pairs import DataChoice, final_split
from pairsearch.data.sources import load_pools
from pairsearch.errors import PairsearchError
from pairsearch.records import TunedStudy, final_job
from pairsearch.report.results import collect_results, write_final_report
from pairsearch.report.run_record import run_record
from pairsearch.storage.handle import StorageHandle
from pairsearch.training.augment import make_augment
from pairsearch.training.loop import train_run
from pairsearch.training.models import get_arch
from pairsearch.training.recipes import Recipe, course_recipe
from pairsearch.workers import final_worker

TINY_FIXED = {"hidden": 8, "batch_size": 250}  # the [fixed] table of conftest's tiny study file
REPORT_FILES = ("report.html", "results.csv", "curves.csv", "summary.md", "pairwise.csv")


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'pairsearch.db'}"


def tune(
    *, url: str, data_dir: Path, directory: Path, arch: str = "base", study_name: str | None = None,
    trials: int = 2, epochs: int = 1, study_file: Path | None = None, recipe_file: Path | None = None,
) -> optuna.Study:
    """Tune a tiny study in this process with the real worker loop, its recipe resolved as
    ``tune --recipe recipe_file`` resolves it (the course's training without); returns the study."""
    path = study_file or write_tiny_study(directory, arch=arch, epochs=epochs)
    spec, recipe = inputs.tuning_spec_and_recipe(arch=arch, study_file=path, epochs=None, pruner=None,
                                                 recipe_name=None if recipe_file is None else str(recipe_file))
    pools = load_pools(source="mnist5k", data_dir=data_dir)
    job = tuning.TuneRequest(
        spec=spec, recipe=recipe, study_name=study_name or arch, storage=StorageHandle.resolve(url=url),
        trials=trials, data=DataChoice(source=pools.source, data_dir=data_dir),
    )
    tuning_setup.prepare_study(request=job, fingerprint=pools.fingerprint)
    tuning.run_trials(request=job)
    return optuna.load_study(study_name=job.study_name, storage=StorageHandle.resolve(url=url).open())


def run_final_jobs(*, url: str, data_dir: Path, plans: list[jobs.FinalPlan]) -> None:
    """What one ``final-report`` worker does, in this process."""
    worker = final_worker.JobWorker(storage=StorageHandle.resolve(url=url), data_dir=data_dir,
                             final_studies=tuple(p.final_study_name for p in plans))
    final_worker.run_jobs(worker=worker)


def tune_and_run_jobs(*, url: str, data_dir: Path, directory: Path, trials: int,
                      seeds: int) -> tuple[optuna.Study, jobs.FinalPlan]:
    """``base`` tuned for ``trials``, then its plan's jobs at 1 epoch for ``seeds`` enqueued and run,
    in this process: what a first ``final-report`` leaves in the storage. Returns the study and the plan."""
    tuned = tune(url=url, data_dir=data_dir, directory=directory, trials=trials)
    plan = final_plans.make_plan(storage=StorageHandle.resolve(url=url).open(), study_name="base", epochs=1)
    final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=plan, seeds=seeds)
    run_final_jobs(url=url, data_dir=data_dir, plans=[plan])
    return tuned, plan


def final_trials(*, url: str, plan: jobs.FinalPlan) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=plan.final_study_name, storage=StorageHandle.resolve(url=url).open())
    return study.get_trials(deepcopy=False)


def seeds_of(trials, *, config_hash: str) -> collections.Counter:
    return collections.Counter(t.user_attrs["seed"] for t in trials if t.user_attrs.get("config_hash") == config_hash)


def expected_params(*, arch: str, trial: optuna.trial.FrozenTrial) -> dict:
    """The arch's defaults, then the study file's [fixed] values, then the trial's own params."""
    return {**get_arch(arch).defaults, **TINY_FIXED, **trial.params}


def add_better_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    """A finished trial better than any tuned one, with params no tuned trial has."""
    template = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))[0]
    params = {"channels": 7, "lr": 0.001234}
    assert all(t.params != params for t in study.trials)
    study.add_trial(optuna.create_trial(
        params=params, distributions=template.distributions, value=0.999,
        user_attrs={"stop_reason": "completed"},
    ))
    return study.trials[-1]


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    return lines[0]


# --- jobs: idempotent, topped up, safe to create concurrently -----------------------------------


def test_ensure_jobs_is_idempotent_and_tops_up_when_seeds_grow(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    tune(url=url, data_dir=data_dir, directory=tmp_path, trials=1)
    storage = StorageHandle.resolve(url=url).open()
    plan = final_plans.make_plan(storage=storage, study_name="base", epochs=2)

    assert final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=plan, seeds=3) == (3, [])
    assert final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=plan, seeds=3) == (0, [])
    trials = final_trials(url=url, plan=plan)
    assert seeds_of(trials, config_hash=plan.config_hash) == {1000: 1, 1001: 1, 1002: 1}
    assert {t.state for t in trials} == {TrialState.WAITING}

    assert final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=plan, seeds=5) == (2, [])
    assert seeds_of(final_trials(url=url, plan=plan), config_hash=plan.config_hash) == {
        s: 1 for s in searches.final_seeds(5)}

    # Fewer seeds later removes nothing and adds nothing.
    assert final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=plan, seeds=2) == (0, [])
    assert len(final_trials(url=url, plan=plan)) == 5


def test_job_attributes_describe_the_job(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    tuned = tune(url=url, data_dir=data_dir, directory=tmp_path, trials=2)
    storage = StorageHandle.resolve(url=url).open()
    plan = final_plans.make_plan(storage=storage, study_name="base", epochs=3)
    final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=plan, seeds=2)

    final_study = optuna.load_study(study_name="base.final", storage=storage)
    assert final_study.user_attrs["kind"] == "final"
    assert final_study.user_attrs["tuning_study"] == "base"
    assert final_plans.searches_of(storage=storage, groups=()) == ["base"]  # not base.final
    assert sorted(t.user_attrs["seed"] for t in final_study.trials) == searches.final_seeds(2)
    for trial in final_study.trials:
        attrs = trial.user_attrs
        assert attrs["arch"] == "base"
        assert attrs["epochs"] == 3
        assert attrs["params"] == plan.params
        assert attrs["config_hash"] == plan.config_hash
        assert attrs["data_source"] == "mnist5k"
        assert attrs["data_fingerprint"] == tuned.user_attrs["data_fingerprint"]
        assert attrs["best_trial"] == plan.best_trial


def test_ensure_jobs_from_concurrent_threads_makes_each_job_once(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    tune(url=url, data_dir=data_dir, directory=tmp_path, trials=1)
    plan = final_plans.make_plan(storage=StorageHandle.resolve(url=url).open(), study_name="base", epochs=2)
    callers = 4
    barrier = threading.Barrier(callers)

    def enqueue(_: int) -> int:
        barrier.wait()
        return final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=plan, seeds=3)[0]

    with ThreadPoolExecutor(callers) as pool:  # the .final study does not exist yet either
        added = list(pool.map(enqueue, range(callers)))
    assert sum(added) == 3
    assert seeds_of(final_trials(url=url, plan=plan), config_hash=plan.config_hash) == {
        s: 1 for s in searches.final_seeds(3)}


# --- the final protocol -------------------------------------------------------------------------


def test_final_jobs_follow_the_protocol(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    for arch in ("base", "digits"):
        tune(url=url, data_dir=data_dir, directory=tmp_path, arch=arch, trials=3)
    storage = StorageHandle.resolve(url=url).open()
    plans = [final_plans.make_plan(storage=storage, study_name=arch, epochs=2) for arch in ("base", "digits")]
    for plan in plans:
        final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=plan, seeds=3)
    run_final_jobs(url=url, data_dir=data_dir, plans=plans)
    results, curves = collect_results(storage=storage, plans=plans)

    # One row per final seed 1000..1000+S-1 per arch: the same seeds for every arch (paired), none
    # of them the tuning seed (0).
    seeds = searches.final_seeds(3)
    assert seeds == [1000, 1001, 1002]
    assert results.groupby("arch")["seed"].apply(list).to_dict() == {"base": seeds, "digits": seeds}
    assert {plan.tuning_seed for plan in plans} == {0}
    assert len(curves) == 2 * 3 * 2

    for plan in plans:
        tuned = optuna.load_study(study_name=plan.study_name, storage=storage)
        complete = tuned.get_trials(states=(TrialState.COMPLETE,))
        best = next(t for t in complete if t.number == plan.best_trial)
        assert best.value == max(t.value for t in complete)
        # The job's params are the best trial's, with the study file's [fixed] values merged.
        assert plan.params == expected_params(arch=plan.arch, trial=best)

        jobs = final_trials(url=url, plan=plan)
        assert [t.state for t in jobs] == [TrialState.COMPLETE] * 3
        for job in jobs:
            attrs = job.user_attrs
            assert attrs["params"] == plan.params
            history = attrs["history"]
            assert [epoch["epoch"] for epoch in history] == [1, 2]
            # Test accuracy is the last epoch's, not the best epoch's.
            assert job.value == history[-1]["eval_accuracy"]
            row = results[(results.arch == plan.arch) & (results.seed == attrs["seed"])]
            assert row.test_accuracy.item() == history[-1]["eval_accuracy"]
            assert json.loads(row.params.item()) == plan.params
            last = curves[(curves.arch == plan.arch) & (curves.seed == attrs["seed"]) & (curves.epoch == 2)]
            assert last.test_accuracy.item() == job.value
        # Different seeds train on different pairs from different initialisations.
        runs = {tuple((e["train_loss"], e["eval_accuracy"]) for e in t.user_attrs["history"]) for t in jobs}
        assert len(runs) == 3

    # The job is exactly a train_run on the seed's final split (fresh train pairs, test pairs).
    base_plan = plans[0]
    seed = seeds[1]
    stored = next(t for t in final_trials(url=url, plan=base_plan) if t.user_attrs["seed"] == seed)
    pools = load_pools(source="mnist5k", data_dir=data_dir)
    again = train_run(arch="base", params=base_plan.params, split=final_split(pools=pools, seed=seed), epochs=2,
                      seed=seed)
    assert [(r.train_loss, r.eval_accuracy) for r in again.history] == [
        (e["train_loss"], e["eval_accuracy"]) for e in stored.user_attrs["history"]
    ]


def test_report_uses_only_the_requested_seeds(tmp_path, data_dir):
    """Jobs of a run with more seeds stay in the storage; --seeds 2 reports the first two final seeds."""
    url = sqlite_url(tmp_path)
    _, plan = tune_and_run_jobs(url=url, data_dir=data_dir, directory=tmp_path, trials=1, seeds=3)

    out = tmp_path / "report"
    write_final_report(handle=StorageHandle.resolve(url=url), plans=[plan], seeds=2, out_dir=out)
    assert pd.read_csv(out / "results.csv")["seed"].tolist() == searches.final_seeds(2) == [1000, 1001]
    assert sorted(pd.read_csv(out / "curves.csv")["seed"].unique()) == searches.final_seeds(2)


def test_two_studies_of_one_arch_are_reported_apart(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    tune(url=url, data_dir=data_dir, directory=tmp_path, study_name="base", trials=1)
    other = tune(url=url, data_dir=data_dir, directory=tmp_path, study_name="base_again", trials=1)
    add_better_trial(other)  # a different best config from the first study's
    storage = StorageHandle.resolve(url=url).open()
    plans = [final_plans.make_plan(storage=storage, study_name=name, epochs=1) for name in ("base", "base_again")]
    assert plans[0].config_hash != plans[1].config_hash
    for plan in plans:
        final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=plan, seeds=2)
    run_final_jobs(url=url, data_dir=data_dir, plans=plans)

    results, _ = collect_results(storage=storage, plans=plans)
    assert len(results) == 4
    assert sorted(results["arch"].unique()) == ["base", "base_again"]
    assert results.groupby("arch")["params"].nunique().tolist() == [1, 1]
    assert results["params"].nunique() == 2


# --- the best trial changes ---------------------------------------------------------------------


def test_new_best_trial_gets_new_jobs_and_only_its_results_are_reported(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    tuned, old = tune_and_run_jobs(url=url, data_dir=data_dir, directory=tmp_path, trials=2, seeds=2)

    better = add_better_trial(tuned)
    new = final_plans.make_plan(storage=StorageHandle.resolve(url=url).open(), study_name="base", epochs=1)
    assert new.best_trial == better.number
    assert new.params == expected_params(arch="base", trial=better)
    assert new.config_hash != old.config_hash
    added, notes = final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=new, seeds=2)
    assert added == 2
    assert len(notes) == 1 and f"#{better.number}" in notes[0] and "changed" in notes[0]
    run_final_jobs(url=url, data_dir=data_dir, plans=[new])

    trials = final_trials(url=url, plan=new)
    seeds = searches.final_seeds(2)
    assert seeds_of(trials, config_hash=new.config_hash) == {s: 1 for s in seeds}
    assert seeds_of(trials, config_hash=old.config_hash) == {s: 1 for s in seeds}  # kept, not used
    assert {t.state for t in trials} == {TrialState.COMPLETE}
    out = tmp_path / "report"
    write_final_report(handle=StorageHandle.resolve(url=url), plans=[new], seeds=2, out_dir=out)
    results = pd.read_csv(out / "results.csv")
    assert results["seed"].tolist() == seeds
    assert [json.loads(p) for p in results["params"]] == [new.params, new.params]
    new_values = {t.value for t in trials if t.user_attrs["config_hash"] == new.config_hash}
    assert set(results["test_accuracy"]) == new_values

    # Said once: a later run with nothing new to make neither repeats it nor makes jobs.
    assert final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=new, seeds=2) == (0, [])
    # Back to the old best: its finished jobs count again.
    assert final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=old, seeds=2)[0] == 0


# --- a rerun trains nothing ---------------------------------------------------------------------


def test_rerun_trains_nothing_and_rewrites_the_report(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    _, plan = tune_and_run_jobs(url=url, data_dir=data_dir, directory=tmp_path, trials=2, seeds=2)
    out = tmp_path / "report"
    write_final_report(handle=StorageHandle.resolve(url=url), plans=[plan], seeds=2, out_dir=out)
    for name in REPORT_FILES:
        os.utime(out / name, (0, 0))
    before = [(t.number, t.state, t.value, t.datetime_complete) for t in final_trials(url=url, plan=plan)]

    result = run_cli(
        ["final-report", "--storage", url, "--seeds", "2", "--epochs", "1", "--out", str(out), "--workers", "1", "--quiet"],
        data_dir=data_dir,
    )
    assert result.returncode == 0, result.stderr
    assert "0 new job(s) of 2" in result.stderr
    after = [(t.number, t.state, t.value, t.datetime_complete) for t in final_trials(url=url, plan=plan)]
    assert after == before
    for name in REPORT_FILES:
        assert (out / name).stat().st_mtime > 0, f"{name} was not rewritten"
    assert (out / "summary.md").read_text().strip() in result.stdout


# --- training recipes -----------------------------------------------------------------------------

SHIFTED = Recipe(name="shifted", epochs=1, max_shift=1)


def histories(trials) -> dict[int, list]:
    return {t.user_attrs["seed"]: [(e["train_loss"], e["eval_accuracy"]) for e in t.user_attrs["history"]]
            for t in trials}


def test_epochs_are_carried_once_by_the_plans_recipe_and_jobs_train_them(tmp_path, data_dir):
    """--epochs is applied to the plan's recipe, once: its jobs train those epochs and store them
    beside the recipe as the study was tuned under it (the stored form of every job so far)."""
    url = sqlite_url(tmp_path)
    tune(url=url, data_dir=data_dir, directory=tmp_path, trials=1, epochs=1)
    plan = final_plans.make_plan(storage=StorageHandle.resolve(url=url).open(), study_name="base", epochs=2)
    assert "epochs" not in {field.name for field in dataclasses.fields(jobs.FinalPlan)}
    assert (plan.recipe, plan.epochs) == (course_recipe(epochs=2), 2)
    assert plan.recipe_record == course_recipe(epochs=1).to_record()

    final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=plan, seeds=1)
    run_final_jobs(url=url, data_dir=data_dir, plans=[plan])

    [trial] = final_trials(url=url, plan=plan)
    assert trial.state == TrialState.COMPLETE
    assert [epoch["epoch"] for epoch in trial.user_attrs["history"]] == [1, 2]
    assert (trial.user_attrs["epochs"], trial.user_attrs["recipe"]) == (2, course_recipe(epochs=1).to_record())
    assert final_job(trial).training_recipe == plan.recipe


def test_a_recipe_change_makes_new_jobs_and_results_never_mix(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    tune(url=url, data_dir=data_dir, directory=tmp_path, trials=1, epochs=1)
    storage = StorageHandle.resolve(url=url).open()
    course = final_plans.make_plan(storage=storage, study_name="base", epochs=None)
    shifted = final_plans.make_plan(storage=storage, study_name="base", epochs=None, retrain_recipe=SHIFTED)
    assert (course.epochs, shifted.epochs) == (1, 1) and course.config_hash != shifted.config_hash

    assert final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=course, seeds=2) == (2, [])
    # Another recipe's jobs are new, and no "best trial changed" note: they are no earlier config.
    assert final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=shifted, seeds=2) == (2, [])
    run_final_jobs(url=url, data_dir=data_dir, plans=[course, shifted])

    trials = final_trials(url=url, plan=course)
    by_recipe = {name: [t for t in trials if t.user_attrs["recipe"]["name"] == name] for name in ("course", "shifted")}
    assert [len(by_recipe[name]) for name in by_recipe] == [2, 2]
    for plan, name in ((course, "course"), (shifted, "shifted")):
        results, _ = collect_results(storage=storage, plans=[plan])
        assert set(results["test_accuracy"]) == {t.value for t in by_recipe[name]}
        assert set(results["recipe"]) == {name}
    # Each job trained as its recipe says: the shifted ones with the seeded shifts, the course
    # ones exactly as a plain run.
    pools = load_pools(source="mnist5k", data_dir=data_dir)
    for name, max_shift in (("course", 0), ("shifted", 1)):
        for seed, stored in histories(by_recipe[name]).items():
            again = train_run(arch="base", params=course.params, split=final_split(pools=pools, seed=seed),
                              epochs=1, seed=seed, augment=make_augment(max_shift=max_shift, seed=seed))
            assert [(r.train_loss, r.eval_accuracy) for r in again.history] == stored
    assert histories(by_recipe["course"]) != histories(by_recipe["shifted"])
    # The same name for another training: new jobs, and the note says what changed.
    wider = final_plans.make_plan(storage=storage, study_name="base", epochs=None,
                                  retrain_recipe=dataclasses.replace(SHIFTED, max_shift=2))
    note = ("base: what recipe shifted trains (training images shifted by up to 1 px, now training images shifted "
            "by up to 2 px) changed since earlier final jobs of recipe shifted were made; making new jobs, the old "
            "results are kept but not used")
    assert final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=wider, seeds=1) == (1, [note])


def test_a_job_queued_before_recipes_runs_as_a_course_job(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    tune(url=url, data_dir=data_dir, directory=tmp_path, trials=1, epochs=1)
    plan = final_plans.make_plan(storage=StorageHandle.resolve(url=url).open(), study_name="base", epochs=None)
    final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=plan, seeds=1)
    study = optuna.load_study(study_name=plan.final_study_name, storage=StorageHandle.resolve(url=url).open())
    seed = searches.final_seeds(2)[1]  # the second final seed, which ensure_jobs(seeds=1) did not queue
    legacy = {key: value for key, value in plan.job(seed=seed).to_attrs().items() if key != "recipe"}
    study.enqueue_trial({}, user_attrs=legacy)  # as an older pairsearch queued it

    run_final_jobs(url=url, data_dir=data_dir, plans=[plan])

    trials = final_trials(url=url, plan=plan)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2 and "recipe" not in trials[1].user_attrs
    pools = load_pools(source="mnist5k", data_dir=data_dir)
    plain = train_run(arch="base", params=plan.params, split=final_split(pools=pools, seed=seed), epochs=1, seed=seed)
    assert histories(trials[1:]) == {seed: [(r.train_loss, r.eval_accuracy) for r in plain.history]}
    assert final_plans.missing_seeds(storage=StorageHandle.resolve(url=url).open(), plan=plan, seeds=2) == []


def test_final_report_under_a_second_recipe_answers_under_both(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    design = ("base", "base_aux", "sep", "sep_aux")
    for arch in design:
        tune(url=url, data_dir=data_dir, directory=tmp_path, arch=arch, trials=1, epochs=1)
    storage = StorageHandle.resolve(url=url).open()
    defaults = [final_plans.make_plan(storage=storage, study_name=arch, epochs=None) for arch in design]
    for plan in defaults:  # what a plain final-report --seeds 2 trains
        final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=plan, seeds=2)
    run_final_jobs(url=url, data_dir=data_dir, plans=defaults)
    recipe = tmp_path / "shifted.toml"
    recipe.write_text(SHIFTED_RECIPE)
    out = tmp_path / "report"

    result = run_cli(["final-report", "--storage", url, "--seeds", "2", "--recipe", str(recipe), "--out", str(out),
                      "--workers", "1", "--quiet"], data_dir=data_dir)

    assert result.returncode == 0, result.stderr
    assert "base (recipe shifted): best trial" in result.stderr and "2 new job(s) of 2" in result.stderr
    assert "Training recipe: shifted (1 epoch, training images shifted by up to 1 px)." in result.stdout
    assert set(pd.read_csv(out / "results.csv")["recipe"]) == {"shifted"}
    by_recipe = pd.read_csv(out / "effects_by_recipe.csv")
    # 7 effects per recipe and their change: each factor given the other's two levels and on average, and the interaction
    assert by_recipe.groupby("recipe").size().to_dict() == {"change": 7, "course": 7, "shifted": 7}
    page = (out / "report.html").read_text()
    assert "Under both training recipes: course and shifted" in page
    assert 'data-key="recipes/shared_weights/average"' in page and 'data-key="recipes/arch/sep"' in page
    assert page.count("hold under shifted?") == 3  # one sentence per question, in numbers
    # The terminal (summary.md) carries the same answers and the change table.
    assert "Does the interaction hold under shifted?" in result.stdout
    assert "| Change (points, 95 % CI) |" in result.stdout
    # The default recipe's results are those of the plain report, untouched by this run.
    course, _ = collect_results(storage=storage, plans=defaults, seeds=2)
    course_effects = by_recipe[by_recipe.recipe == "course"].reset_index(drop=True)
    from pairsearch.report.stats import factorial_effects

    assert course_effects["mean_diff"].tolist() == factorial_effects(results=course)["mean_diff"].tolist()


@pytest.mark.slow  # three final-report runs (about 40 s on 2 cores): end to end, run once in CI's slow stage
def test_studies_tuned_under_different_recipes_are_never_reported_together(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    shifted = tmp_path / "shifted.toml"
    shifted.write_text(SHIFTED_RECIPE)
    tune(url=url, data_dir=data_dir, directory=tmp_path, arch="base", trials=1, recipe_file=shifted)
    tune(url=url, data_dir=data_dir, directory=tmp_path, arch="sep", trials=1)
    db = tmp_path / "pairsearch.db"
    before = db.read_bytes()

    def report(*extra: str, out: str):
        return run_cli(["final-report", "--storage", url, "--seeds", "2", "--out", str(tmp_path / out), "--workers",
                        "1", "--quiet", *extra], data_dir=data_dir)

    refused = report(out="mixed")
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().splitlines() == [
        ("pairsearch: error: the studies were tuned under different training recipes (shifted (training images "
        "shifted by up to 1 px) for base; course (no augmentation) for sep); a report compares archs trained "
        "alike: give --recipe NAME to retrain them all under one, or --arch to report those of one recipe")]
    assert db.read_bytes() == before and not (tmp_path / "mixed").exists()

    # One recipe's study alone: its jobs train under it, and the summary's caption says so.
    alone = report("--arch", "base", out="base")
    assert alone.returncode == 0, alone.stderr
    assert "Training recipe: shifted (1 epoch, training images shifted by up to 1 px)." in alone.stdout
    assert set(pd.read_csv(tmp_path / "base" / "results.csv")["recipe"]) == {"shifted"}
    # --recipe puts both under one; their own recipes differ, so there is no answer under both.
    course = report("--recipe", "course", "--epochs", "1", out="course")
    assert course.returncode == 0, course.stderr
    assert "Training recipe" not in course.stdout
    assert set(pd.read_csv(tmp_path / "course" / "results.csv")["recipe"]) == {"course"}
    assert "Under both training recipes" not in (tmp_path / "course" / "report.html").read_text()
    assert ("note: no answer under both recipes, since no plain report compares these studies: the studies were "
            "tuned under different training recipes (shifted") in course.stderr


def _plan(study_name: str, recipe: Recipe, *, epochs: int | None = None) -> jobs.FinalPlan:
    """A plan as ``make_plan`` makes it under ``recipe``, with ``--epochs epochs`` where given."""
    return jobs.FinalPlan(study_name=study_name, arch=study_name, params={}, data_source="mnist5k",
                          data_fingerprint="f", best_trial=0, recipe=dataclasses.replace(recipe, epochs=epochs or recipe.epochs),
                          recipe_record=recipe.to_record())


def test_recipes_that_train_alike_are_one_recipe_whatever_their_names():
    course, plain = Recipe(name="course", epochs=10), Recipe(name="plain", epochs=10)
    shifted = Recipe(name="shifted", epochs=10, max_shift=1)

    final_plans.check_trained_alike(plans=[_plan("base", course), _plan("sep", plain)])  # a name is a label
    with pytest.raises(PairsearchError, match=r"\(shifted \(training images shifted by up to 1 px\) for sep; "
                                              r"course \(no augmentation\) for base, joint\)"):
        final_plans.check_trained_alike(plans=[_plan("sep", shifted), _plan("base", course), _plan("joint", plain)])


def test_studies_whose_jobs_would_train_for_different_epochs_are_not_compared():
    ten, twenty = Recipe(name="course", epochs=10), Recipe(name="course", epochs=20)

    with pytest.raises(PairsearchError, match=r"different epochs \(10 epochs for base, joint; 20 epochs for sep\)"
                                              r".* give --epochs N"):
        final_plans.check_trained_alike(plans=[_plan("base", ten), _plan("sep", twenty), _plan("joint", ten)])
    final_plans.check_trained_alike(plans=[_plan(arch, recipe, epochs=5)  # --epochs 5
                                     for arch, recipe in (("base", ten), ("sep", twenty))])


# --- independent searches: their studies and seeds ----------------------------------------------


def test_a_final_seed_that_is_a_tuning_seed_is_refused_in_one_line():
    course = Recipe(name="course", epochs=10)
    apart = [dataclasses.replace(_plan("base", course), tuning_seed=0),
             dataclasses.replace(_plan("sep", course), tuning_seed=2**20 + 5)]
    final_plans.check_seeds_apart(plans=apart, seeds=15)  # the study files' seed 0 and a derived seed
    clash = dataclasses.replace(_plan("sep", course), tuning_seed=searches.final_seeds(3)[2])

    with pytest.raises(PairsearchError) as caught:
        final_plans.check_seeds_apart(plans=[*apart, clash], seeds=3)

    message = one_line(str(caught.value))
    assert message.startswith("sep was tuned with seed 1002, one of the final seeds 1000…1002")
    final_plans.check_seeds_apart(plans=[*apart, clash], seeds=2)  # 1000 and 1001 only: apart again


def test_searches_of_a_group_are_its_studies_in_search_order(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    handle = StorageHandle.resolve(url=url)
    spec = studyspec.load_study_file(path=write_tiny_study(tmp_path, arch="base", epochs=1), arch="base")

    def request(name: str, repeats: int = 1) -> tuning.TuneRequest:
        return tuning.TuneRequest(spec=spec, study_name=name, storage=handle, trials=1, repeats=repeats,
                                  data=DataChoice(source="mnist5k", data_dir=data_dir),
                                  recipe=course_recipe(epochs=spec.epochs))

    group = request("base", repeats=3).searches()
    assert [search.study_name for search in group] == ["base", "base.search1", "base.search2"]
    # Made out of order, with a study whose name only starts like the group's, and another group.
    for search in (group[2], request("basement"), group[0], request("other"), group[1]):
        tuning_setup.prepare_study(request=search, fingerprint="f")
    storage = handle.open()
    optuna.create_study(study_name="someone-elses", storage=storage)  # no pairsearch study

    assert final_plans.searches_of(storage=storage, groups=("base",)) == ["base", "base.search1", "base.search2"]
    assert final_plans.searches_of(storage=storage, groups=("other", "base")) == [
        "other", "base", "base.search1", "base.search2"]
    assert final_plans.searches_of(storage=storage, groups=("base.search1",)) == ["base.search1"]
    assert final_plans.searches_of(storage=storage, groups=("nosuch",)) == ["nosuch"]  # make_plan says why
    # Every study: each group's searches together, search 0 first, groups as their first study was made.
    assert final_plans.searches_of(storage=storage, groups=()) == [
        "base", "base.search1", "base.search2", "basement", "other"]
    records = [TunedStudy.from_attrs(optuna.load_study(study_name=name, storage=storage).user_attrs, study_name=name)
               for name in ("base", "base.search1", "base.search2")]
    assert [(record.group, record.search) for record in records] == [("base", 0), ("base", 1), ("base", 2)]
    assert records[0].tuning_seed == spec.seed and len({record.tuning_seed for record in records}) == 3


# --- plans that cannot be made ------------------------------------------------------------------


def test_a_final_study_is_not_a_tuned_study(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    tune(url=url, data_dir=data_dir, directory=tmp_path, trials=1)
    storage = StorageHandle.resolve(url=url).open()
    plan = final_plans.make_plan(storage=storage, study_name="base", epochs=1)
    final_plans.ensure_jobs(handle=StorageHandle.resolve(url=url), plan=plan, seeds=2)
    run_final_jobs(url=url, data_dir=data_dir, plans=[plan])
    with pytest.raises(PairsearchError, match="base.final"):
        final_plans.make_plan(storage=storage, study_name="base.final", epochs=1)


def test_a_study_without_complete_trials_has_no_plan(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    tune(url=url, data_dir=data_dir, directory=tmp_path, trials=1)
    storage = StorageHandle.resolve(url=url).open()
    study = optuna.create_study(study_name="empty", storage=storage)
    for key, value in optuna.load_study(study_name="base", storage=storage).user_attrs.items():
        study.set_user_attr(key, value)
    with pytest.raises(PairsearchError, match="no complete trial"):
        final_plans.make_plan(storage=storage, study_name="empty", epochs=1)


# --- bad input on the command line --------------------------------------------------------------


def test_no_tuned_study_is_one_line_and_exit_2(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    optuna.create_study(study_name="someone-elses", storage=StorageHandle.resolve(url=url).open())
    result = run_cli(["final-report", "--storage", url, "--out", str(tmp_path / "r")], data_dir=data_dir)
    assert result.returncode == 2
    assert "no tuned study" in one_line(result.stderr)
    assert "pairsearch tune" in result.stderr


def test_unknown_study_is_named_and_exit_2(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    tune(url=url, data_dir=data_dir, directory=tmp_path, trials=1)
    result = run_cli(
        ["final-report", "--storage", url, "--arch", "nosuch", "--out", str(tmp_path / "r")], data_dir=data_dir,
    )
    assert result.returncode == 2
    assert "'nosuch'" in one_line(result.stderr)


def unwritable_out(tmp_path: Path) -> Path:
    """A report folder that cannot be made: in a read-only dir, or (root ignores modes) under a file."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        return locked / "report"
    parent = tmp_path / "a-file"
    parent.write_text("not a directory")
    return parent / "report"


def test_unwritable_out_is_one_line_exit_2_and_leaves_the_storage_alone(tmp_path, data_dir):
    url = sqlite_url(tmp_path)
    tune(url=url, data_dir=data_dir, directory=tmp_path, trials=1)
    database = tmp_path / "pairsearch.db"
    before = storage_digest(database)
    out = unwritable_out(tmp_path)
    result = run_cli(["final-report", "--storage", url, "--seeds", "2", "--out", str(out)], data_dir=data_dir)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "cannot write the report" in line and str(out) in line
    assert storage_digest(database) == before
    assert not out.exists()


def test_a_final_report_with_nothing_to_train_changes_no_byte_of_the_storage(tmp_path, data_dir):
    """Its notes are up to date after the first report: the second writes nothing, not even a lock file."""
    url = sqlite_url(tmp_path)
    tune(url=url, data_dir=data_dir, directory=tmp_path, trials=2)
    report = ["final-report", "--storage", url, "--seeds", "2", "--epochs", "1", "--workers", "1", "--quiet"]
    first = run_cli([*report, "--out", str(tmp_path / "first")], data_dir=data_dir)
    assert first.returncode == 0, first.stderr
    before = storage_digest(tmp_path / "pairsearch.db")

    second = run_cli([*report, "--out", str(tmp_path / "second")], data_dir=data_dir)

    assert second.returncode == 0, second.stderr
    assert "0 new job(s) of 2" in second.stderr
    assert storage_digest(tmp_path / "pairsearch.db") == before


# --- a job is a seed of a configuration, its retries included --------------------------------


def one_search_plan(db: Path, arch: str) -> jobs.FinalPlan:
    return final_plans.make_plan(storage=StorageHandle.resolve(url=f"sqlite:///{db}").open(readonly=True),
                                 study_name=arch, epochs=None)


def test_a_retry_belongs_to_the_job_it_retries(tmp_path):
    """digits' course seeds 4 and 5: each failed, its retry (no job record of its own) failed, a new job finished."""
    db = copy_one_search_run(tmp_path)
    plan = one_search_plan(db, "digits")
    study = optuna.load_study(study_name=plan.final_study_name, storage=f"sqlite:///{db}")
    stored = {job.seed: job for job in jobs.plan_jobs(study=study, plan=plan)}
    assert sorted(stored) == list(range(15))
    assert {seed: job.failed_attempts for seed, job in stored.items() if job.failed_attempts} == {4: 2, 5: 2}
    assert all(job.state == "finished" and job.result.state == TrialState.COMPLETE for job in stored.values())
    retries = [trial for job in stored.values() for trial in job.attempts if final_job(trial) is None]
    assert [trial.user_attrs["retry_of"] for trial in retries] == [4, 5]


def test_the_report_counts_failed_jobs_not_their_attempts(tmp_path):
    db = copy_one_search_run(tmp_path, seeds_moved=15)
    plan = one_search_plan(db, "digits")
    results, _ = collect_results(storage=StorageHandle.resolve(url=f"sqlite:///{db}").open(readonly=True),
                                 plans=[plan], seeds=15)
    assert dict(zip(results["seed"], results["reruns"])) == {seed: 2 if seed in (1004, 1005) else 0
                                                            for seed in searches.final_seeds(15)}
    assert run_record(results=results, archs=[plan.label]).reruns == 2


def test_job_counts_count_the_jobs_at_the_requested_seeds_only(tmp_path):
    """Final-report's progress: the one-search run's jobs at seeds 0…14 are no jobs of a report at 1000…"""
    db = copy_one_search_run(tmp_path, seeds_moved=3)  # seeds 1000–1002, and 3…14 an earlier run's
    plan = one_search_plan(db, "base")
    storage = StorageHandle.resolve(url=f"sqlite:///{db}").open(readonly=True)
    assert jobs.job_counts(storage=storage, plans=[plan], seeds=15) == {"base": (3, 3)}
    assert jobs.job_counts(storage=storage, plans=[plan], seeds=2) == {"base": (2, 2)}
    assert final_plans.unfinished(storage=storage, plans=[plan], seeds=15) == {}
