"""Every study of a storage summarised, each trial read at most once: what ``pairsearch status``
shows and what ``final-report`` notes on each ``<study>.final`` study for optuna-dashboard.

A tuning study is its trial counts by state and its best trial. A ``<study>.final`` study is its
jobs grouped by configuration: one :class:`RecipeResult` (mean ± std test accuracy, counts,
failed jobs that were re-run) for each training recipe its tuning study's current best trial was
retrained under — never one recipe's mean with both recipes' counts.

On an SQL storage the counts come from one ``GROUP BY`` over Optuna's ``trials`` table and a
tuning study's trials are never loaded (only its best trial, and the trials its jobs name); on
any other storage (a journal file, the gRPC proxy) each study's trials are read once.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

import optuna
from optuna.trial import FrozenTrial, TrialState

from pairsearch.errors import PairsearchError
from pairsearch.records import (
    FinalJob,
    final_job,
    final_study,
    is_final_study,
    run_facts,
    study_arch,
    tuned_study,
)
from pairsearch.searches import FINAL_SUFFIX, split_search_name


@dataclass(frozen=True)
class RecipeResult:
    """The jobs of one configuration of a final study: one training recipe of one best trial.

    Attributes:
        recipe_label: The recipe's name (``course``, ``strong``), with its epochs where two share a name.
        counts: Its jobs by state.
        values: Test accuracies of its complete jobs, in trial order.
        rerun: Failed jobs whose seed has since completed (a killed worker's job, retried).
        best_trial: The tuning trial whose params the jobs train.
        params: Those params, as the jobs train them.
    """

    recipe_label: str
    counts: Counter
    values: tuple[float, ...]
    rerun: int
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
    """

    name: str
    arch: str
    recipe_name: str
    counts: Counter
    best: FrozenTrial | None = None
    results: tuple[RecipeResult, ...] = ()
    earlier: int = 0
    tuning_study: str = ""

    @property
    def is_final(self) -> bool:
        return bool(self.tuning_study) or bool(self.results)


def read_overview(*, storage: optuna.storages.BaseStorage, names: set[str] | None = None) -> list[StudyOverview]:
    """Every study in ``storage`` (or those of ``names`` it holds): the tuning studies (groups of
    searches together, in search order), then the final studies; each trial read at most once."""
    reader = TrialReader(storage=storage)
    overviews = [_overview(reader, study) for name, study in reader.studies.items() if names is None or name in names]
    return sorted(overviews, key=_order)


def _order(overview: StudyOverview) -> tuple[bool, str, int]:
    tuning = overview.name.removesuffix(FINAL_SUFFIX)
    group, search = split_search_name(tuning)
    return tuning != overview.name, group, search


def _overview(reader: TrialReader, study: optuna.study.FrozenStudy) -> StudyOverview:
    counts = reader.counts(study)
    if is_final_study(study):
        return _final_overview(reader, study, counts)
    try:
        recipe_name = tuned_study(study, study_name=study.study_name).training_recipe.name
    except PairsearchError:  # another application's study, or a broken record
        recipe_name = ""
    return StudyOverview(name=study.study_name, arch=study_arch(study), recipe_name=recipe_name, counts=counts,
                         best=reader.best(study))


def _final_overview(reader: TrialReader, study, counts: Counter) -> StudyOverview:
    trials = {trial.number: trial for trial in reader.trials(study)}
    jobs = [(trial, job) for trial in trials.values() if (job := _job_of(trial, trials=trials))]
    try:
        tuning_name = final_study(study, study_name=study.study_name).tuning_study
    except PairsearchError:
        tuning_name = ""
    current = _current_best_trials(reader, tuning_name=tuning_name, jobs=jobs)
    groups: dict[str, list[tuple[FrozenTrial, FinalJob]]] = {}
    for trial, job in jobs:
        groups.setdefault(job.config_hash, []).append((trial, job))
    shown = [group for group in groups.values() if group[0][1].best_trial in current]
    names = Counter(_recipe_name(group[0][1]) for group in shown)
    results = tuple(_result(group, both=names[_recipe_name(group[0][1])] > 1) for group in shown)
    earlier = sum(len(group) for group in groups.values() if group[0][1].best_trial not in current)
    return StudyOverview(name=study.study_name, arch=study_arch(study), recipe_name="", counts=counts,
                         results=results, earlier=earlier, tuning_study=tuning_name or "?")


def _job_of(trial: FrozenTrial, *, trials: dict[int, FrozenTrial]) -> FinalJob | None:
    """The job ``trial`` runs: its own, or (a retry of an interrupted job) the job it repeats."""
    seen = set()
    while (job := final_job(trial)) is None and trial.number not in seen:
        seen.add(trial.number)
        retry_of = run_facts(trial).retry_of
        if retry_of not in trials:
            return None
        trial = trials[retry_of]
    return job


def _current_best_trials(reader: TrialReader, *, tuning_name: str, jobs: list) -> set[int]:
    """The tuning trials whose jobs are current: those (of the ones jobs name) that tie the tuning
    study's best value; the newest jobs' trial when the tuning study is gone."""
    tuning = reader.studies.get(tuning_name)
    named = {job.best_trial for _, job in jobs}
    if tuning is None:
        newest = max(jobs, key=lambda pair: pair[0].number, default=None)
        return {newest[1].best_trial} if newest else set()
    best = reader.best(tuning)
    if best is None:
        return set()
    return {number for number in named if (trial := reader.trial(tuning, number=number)) is not None
            and trial.state == TrialState.COMPLETE and trial.value == best.value}


def _result(group: list[tuple[FrozenTrial, FinalJob]], *, both: bool) -> RecipeResult:
    """One configuration's jobs summarised; ``both``: another shown configuration has its recipe's name."""
    trials = [trial for trial, _ in group]
    job = group[0][1]
    done = {group_job.seed for trial, group_job in group if trial.state == TrialState.COMPLETE}
    rerun = sum(1 for trial, group_job in group if trial.state == TrialState.FAIL and group_job.seed in done)
    return RecipeResult(
        recipe_label=f"{_recipe_name(job)} {job.epochs}ep" if both else _recipe_name(job),
        counts=Counter(trial.state for trial in trials),
        values=tuple(trial.value for trial in trials if trial.state == TrialState.COMPLETE),
        rerun=rerun, best_trial=job.best_trial, params=job.params,
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
            self._counts = _rdb_state_counts(self.storage)

    def counts(self, study) -> Counter:
        """The study's trials by state (SQL: counted, not read)."""
        if self._counts is not None:
            return self._counts.get(study._study_id, Counter())
        return Counter(trial.state for trial in self.trials(study))

    # A FrozenStudy's id is only its private _study_id (Optuna's get_all_study_summaries reads it so too).

    def trials(self, study) -> list[FrozenTrial]:
        """All the study's trials (read once)."""
        if study._study_id not in self._all:
            self._all[study._study_id] = self.storage.get_all_trials(study._study_id, deepcopy=False)
            for trial in self._all[study._study_id]:
                self._one[study._study_id, trial.number] = trial
        return self._all[study._study_id]

    def best(self, study) -> FrozenTrial | None:
        """A complete trial of the study's best value (None: no complete trial yet)."""
        if study._study_id not in self._best:
            self._best[study._study_id] = self._read_best(study)
        return self._best[study._study_id]

    def _read_best(self, study) -> FrozenTrial | None:
        if self._counts is None or study._study_id in self._all:
            complete = [t for t in self.trials(study) if t.state == TrialState.COMPLETE and t.value is not None]
            return max(complete, key=lambda trial: trial.value, default=None)
        if not self.counts(study)[TrialState.COMPLETE] or len(study.directions) != 1:
            return None
        best = self.storage.get_best_trial(study._study_id)
        self._one[study._study_id, best.number] = best
        return best

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


def _rdb_state_counts(storage: optuna.storages.RDBStorage) -> dict[int, Counter]:
    """Every study's trials counted by state in one query of Optuna's ``trials`` table."""
    import sqlalchemy

    query = sqlalchemy.text("SELECT study_id, state, COUNT(*) FROM trials GROUP BY study_id, state")
    counts: dict[int, Counter] = {}
    with storage.engine.connect() as connection:
        for study_id, state, number in connection.execute(query):
            counts.setdefault(study_id, Counter())[TrialState[state]] = number
    return counts
