"""The experiment's protocol as the report states it: data, seeds, recipe, epochs, searches.

Part of the report's read layer (:mod:`pairsearch.report.results` calls it): the facts a reader
needs to reproduce the comparison, read from the plans and their tuning studies. The runs' own
machines, versions and dates are recorded per job (:data:`pairsearch.report.results.PROVENANCE_KEYS`);
the two facts of the process that writes the report are
:data:`pairsearch.report.facts.WRITER_KEYS`.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

import optuna
from optuna.trial import TrialState

from pairsearch.jobs import FinalPlan
from pairsearch.report.facts import WRITER_KEYS
from pairsearch.searches import final_seeds
from pairsearch.storage.handle import StorageHandle


def protocol(
    *, handle: StorageHandle, plans: list[FinalPlan], seeds: int, studies: Mapping[str, optuna.Study]
) -> dict:
    """The facts a reader needs to reproduce the comparison (the runs' own devices and versions
    are recorded per job, in the results); ``studies`` are the plans' tuning studies, by name."""
    from pairsearch.version import version_text

    trials = {}
    for plan in plans:
        study = studies[plan.study_name]
        trials[plan.study_name] = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
    return {
        "data source": plans[0].data_source,
        "data fingerprint": ", ".join(sorted({p.data_fingerprint for p in plans})),
        "training pairs per seed": 1000,
        "test pairs per seed": 1000,
        "training recipe": recipe_text(plans=plans),
        "epochs": per_study({p.study_name: p.epochs for p in plans}) + _epochs_source(plans=plans),
        "searches per arch": ", ".join(f"{label} {n}" for label, n in _searches_per_label(plans).items()),
        "seeds": f"{final_seeds(seeds)[0]}…{final_seeds(seeds)[-1]} per search (the same for every arch and "
                 "search: paired; apart from every tuning seed)",
        "reported": "test accuracy after the last epoch",
        "tuning trials (finished)": per_study(trials),
        "storage": handle.redacted,
        WRITER_KEYS[0]: version_text(),
        WRITER_KEYS[1]: datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
    }


def per_study(values: Mapping[str, object]) -> str:
    """``10 in each of the 29 studies`` where every study has the same value, else ``base 10, sep 12``."""
    if len(values) > 1 and len(set(values.values())) == 1:
        return f"{next(iter(values.values()))} in each of the {len(values)} studies"
    return ", ".join(f"{name} {value}" for name, value in values.items())


def _searches_per_label(plans: list[FinalPlan]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for plan in plans:
        counts[plan.label] = counts.get(plan.label, 0) + 1
    return counts


def recipe_text(*, plans: list[FinalPlan]) -> str:
    """The plans' recipe: ``strong: training images shifted by up to 1 px (content hash 0123abcd…)``."""
    texts = {f"{p.recipe.name}: {p.recipe.augmentation()} (content hash {p.recipe_record['hash']})"
             for p in plans}
    return "; ".join(sorted(texts))


def _epochs_source(*, plans: list[FinalPlan]) -> str:
    """Where the epochs came from when not from the recipe as chosen: ``--epochs`` overrides it."""
    overridden = sorted({p.recipe_record["epochs"] for p in plans if p.epochs != p.recipe_record["epochs"]})
    return f" (--epochs; the recipe's: {', '.join(map(str, overridden))})" if overridden else ""
