"""The study file's search strategy as Optuna objects: the sampler, the pruner, the suggestions."""

from __future__ import annotations

import functools

import optuna

from pairsearch.searches import trial_sampler_seed
from pairsearch.studyspec import StudySpec


def build_sampler(*, spec: StudySpec, search: int = 0) -> optuna.samplers.BaseSampler:
    """TPE or random sampling as the study file says, for one search of the study.

    Search 0 is seeded per trial when the file gives a seed, unseeded otherwise; every other
    search draws its own per-trial seeds (:func:`pairsearch.searches.trial_sampler_seed`).
    """
    seed = spec.sampler.get("seed")
    if search == 0 and seed is None:
        return _make_sampler(spec, seed=None)
    return TrialSeededSampler(make=functools.partial(_make_sampler, spec), seed_of=functools.partial(
        trial_sampler_seed, sampler_seed=seed, study_seed=spec.seed, search=search))


def _make_sampler(spec: StudySpec, *, seed: int | None) -> optuna.samplers.BaseSampler:
    if spec.sampler["name"] == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(n_startup_trials=spec.sampler["n_startup_trials"], seed=seed)


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """A sampler seeded anew for every trial, by its trial number.

    One seeded sampler per worker would make every worker (and every re-run) draw the same
    sequence of params; seeding by trial number keeps a seeded study reproducible trial by
    trial while no two trials replay the same random draws.
    """

    def __init__(self, *, make, seed_of) -> None:
        self._make, self._seed_of = make, seed_of
        self._sampler = make(seed=seed_of(trial_number=0))

    def before_trial(self, study, trial) -> None:
        self._sampler = self._make(seed=self._seed_of(trial_number=trial.number))
        self._sampler.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self._sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._sampler.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self._sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._sampler.reseed_rng()


def build_pruner(*, spec: StudySpec) -> optuna.pruners.BasePruner:
    """The study file's pruner: median, Hyperband or successive halving over the epochs, or none.

    Both halving pruners start at one epoch (rungs at 1, 3, 9 … epochs for reduction factor 3).
    """
    pruner = spec.pruner
    if pruner["name"] == "none":
        return optuna.pruners.NopPruner()
    if pruner["name"] == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=spec.epochs, reduction_factor=pruner.get("reduction_factor", 3)
        )
    if pruner["name"] == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=1, reduction_factor=pruner.get("reduction_factor", 3)
        )
    return optuna.pruners.MedianPruner(
        n_startup_trials=pruner["n_startup_trials"], n_warmup_steps=pruner["n_warmup_steps"]
    )


def suggest_params(*, trial: optuna.Trial, spec: StudySpec) -> dict:
    """The trial's params: the study file's fixed ones plus one suggestion per searched one."""
    params = dict(spec.fixed)
    for space in spec.space:
        if space.type == "categorical":
            params[space.name] = trial.suggest_categorical(space.name, list(space.choices))
        elif space.type == "int":
            params[space.name] = trial.suggest_int(
                name=space.name, low=int(space.low), high=int(space.high), log=space.log,
                step=int(space.step or 1),
            )
        else:
            params[space.name] = trial.suggest_float(
                space.name, space.low, space.high, log=space.log, step=space.step
            )
    return params
