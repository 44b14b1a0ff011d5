"""Final-stage jobs as stored: the plan of one tuned study and the seeded job record.

Jobs live in the same storage as the tuning, as enqueued trials of a companion study
``<study>.final``: a :class:`FinalJob` travels in the trial's user attrs. A job is tied to its
configuration by :attr:`FinalPlan.config_hash`, so when a study's best trial or the training
recipe changes, new jobs are made and old results are never mixed in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from pairsearch.defaults import DEFAULT_RECIPE
from pairsearch.searches import FINAL_SUFFIX
from pairsearch.training.recipes import Recipe, recipe_from_record


@dataclass(frozen=True)
class FinalPlan:
    """What one tuned study's final jobs train: its best params, under one training recipe.

    ``study_name`` is the tuned study (one search); ``group`` and ``search`` place it among the
    independent searches of its arch (:mod:`pairsearch.searches`). ``epochs`` are the epochs the
    jobs train: the recipe's, unless ``--epochs`` (or, without ``--recipe``, the study's tuning
    epochs) said otherwise; ``recipe`` keeps the recipe as it was given.
    """

    study_name: str
    arch: str
    params: dict
    epochs: int
    data_source: str
    data_fingerprint: str
    best_trial: int
    recipe: Recipe
    group: str = ""
    search: int = 0
    tuning_seed: int = 0

    @property
    def label(self) -> str:
        """The report's label of its runs: the group of searches it belongs to (the arch's name
        unless tuned with ``--study``); its search tells the runs of one group apart."""
        return self.group or self.study_name

    @property
    def config_hash(self) -> str:
        """The jobs' identity: what they train. A course-recipe job's is the one it had before
        recipes existed (:meth:`Recipe.training_changes` adds nothing for it)."""
        config = [self.arch, self.params, self.epochs, self.data_fingerprint]
        if self.recipe.training_changes():
            config.append(self.recipe.training_changes())
        return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def final_study_name(self) -> str:
        return self.study_name + FINAL_SUFFIX

    def job(self, *, seed: int) -> FinalJob:
        """This plan's job for ``seed``."""
        return FinalJob(
            seed=seed, arch=self.arch, params=self.params, epochs=self.epochs,
            config_hash=self.config_hash, data_source=self.data_source,
            data_fingerprint=self.data_fingerprint, best_trial=self.best_trial,
            recipe=self.recipe.to_record(),
        )


@dataclass(frozen=True)
class FinalJob:
    """One seeded final run: what to train and which plan it belongs to.

    ``recipe`` is the :meth:`Recipe.to_record` of the plan's recipe; None for a job made before
    recipes existed, which ran the course's training (see :attr:`training_recipe`).
    """

    seed: int
    arch: str
    params: dict
    epochs: int
    config_hash: str
    data_source: str
    data_fingerprint: str
    best_trial: int
    recipe: dict | None = None

    @property
    def training_recipe(self) -> Recipe:
        """The recipe this job trains with, its epochs the job's own."""
        return dataclasses.replace(recipe_from_record(self.recipe, epochs=self.epochs), epochs=self.epochs)

    def to_user_attrs(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_user_attrs(cls, attrs: dict) -> FinalJob | None:
        """The job a trial's user attrs hold, or None for a trial that is no job."""
        fields = dataclasses.fields(cls)
        required = [f.name for f in fields if f.default is dataclasses.MISSING]
        if any(name not in attrs for name in required):
            return None
        return cls(**{f.name: attrs[f.name] for f in fields if f.name in attrs})


def job_state(trial: optuna.trial.FrozenTrial) -> str:
    """``finished`` (a result: complete, or diverged — a result too), ``queued`` or ``lost``.

    A ``lost`` job (failed by Ctrl-C or a dead worker) needs a new copy; the others do not.
    """
    if trial.state == TrialState.COMPLETE:
        return "finished"
    if trial.state == TrialState.FAIL and trial.user_attrs.get("stop_reason") == "diverged":
        return "finished"
    if trial.state in (TrialState.WAITING, TrialState.RUNNING):
        return "queued"
    return "lost"


def job_recipe_name(trial: optuna.trial.FrozenTrial) -> str:
    """The name of the recipe a job was made under (the course's, for a job from before recipes)."""
    return (trial.user_attrs.get("recipe") or {}).get("name", DEFAULT_RECIPE)


def tuning_studies(*, storage) -> list[optuna.study.StudySummary]:
    """Every pairsearch tuning study in the storage (not the final companions), with its user attrs."""
    return [
        summary for summary in optuna.get_all_study_summaries(storage=storage, include_best_trial=False)
        if summary.user_attrs.get("pairsearch") and not summary.study_name.endswith(FINAL_SUFFIX)
    ]


def plan_trials(*, study: optuna.Study, plan: FinalPlan) -> list[optuna.trial.FrozenTrial]:
    """The trials of ``study`` that are jobs of ``plan`` (not of an earlier configuration)."""
    return [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("config_hash") == plan.config_hash]
