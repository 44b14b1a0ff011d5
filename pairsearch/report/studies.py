"""The tuning studies read once into :class:`~pairsearch.report.records.TuningStudy` records.

Read here, from the studies: trial states and user attrs ``epochs_run``, ``seconds_per_epoch``,
``n_parameters``; study user attrs ``arch``, ``spec``, ``versions`` and ``recipe``; and the
hyperparameter importances, with the number of complete trials they are computed from.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from pairsearch.report.records import (
    COMPLETE_TRIAL_COLUMNS,
    MIN_TRIALS_FOR_IMPORTANCES,
    Importance,
    TuningStudy,
)
from pairsearch.training.recipes import recipe_from_record


def read_studies(*, studies: Mapping[str, optuna.Study]) -> dict[str, TuningStudy]:
    """Label → the record of its tuning study.

    Args:
        studies: Label → tuning study (loaded from the storage, or made in memory).

    Returns:
        Label → :class:`~pairsearch.report.records.TuningStudy`, in the order given.
    """
    return {label: read_study(study=study) for label, study in studies.items()}


def read_study(*, study: optuna.Study) -> TuningStudy:
    """One tuning study's counts, compute, stored settings, complete trials and importances."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    best = max(complete, key=lambda t: t.value) if complete else None
    attrs = study.user_attrs
    recipe = recipe_from_record(attrs.get("recipe"), epochs=attrs.get("epochs", 0))
    importances, error = _importances(study=study, complete=len(complete))
    return TuningStudy(
        study_name=study.study_name,
        arch=attrs.get("arch"),
        states={state.name.lower(): sum(t.state == state for t in trials) for state in TrialState},
        epochs=_epochs(trials),
        training_seconds=_training_seconds(trials),
        wall_seconds=_wall_seconds(trials),
        best_number=None if best is None else best.number,
        best_value=None if best is None else best.value,
        spec=json.loads(attrs["spec"]) if "spec" in attrs else None,
        versions=attrs.get("versions"),
        recipe_name=recipe.name,
        recipe_augmentation=recipe.augmentation(),
        complete=pd.DataFrame([_complete_row(t) for t in complete], columns=COMPLETE_TRIAL_COLUMNS),
        importances=importances,
        importance_error=error,
    )


def _epochs(trials: list[FrozenTrial]) -> int | None:
    epochs = [t.user_attrs.get("epochs_run") for t in trials]
    return sum(e for e in epochs if e is not None) if any(epochs) else None


def _training_seconds(trials: list[FrozenTrial]) -> float | None:
    seconds = [t.user_attrs["epochs_run"] * t.user_attrs["seconds_per_epoch"]
               for t in trials if "epochs_run" in t.user_attrs and "seconds_per_epoch" in t.user_attrs]
    return sum(seconds) if seconds else None


def _wall_seconds(trials: list[FrozenTrial]) -> float | None:
    walls = [(t.datetime_complete - t.datetime_start).total_seconds()
             for t in trials if t.datetime_complete and t.datetime_start]
    return sum(walls) if walls else None


def _complete_row(trial: FrozenTrial) -> dict:
    return {"number": trial.number, "n_parameters": trial.user_attrs.get("n_parameters"), "value": trial.value}


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
