"""The tuning studies read once into :class:`~pairsearch.report.facts.TuningFacts` records.

Read here, from the studies: trial states and what each trial recorded of its run
(:class:`pairsearch.records.RunFacts`: epochs run, seconds per epoch, parameter count); the
study's :class:`pairsearch.records.TunedStudy` (arch, spec, versions, recipe); its worker
processes' own records (:func:`pairsearch.records.tuning_workers`); and the hyperparameter
importances, with the number of complete trials they are computed from.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from pairsearch.records import run_facts, tuned_study, tuning_workers
from pairsearch.report.facts import (
    COMPLETE_TRIAL_COLUMNS,
    FINISHED_TRIAL_COLUMNS,
    MIN_TRIALS_FOR_IMPORTANCES,
    TUNING_RECORD_FACTS,
    Importance,
    TuningFacts,
    TuningRecord,
)
from pairsearch.report.run_record import NOT_RECORDED
from pairsearch.searches import sampler_seeding
from pairsearch.version import ProcessRecord


def read_studies(*, studies: Mapping[str, optuna.Study]) -> dict[str, TuningFacts]:
    """Label → the record of its tuning study.

    Args:
        studies: Label → tuning study (loaded from the storage, or made in memory).

    Returns:
        Label → :class:`~pairsearch.report.facts.TuningFacts`, in the order given.
    """
    return {label: read_study(study=study) for label, study in studies.items()}


def read_study(*, study: optuna.Study) -> TuningFacts:
    """One tuning study's counts, compute, stored settings, complete trials and importances."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    best = max(complete, key=lambda t: t.value) if complete else None
    tuned = tuned_study(study, study_name=study.study_name)
    recipe = tuned.training_recipe
    importances, error = _importances(study=study, complete=len(complete))
    return TuningFacts(
        study_name=study.study_name,
        arch=tuned.arch,
        states={state.name.lower(): sum(t.state == state for t in trials) for state in TrialState},
        epochs=_epochs(trials),
        training_seconds=_training_seconds(trials),
        wall_seconds=_wall_seconds(trials),
        best_number=None if best is None else best.number,
        best_value=None if best is None else best.value,
        spec=tuned.spec_table,
        versions=tuned.versions,
        recipe_name=recipe.name,
        recipe_augmentation=recipe.augmentation(),
        sampler_seeding=sampler_seeding(sampler_seed=tuned.spec_table.get("sampler", {}).get("seed"),
                                        search=tuned.search),
        complete=pd.DataFrame([_complete_row(t) for t in complete], columns=COMPLETE_TRIAL_COLUMNS),
        finished=pd.DataFrame([_finished_row(t) for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)],
                              columns=FINISHED_TRIAL_COLUMNS),
        importances=importances,
        importance_error=error,
        group=tuned.group,
        search=tuned.search,
        record=tuning_record(workers=tuning_workers(study)),
        trial_dates=_trial_dates(trials),
    )


def tuning_record(*, workers: tuple[ProcessRecord, ...]) -> TuningRecord:
    """The workers' records summed up: each fact's values with their worker counts, and the dates."""
    if not workers:
        return TuningRecord()
    facts = {}
    for fact in TUNING_RECORD_FACTS:
        counts = Counter(_text(getattr(worker, fact)) for worker in workers)
        facts[fact] = tuple(sorted(counts.items()))
    return TuningRecord(facts=facts, workers=len(workers),
                        first_start=min((w.started for w in workers if w.started), default=None),
                        last_finish=max((w.finished for w in workers if w.finished), default=None))


def _text(value: object) -> str:
    return NOT_RECORDED if value is None else str(value)


def _epochs(trials: list[FrozenTrial]) -> int | None:
    epochs = [run_facts(t).epochs_run for t in trials]
    return sum(e for e in epochs if e is not None) if any(epochs) else None


def _training_seconds(trials: list[FrozenTrial]) -> float | None:
    facts = [run_facts(t) for t in trials]
    seconds = [f.epochs_run * f.seconds_per_epoch for f in facts
               if f.epochs_run is not None and f.seconds_per_epoch is not None]
    return sum(seconds) if seconds else None


def _trial_dates(trials: list[FrozenTrial]) -> tuple[str, str] | None:
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    if not starts or not ends:
        return None
    return min(starts).strftime("%Y-%m-%d %H:%M"), max(ends).strftime("%Y-%m-%d %H:%M")


def _wall_seconds(trials: list[FrozenTrial]) -> float | None:
    walls = [(t.datetime_complete - t.datetime_start).total_seconds()
             for t in trials if t.datetime_complete and t.datetime_start]
    return sum(walls) if walls else None


def _complete_row(trial: FrozenTrial) -> dict:
    return {"number": trial.number, "n_parameters": run_facts(trial).n_parameters, "value": trial.value}


def _finished_row(trial: FrozenTrial) -> dict:
    """A complete trial with its value; a pruned one with the last value it reported (NaN: none)."""
    if trial.state == TrialState.COMPLETE:
        value = trial.value
    else:
        steps = trial.intermediate_values
        value = steps[max(steps)] if steps else float("nan")
    return {"number": trial.number, "state": trial.state.name.lower(), "value": value}


def _importances(*, study: optuna.Study, complete: int) -> tuple[tuple[Importance, ...], str | None]:
    """The importances, most important first, or why there are none (an error's text).

    None are computed below :data:`MIN_TRIALS_FOR_IMPORTANCES` complete trials (no error: the
    report says how many there are). Too few (or too similar) trials make the evaluator warn and
    return equal importances, which would look like a real result: that warning is an error here.
    """
    if complete < MIN_TRIALS_FOR_IMPORTANCES:
        return (), None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            importances = optuna.importance.get_param_importances(study)
        for warning in caught:
            if "importances will be equal" in str(warning.message):
                raise ValueError(str(warning.message))
    except (ValueError, RuntimeError, ImportError) as error:
        return (), str(error)
    kinds = {name: type(distribution).__name__
             for trial in reversed(study.get_trials(deepcopy=False)) for name, distribution in trial.distributions.items()}
    return tuple(Importance(name=name, distribution=kinds[name], value=value)
                 for name, value in importances.items()), None
