"""The study file's search strategy as Optuna objects: the sampler's seeding, the pruners, the suggestions."""

from __future__ import annotations

import dataclasses
import json

import optuna
import pytest
from conftest import write_tiny_study

from pairsearch import samplers
from pairsearch.studyspec import load_study_file


@pytest.fixture
def spec(tmp_path):
    return load_study_file(path=write_tiny_study(tmp_path, epochs=9))


def test_seeded_sampler_is_reproducible_per_trial(spec):
    """Trial k draws the same params whichever worker runs it; no two trials replay draws."""
    assert spec.sampler.get("seed") is not None

    def drawn(spec, *, workers: int) -> list[dict]:
        """Six trials asked in turn by ``workers`` samplers (one per worker) on one study."""
        storage = optuna.storages.InMemoryStorage()
        studies = [optuna.create_study(study_name="s", storage=storage, direction="maximize",
                                       sampler=samplers.build_sampler(spec=spec), load_if_exists=True)
                   for _ in range(workers)]
        for number in range(6):
            study = studies[number % workers]
            trial = study.ask()
            study.tell(trial, samplers.suggest_params(trial=trial, spec=spec)["lr"])
        return [trial.params for trial in studies[0].trials]

    for name in ("random", "tpe"):
        seeded = dataclasses.replace(spec, sampler={**spec.sampler, "name": name})
        alone = drawn(seeded, workers=1)
        assert drawn(seeded, workers=2) == alone == drawn(seeded, workers=1)
        assert len({json.dumps(params, sort_keys=True) for params in alone}) == 6


def _drawn_by_search(spec, *, search: int, trials: int = 5) -> list[str]:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, direction="maximize",
                                sampler=samplers.build_sampler(spec=spec, search=search))
    for _ in range(trials):
        trial = study.ask()
        study.tell(trial, samplers.suggest_params(trial=trial, spec=spec)["lr"])
    return [json.dumps(trial.params, sort_keys=True) for trial in study.trials]


@pytest.mark.parametrize("file_seed", [None, 7])
def test_every_search_draws_its_own_reproducible_stream(spec, file_seed):
    """Search r ≥ 1 is seeded per trial from the seed sequence, with or without a file seed:
    the same search draws the same params again; two searches share no draw."""
    sampler = {key: value for key, value in {**spec.sampler, "name": "random", "seed": file_seed}.items()
               if value is not None}
    random = dataclasses.replace(spec, sampler=sampler)
    first, second = _drawn_by_search(random, search=1), _drawn_by_search(random, search=2)
    assert first == _drawn_by_search(random, search=1)
    assert not set(first) & set(second)
    if file_seed is not None:  # search 0 keeps the file's rule, and shares nothing with search 1
        assert not set(_drawn_by_search(random, search=0)) & set(first)


def study_with_complete_trials(*, pruner: optuna.pruners.BasePruner, values: list[float]) -> optuna.Study:
    """A study whose complete trials reported ``value`` at every epoch 0…2."""
    study = optuna.create_study(direction="maximize", pruner=pruner)
    for value in values:
        study.add_trial(optuna.trial.create_trial(value=value, intermediate_values=dict.fromkeys(range(3), value)))
    return study


def test_the_median_pruner_waits_its_startup_trials_and_warmup_epochs(spec):
    median = dataclasses.replace(spec, pruner={"name": "median", "n_startup_trials": 2, "n_warmup_steps": 1})

    early = study_with_complete_trials(pruner=samplers.build_pruner(spec=median), values=[0.8])
    trial = early.ask()
    trial.report(0.1, step=1)
    assert not trial.should_prune()  # one complete trial of the two it waits for

    study = study_with_complete_trials(pruner=samplers.build_pruner(spec=median), values=[0.8, 0.9])
    trial = study.ask()
    trial.report(0.1, step=0)
    assert not trial.should_prune()  # epoch 0 is inside the warm-up
    trial.report(0.1, step=1)
    assert trial.should_prune()


def test_no_pruner_never_prunes_and_the_halving_pruners_span_the_epochs(spec):
    none = samplers.build_pruner(spec=dataclasses.replace(spec, pruner={"name": "none"}))
    trial = study_with_complete_trials(pruner=none, values=[0.8, 0.9, 0.95]).ask()
    trial.report(0.0, step=2)
    assert not trial.should_prune()

    hyperband = samplers.build_pruner(spec=dataclasses.replace(spec, pruner={"name": "hyperband", "reduction_factor": 3}))
    assert isinstance(hyperband, optuna.pruners.HyperbandPruner)
    assert (hyperband._min_resource, hyperband._max_resource, hyperband._reduction_factor) == (1, spec.epochs, 3)
    halving = samplers.build_pruner(spec=dataclasses.replace(spec, pruner={"name": "successive_halving"}))
    assert isinstance(halving, optuna.pruners.SuccessiveHalvingPruner)


def test_suggestions_are_the_fixed_params_and_one_in_range_value_per_searched_one(spec):
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        params = samplers.suggest_params(trial=study.ask(), spec=spec)
        assert {name: params[name] for name in spec.fixed} == spec.fixed
        assert isinstance(params["channels"], int) and 4 <= params["channels"] <= 8
        assert 1e-3 <= params["lr"] <= 1e-2
        assert set(params) == set(spec.fixed) | {space.name for space in spec.space}
