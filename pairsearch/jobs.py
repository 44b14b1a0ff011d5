"""Final-stage jobs: the plan of one tuned study, and its stored jobs queried (state, trials, retries).

Jobs live in the same storage as the tuning, as enqueued trials of a companion study
``<study>.final``: a :class:`pairsearch.records.FinalJob` travels in the trial's user attrs. A
job is tied to its configuration by :attr:`FinalPlan.config_hash`, so when a
study's best trial or the training recipe changes, new jobs are made and old results are never
mixed in.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState

from pairsearch.defaults import DEFAULT_RECIPE
from pairsearch.records import FinalJob, final_job, is_labelled, run_facts
from pairsearch.searches import FINAL_SUFFIX, default_seeds_per_search, final_seeds
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


@dataclass(frozen=True)
class StoredJob:
    """One job of a final study — one seed of one configuration — and every trial that ran it.

    A job is known by its configuration and seed; a retry of an interrupted trial (which holds no
    job record of its own) belongs to the job it retries.

    Attributes:
        job: Its record, as its first trial holds it.
        attempts: Its own trials and their retries, in trial order.
    """

    job: FinalJob
    attempts: tuple[FrozenTrial, ...]

    @property
    def seed(self) -> int:
        return self.job.seed

    @property
    def result(self) -> FrozenTrial | None:
        """Its first finished attempt (None: none has finished)."""
        return next((trial for trial in self.attempts if job_state(trial) == "finished"), None)

    @property
    def failed_attempts(self) -> int:
        """Its attempts that were lost (Ctrl-C, a dead worker)."""
        return sum(1 for trial in self.attempts if job_state(trial) == "lost")

    @property
    def state(self) -> str:
        """``finished`` once an attempt has finished, else ``queued`` while one waits or runs, else ``lost``."""
        states = {job_state(trial) for trial in self.attempts}
        return next(state for state in ("finished", "queued", "lost") if state in states)

    @property
    def current(self) -> FrozenTrial:
        """The attempt that shows its state: its result, else its latest queued attempt, else its latest."""
        queued = [trial for trial in self.attempts if job_state(trial) == "queued"]
        return self.result or (queued or self.attempts)[-1]


def stored_jobs(trials: Iterable[FrozenTrial]) -> list[StoredJob]:
    """The jobs the trials of one final study ran, in the order of their first trials."""
    by_number = {trial.number: trial for trial in sorted(trials, key=lambda trial: trial.number)}
    records: dict[tuple[str, int], FinalJob] = {}
    attempts: dict[tuple[str, int], list[FrozenTrial]] = {}
    for trial in by_number.values():
        job = job_of(trial, trials=by_number)
        if job is not None:
            key = (job.config_hash, job.seed)
            records.setdefault(key, job)
            attempts.setdefault(key, []).append(trial)
    return [StoredJob(job=records[key], attempts=tuple(attempts[key])) for key in records]


def job_of(trial: FrozenTrial, *, trials: Mapping[int, FrozenTrial]) -> FinalJob | None:
    """The job ``trial`` runs: its own, or (a retry of an interrupted trial) the job it retries."""
    seen = set()
    while (job := final_job(trial)) is None and trial.number not in seen:
        seen.add(trial.number)
        retry_of = run_facts(trial).retry_of
        if retry_of not in trials:
            return None
        trial = trials[retry_of]
    return job


def plan_jobs(*, study: optuna.Study, plan: FinalPlan) -> list[StoredJob]:
    """The jobs of ``plan`` in ``study`` (not of an earlier configuration)."""
    return [job for job in stored_jobs(study.get_trials(deepcopy=False)) if job.job.config_hash == plan.config_hash]


def default_seed_count(*, labels: Iterable[str]) -> int:
    """Final seeds per search of a report without ``--seeds``, given the label (group) of each of
    its searches: :func:`pairsearch.searches.default_seeds_per_search` of the largest group."""
    return default_seeds_per_search(searches=max(Counter(labels).values(), default=1))


def plan_trials(*, study: optuna.Study, plan: FinalPlan) -> list[optuna.trial.FrozenTrial]:
    """The trials of ``study`` that are jobs of ``plan`` (not of an earlier configuration)."""
    return [t for t in study.get_trials(deepcopy=False) if (job := final_job(t)) and job.config_hash == plan.config_hash]


def job_counts(*, storage: optuna.storages.BaseStorage, plans: list[FinalPlan],
               seeds: int) -> dict[str, tuple[int, int]]:
    """Study name → (finished jobs, finished + queued jobs) of the current plans at the first
    ``seeds`` final seeds (jobs at other seeds are another report's)."""
    wanted = set(final_seeds(seeds))
    counts = {}
    for plan in plans:
        study = optuna.load_study(study_name=plan.final_study_name, storage=storage)
        states = [job.state for job in plan_jobs(study=study, plan=plan) if job.seed in wanted]
        finished = states.count("finished")
        counts[plan.study_name] = (finished, finished + states.count("queued"))
    return counts
