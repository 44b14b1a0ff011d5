"""Final-stage jobs: the plan of one tuned study, and its stored jobs queried (state, trials).

Jobs live in the same storage as the tuning, as enqueued trials of a companion study
``<study>.final``: a :class:`pairsearch.records.FinalJob` travels in the trial's user attrs. A
job is tied to its configuration by :attr:`FinalPlan.config_hash`, so when a
study's best trial or the training recipe changes, new jobs are made and old results are never
mixed in.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from pairsearch.defaults import DEFAULT_RECIPE
from pairsearch.records import FinalJob, final_job, is_labelled, run_facts
from pairsearch.searches import FINAL_SUFFIX
from pairsearch.training.recipes import Recipe


@dataclass(frozen=True)
class FinalPlan:
    """What one tuned study's final jobs train: its best params, under one training recipe.

    Attributes:
        study_name: The tuned study (one search).
        arch: Its arch.
        params: Its best complete trial's params, resolved in full.
        data_source: The data it was tuned on.
        data_fingerprint: Those pools' fingerprint; the jobs must find the same.
        best_trial: The number of that trial.
        recipe: What the jobs train under, at the epochs they train (``--epochs`` applied):
            :func:`pairsearch.final_plans.make_plan` resolves it once.
        recipe_record: The recipe as chosen (``--recipe``'s, else the study's), before
            ``--epochs``, as :meth:`Recipe.to_record` gives it: what each job stores as its
            recipe, as jobs always have. Provenance only: ``recipe`` says what trains.
        group: The study name of search 0 of its arch's independent searches (:mod:`pairsearch.searches`).
        search: Which search of the group it is.
        tuning_seed: The seed its tuning used (kept out of the final seeds: ``final_plans.check_seeds_apart``).
    """

    study_name: str
    arch: str
    params: dict
    data_source: str
    data_fingerprint: str
    best_trial: int
    recipe: Recipe
    recipe_record: dict
    group: str = ""
    search: int = 0
    tuning_seed: int = 0

    @property
    def epochs(self) -> int:
        """The epochs its jobs train: its recipe's."""
        return self.recipe.epochs

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
            recipe_record=self.recipe_record,
        )


def job_state(trial: optuna.trial.FrozenTrial) -> str:
    """``finished`` (a result: complete, or diverged — a result too), ``queued`` or ``lost``.

    A ``lost`` job (failed by Ctrl-C or a dead worker) needs a new copy; the others do not.
    """
    if trial.state == TrialState.COMPLETE:
        return "finished"
    if trial.state == TrialState.FAIL and run_facts(trial).stop_reason == "diverged":
        return "finished"
    if trial.state in (TrialState.WAITING, TrialState.RUNNING):
        return "queued"
    return "lost"


def job_recipe_name(trial: optuna.trial.FrozenTrial) -> str:
    """The name of the recipe a job was made under (the course's, for a job from before recipes)."""
    job = final_job(trial)
    return ((job.recipe_record if job else None) or {}).get("name", DEFAULT_RECIPE)


def tuning_studies(*, storage) -> list[optuna.study.StudySummary]:
    """Every pairsearch tuning study in the storage (not the final companions), with its user attrs."""
    return [
        summary for summary in optuna.get_all_study_summaries(storage=storage, include_best_trial=False)
        if is_labelled(summary) and not summary.study_name.endswith(FINAL_SUFFIX)
    ]


def plan_trials(*, study: optuna.Study, plan: FinalPlan) -> list[optuna.trial.FrozenTrial]:
    """The trials of ``study`` that are jobs of ``plan`` (not of an earlier configuration)."""
    return [t for t in study.get_trials(deepcopy=False) if (job := final_job(t)) and job.config_hash == plan.config_hash]


def job_counts(*, storage: optuna.storages.BaseStorage, plans: list[FinalPlan]) -> dict[str, tuple[int, int]]:
    """Study label → (finished jobs, finished + queued jobs) of the current plans."""
    counts = {}
    for plan in plans:
        study = optuna.load_study(study_name=plan.final_study_name, storage=storage)
        states = [job_state(trial) for trial in plan_trials(study=study, plan=plan)]
        finished = states.count("finished")
        counts[plan.study_name] = (finished, finished + states.count("queued"))
    return counts
