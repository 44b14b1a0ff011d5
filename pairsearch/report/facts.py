"""The typed records that cross the report's layers: read → analysis → render.

:mod:`pairsearch.report.results` and :mod:`pairsearch.report.studies` read the storage once into
these records (and pandas frames); nothing after them sees an Optuna object or the storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

TRIAL_STATES = ("complete", "pruned", "fail", "running", "waiting")
COMPLETE_TRIAL_COLUMNS = ["number", "n_parameters", "value"]
FINISHED_TRIAL_COLUMNS = ["number", "state", "value"]
# The protocol's facts about the process that writes the report (never the runs'):
# :func:`pairsearch.report.protocol.protocol` writes them, the provenance section shows them apart.
WRITER_KEYS = ("report written by", "report date (UTC)")
MIN_TRIALS_FOR_IMPORTANCES = 2  # complete trials; below, no importances are computed
# What the tuning table shows of the workers' own records (pairsearch.version.ProcessRecord), in its order.
TUNING_RECORD_FACTS = ("commit", "cpu", "device", "threads")


@dataclass(frozen=True)
class Importance:
    """One hyperparameter's importance for validation accuracy (PED-ANOVA, Optuna's default).

    Attributes:
        name: The hyperparameter.
        distribution: Its Optuna distribution's class name, e.g. ``FloatDistribution``.
        value: Its importance (the importances of a study sum to 1).
    """

    name: str
    distribution: str
    value: float


@dataclass(frozen=True)
class TuningRecord:
    """What a tuning study's worker processes recorded of themselves
    (:func:`pairsearch.records.tuning_workers`), summed up.

    Attributes:
        facts: Fact (:data:`TUNING_RECORD_FACTS`) → (value as text, workers with it), by value.
        workers: Worker processes that recorded themselves (0: none did, a study tuned before
            these records; then every other field is empty).
        first_start: The earliest first-trial start of a worker, UTC ISO text (None: none recorded).
        last_finish: The latest trial end of a worker (None: none recorded).
    """

    facts: dict[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    workers: int = 0
    first_start: str | None = None
    last_finish: str | None = None


@dataclass(frozen=True)
class TuningFacts:
    """What the report shows of one tuning study, read once from the storage.

    Attributes:
        study_name: The study's name in the storage.
        arch: The arch it tunes.
        states: Trial state (:data:`TRIAL_STATES`) → number of trials.
        epochs: Epochs trained over all trials (None: not recorded).
        training_seconds: Σ epochs × seconds per epoch over the trials (None: not recorded).
        wall_seconds: Σ wall-clock time of the trials (None: not recorded).
        best_number: The best complete trial's number (None: no complete trial).
        best_value: Its validation accuracy.
        spec: The stored study file (:attr:`pairsearch.records.TunedStudy.spec_table`).
        versions: Versions of the process that made the study (None: not recorded).
        recipe_name: The recipe the trials trained under.
        recipe_augmentation: That recipe's augmentation in words.
        sampler_seeding: How its sampler was seeded, in words (:func:`pairsearch.searches.sampler_seeding`).
        complete: One row per complete trial with columns :data:`COMPLETE_TRIAL_COLUMNS`.
        finished: One row per complete or pruned trial with columns :data:`FINISHED_TRIAL_COLUMNS`
            (``state`` ``complete`` or ``pruned``; a pruned trial's value is the last validation
            accuracy it reported, NaN when it reported none).
        importances: The hyperparameters' importances, most important first (empty when not
            computed: fewer than two complete trials, or ``importance_error``).
        importance_error: Why the importances are unavailable (None: they are not).
        group: The name of its group of independent searches (search 0's study name), the
            report's label of their runs (empty: not known; search 0 is labelled by its key).
        search: Which search of that group it is (0 for a single search).
        record: What its worker processes recorded of themselves (empty: not recorded).
        trial_dates: The first trial's start and the last trial's end as Optuna stored them (the
            workers' clock), ``YYYY-MM-DD HH:MM`` (None: no trial has both).
    """

    study_name: str
    arch: str
    states: dict[str, int]
    epochs: int | None
    training_seconds: float | None
    wall_seconds: float | None
    best_number: int | None
    best_value: float | None
    spec: dict
    versions: dict | None
    recipe_name: str
    recipe_augmentation: str
    sampler_seeding: str = ""
    complete: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=COMPLETE_TRIAL_COLUMNS))
    finished: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FINISHED_TRIAL_COLUMNS))
    importances: tuple[Importance, ...] = ()
    importance_error: str | None = None
    group: str = ""
    search: int = 0
    record: TuningRecord = field(default_factory=TuningRecord)
    trial_dates: tuple[str, str] | None = None


@dataclass(frozen=True)
class RecipePair:
    """The reported results' recipe, and the default recipe's results of the same studies.

    Attributes:
        recipe_name: The reported results' recipe, e.g. ``strong``.
        recipe_summary: One line on it, e.g. ``strong (25 epochs, training images shifted …)``.
        baseline: The default recipe, e.g. ``course``.
        baseline_summary: One line on it.
        baseline_results: Its per-seed results, as the report's ``results`` (may be empty).
    """

    recipe_name: str
    recipe_summary: str
    baseline: str
    baseline_summary: str
    baseline_results: pd.DataFrame
