"""Every study of a storage summarised, each trial read at most once: what ``pairsearch status``
shows and what ``final-report`` notes on each ``<study>.final`` study for optuna-dashboard.

A tuning study is its trial counts by state and its best trial. A ``<study>.final`` study is its
jobs (a job: one seed of one configuration, its retries included) grouped by configuration: one
:class:`RecipeResult` (mean ± std test accuracy, counts, failed jobs that were re-run) for each
training recipe its tuning study's current best trial was retrained under — never one recipe's
mean with both recipes' counts — over the final seeds a ``final-report`` without ``--seeds``
uses, so its numbers are that report's; jobs at other seeds are only counted.

On an SQL storage the counts come from one ``GROUP BY`` over Optuna's ``trials`` table, the
``.final`` studies' trials are read together, and a tuning study's trials are never loaded (only
its best trial, and the trials its jobs name); on any other storage (a journal file, the gRPC
proxy) each study's trials are read once.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

import optuna
from optuna.trial import FrozenTrial, TrialState

from pairsearch.errors import PairsearchError
from pairsearch.jobs import StoredJob, default_seed_count, stored_jobs
from pairsearch.records import (
    FinalJob,
    final_study,
    is_final_study,
    is_labelled,
    study_arch,
    tuned_study,
)
from pairsearch.searches import FINAL_SUFFIX, final_seeds, split_search_name
from pairsearch.storage import sql_reads
from pairsearch.training.models import arch_order


@dataclass(frozen=True)
class RecipeResult:
    """The jobs of one configuration of a final study (one training recipe of one best trial) at
    the final seeds a report counts.

    A job is one seed of the configuration, its retries included (:class:`pairsearch.jobs.StoredJob`).

    Attributes:
        recipe_label: The recipe's name (``course``, ``strong``), with its epochs where two share a name.
        counts: Its jobs by state, each once: its result's state, else its queued or latest attempt's.
        values: Test accuracies of its complete jobs, in job order.
        failed: Its jobs with a lost attempt (a worker stopped or killed).
        failed_attempts: Those jobs' lost attempts, retries included.
        rerun: Failed jobs that have since finished.
        other_seeds: Its jobs at seeds the report does not count (an earlier run's), left out above.
        best_trial: The tuning trial whose params the jobs train.
        params: Those params, as the jobs train them.
    """

    recipe_label: str
    counts: Counter
    values: tuple[float, ...]
    failed: int
    failed_attempts: int
    rerun: int
    other_seeds: int
    best_trial: int
    params: dict

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.values) if len(self.values) > 1 else None


@dataclass(frozen=True)
class StudyOverview:
    """One study as ``status`` shows it.

    Attributes:
        name: The study's name.
        arch: The arch it names (``?`` for a study pairsearch did not make).
        recipe_name: A tuning study's training recipe's name ("" when its record cannot be read).
        counts: Its trials by state.
        best: A tuning study's best complete trial (None for a final study, or none yet).
        results: A final study's current configurations, one per recipe.
        earlier: A final study's jobs of earlier configurations (a best trial since beaten).
        tuning_study: The tuning study a final study serves ("" for a tuning study).
        seeds: The final seeds a final study's results count: those of a ``final-report`` of this
            storage without ``--seeds`` or ``--arch`` (empty for a tuning study).
    """

    name: str
    arch: str
    recipe_name: str
    counts: Counter
    best: FrozenTrial | None = None
    results: tuple[RecipeResult, ...] = ()
    earlier: int = 0
    tuning_study: str = ""
    seeds: tuple[int, ...] = ()

    @property
    def seed_range(self) -> str:
        """Its final seeds as text: ``1000–1014``."""
        return f"{self.seeds[0]}–{self.seeds[-1]}" if self.seeds else "—"

    @property
    def is_final(self) -> bool:
        return bool(self.tuning_study) or bool(self.results)


def read_overview(*, storage: optuna.storages.BaseStorage, names: set[str] | None = None) -> list[StudyOverview]:
    """Every study in ``storage`` (or those of ``names`` it holds): the tuning studies, then the final
    studies, each in the reports' arch order (a group's searches together, in search order); each
    trial read at most once."""
    reader = TrialReader(storage=storage)
    seeds = _report_seeds(reader)
    shown = [study for name, study in reader.studies.items() if names is None or name in names]
    tuning = {study.study_name.removesuffix(FINAL_SUFFIX) for study in shown}  # shown, or a shown final one's
    reader.read_ahead(trials_of=[study for study in shown if is_final_study(study)],
                      best_of=[study for name, study in reader.studies.items() if name in tuning])
    return _in_report_order([_overview(reader, study, seeds=seeds) for study in shown])


def _report_seeds(reader: TrialReader) -> tuple[int, ...]:
    """The final seeds of a ``final-report`` of every tuned study in the storage, without ``--seeds``."""
    labels = []
    for name, study in reader.studies.items():
        if is_labelled(study) and not is_final_study(study):
            try:
                labels.append(tuned_study(study, study_name=name).group or name)
            except PairsearchError:  # a broken record: final-report refuses it, so no seeds of its own
                continue
    return tuple(final_seeds(default_seed_count(labels=labels)))


def _in_report_order(overviews: list[StudyOverview]) -> list[StudyOverview]:
    """Tuning studies, then final ones; each kind's groups in the one arch order (a group sorts as
    its studies' arch), each group's searches in search order."""
    searches = {overview.name: split_search_name(overview.name.removesuffix(FINAL_SUFFIX)) for overview in overviews}
    arch_of = {searches[overview.name][0]: overview.arch for overview in overviews}
    groups = arch_order(labels=arch_of, arch_of=arch_of)

    rank = {name: (name.endswith(FINAL_SUFFIX), groups.index(group), search) for name, (group, search) in searches.items()}
    return sorted(overviews, key=lambda overview: rank[overview.name])


def _overview(reader: TrialReader, study: optuna.study.FrozenStudy, *, seeds: tuple[int, ...]) -> StudyOverview:
    counts = reader.counts(study)
    if is_final_study(study):
        return _final_overview(reader, study, counts, seeds=seeds)
    try:
        recipe_name = tuned_study(study, study_name=study.study_name).training_recipe.name
    except PairsearchError:  # another application's study, or a broken record
        recipe_name = ""
    return StudyOverview(name=study.study_name, arch=study_arch(study), recipe_name=recipe_name, counts=counts,
                         best=reader.best(study))


def _final_overview(reader: TrialReader, study, counts: Counter, *, seeds: tuple[int, ...]) -> StudyOverview:
    jobs = stored_jobs(reader.trials(study))
    try:
        tuning_name = final_study(study, study_name=study.study_name).tuning_study
    except PairsearchError:
        tuning_name = ""
    current = _current_best_trials(reader, tuning_name=tuning_name, jobs=jobs)
    groups: dict[str, list[StoredJob]] = {}
    for job in jobs:
        groups.setdefault(job.job.config_hash, []).append(job)
    shown = [group for group in groups.values() if group[0].job.best_trial in current]
    names = Counter(_recipe_name(group[0].job) for group in shown)
    results = tuple(_result(group, seeds=seeds, both=names[_recipe_name(group[0].job)] > 1) for group in shown)
    earlier = sum(len(group) for group in groups.values() if group[0].job.best_trial not in current)
    return StudyOverview(name=study.study_name, arch=study_arch(study), recipe_name="", counts=counts,
                         results=results, earlier=earlier, tuning_study=tuning_name or "?", seeds=seeds)


def _current_best_trials(reader: TrialReader, *, tuning_name: str, jobs: list[StoredJob]) -> set[int]:
    """The tuning trials whose jobs are current: those (of the ones jobs name) that tie the tuning
    study's best value; the newest jobs' trial when the tuning study is gone."""
    tuning = reader.studies.get(tuning_name)
    named = {job.job.best_trial for job in jobs}
    if tuning is None:
        newest = max(jobs, key=lambda job: job.attempts[0].number, default=None)
        return {newest.job.best_trial} if newest else set()
    best = reader.best(tuning)
    if best is None:
        return set()
    return {number for number in named if (trial := reader.trial(tuning, number=number)) is not None
            and trial.state == TrialState.COMPLETE and trial.value == best.value}


def _result(group: list[StoredJob], *, seeds: tuple[int, ...], both: bool) -> RecipeResult:
    """One configuration's jobs at ``seeds`` summarised; ``both``: another shown configuration has
    its recipe's name."""
    counted = [job for job in group if job.seed in seeds]
    failed = [job for job in counted if job.failed_attempts]
    results = [job.result for job in counted if job.result is not None]
    record = group[0].job
    return RecipeResult(
        recipe_label=f"{_recipe_name(record)} {record.epochs}ep" if both else _recipe_name(record),
        counts=Counter(job.current.state for job in counted),
        values=tuple(trial.value for trial in results if trial.state == TrialState.COMPLETE),
        failed=len(failed), failed_attempts=sum(job.failed_attempts for job in failed),
        rerun=sum(1 for job in failed if job.result is not None), other_seeds=len(group) - len(counted),
        best_trial=record.best_trial, params=record.params,
    )


def _recipe_name(job: FinalJob) -> str:
    try:
        return job.training_recipe.name
    except PairsearchError:  # a job record that names no valid recipe
        return "?"


@dataclass
class TrialReader:
    """Reads a storage's trials at most once each: counts by state, best trials, single trials."""

    storage: optuna.storages.BaseStorage
    studies: dict[str, optuna.study.FrozenStudy] = field(init=False)
    _all: dict[int, list[FrozenTrial]] = field(init=False, default_factory=dict)
    _one: dict[tuple[int, int], FrozenTrial] = field(init=False, default_factory=dict)
    _best: dict[int, FrozenTrial | None] = field(init=False, default_factory=dict)
    _counts: dict[int, Counter] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.studies = {study.study_name: study for study in self.storage.get_all_studies()}
        if isinstance(self.storage, optuna.storages.RDBStorage):
            self._counts = sql_reads.state_counts(storage=self.storage)

    def counts(self, study) -> Counter:
        """The study's trials by state (SQL: counted, not read)."""
        if self._counts is not None:
            return self._counts.get(study._study_id, Counter())
        return Counter(trial.state for trial in self.trials(study))

    # A FrozenStudy's id is only its private _study_id (Optuna's get_all_study_summaries reads it so too).

    def trials(self, study) -> list[FrozenTrial]:
        """All the study's trials (read once)."""
        if study._study_id not in self._all:
            self._keep(study._study_id, self.storage.get_all_trials(study._study_id, deepcopy=False))
        return self._all[study._study_id]

    def read_ahead(self, *, trials_of: list, best_of: list) -> None:
        """On an SQL storage, read now, all together, the trials of the studies ``trials_of`` and the
        best trials of the studies ``best_of`` (:mod:`pairsearch.storage.sql_reads`); elsewhere, nothing."""
        if self._counts is None:
            return
        unread = [study._study_id for study in trials_of if study._study_id not in self._all]
        for study_id, trials in sql_reads.read_trials(storage=self.storage, study_ids=unread).items():
            self._keep(study_id, trials)
        ranked = [study for study in best_of if study._study_id not in self._best and self._ranked_by_sql(study)]
        for study_id, best in sql_reads.best_trials(storage=self.storage, studies=ranked).items():
            self._best[study_id] = self._one[study_id, best.number] = best

    def _keep(self, study_id: int, trials: list[FrozenTrial]) -> None:
        self._all[study_id] = trials
        for trial in trials:
            self._one[study_id, trial.number] = trial

    def best(self, study) -> FrozenTrial | None:
        """A complete trial of the study's best value (None: no complete trial yet)."""
        if study._study_id not in self._best:
            self._best[study._study_id] = self._read_best(study)
        return self._best[study._study_id]

    def _read_best(self, study) -> FrozenTrial | None:
        if self._counts is None or study._study_id in self._all:
            complete = [t for t in self.trials(study) if t.state == TrialState.COMPLETE and t.value is not None]
            return max(complete, key=lambda trial: trial.value, default=None)
        if not self._ranked_by_sql(study):
            return None
        best = self.storage.get_best_trial(study._study_id)
        self._one[study._study_id, best.number] = best
        return best

    def _ranked_by_sql(self, study) -> bool:
        """Whether the study's best trial is found by SQL: its trials unread, one objective, one complete."""
        return (self._counts is not None and study._study_id not in self._all
                and bool(self.counts(study)[TrialState.COMPLETE]) and len(study.directions) == 1)

    def trial(self, study, *, number: int) -> FrozenTrial | None:
        """The study's trial ``number`` (None: no such trial)."""
        key = (study._study_id, number)
        if key not in self._one and study._study_id not in self._all:
            try:
                trial_id = self.storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
            except KeyError:
                return None
            self._one[key] = self.storage.get_trial(trial_id)
        return self._one.get(key)
