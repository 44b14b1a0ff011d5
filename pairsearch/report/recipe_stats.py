"""How the final runs' statistics change between two recipes: the same archs, the same seeds.

A run's change is its contrast (or its arch's accuracy) under the second recipe − under the
first, so every change is paired by (search, seed) and summarised like every other paired comparison
(:func:`pairsearch.report.statistics.paired_summary`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from pairsearch.report import stats
from pairsearch.report.facts import RecipePair
from pairsearch.report.statistics import paired_summary
from pairsearch.report.verdicts import reading
from pairsearch.training.models import arch_order

CHANGE_COLUMNS = ["factor", "given", "contrast", *stats.PAIRED_COLUMNS]
BY_RECIPE_COLUMNS = ["factor", "given", "contrast", "recipe", *stats.PAIRED_COLUMNS, "missing"]
# Tags that keep two sets of results of the same archs apart in one seeds × archs table.
BEFORE, AFTER = "\x00before", "\x00after"


def effect_changes(
    *,
    before: pd.DataFrame,
    after: pd.DataFrame,
    design: Mapping[str, stats.Cell] = stats.FACTORIAL_DESIGN,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """How each effect of :func:`pairsearch.report.stats.factorial_effects` changes from ``before`` to ``after``.

    The two sets of results are of the same archs on the same seeds, trained two ways (two
    recipes): a seed's change is its contrast in ``after`` − its contrast in ``before``, over
    the seeds where all eight runs have a result.

    Args:
        before: Results as for :func:`pairsearch.report.stats.factorial_effects`.
        after: Results of the same archs, trained otherwise.
        design: As for :func:`pairsearch.report.stats.factorial_effects`.
        confidence: Confidence level of the intervals.

    Returns:
        The seven rows of :func:`pairsearch.report.stats.factorial_effects`, with the columns :data:`CHANGE_COLUMNS`.
    """
    by_run = _tagged_table(before=before, after=after)
    rows = [
        {"factor": factor, "given": given, "contrast": formula,
         **_change_summary(by_run=by_run, weights=weights, confidence=confidence)}
        for factor, given, weights, formula in stats.factorial_contrasts(design=design)
    ]
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS)


def arch_changes(
    *,
    before: pd.DataFrame,
    after: pd.DataFrame,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Each arch's test accuracy ``after`` − ``before``, paired by seed (archs in both, by name).

    Returns:
        One row per arch, in the report's one arch order (:func:`pairsearch.training.models.arch_order`),
        with the columns ``arch`` and :data:`pairsearch.report.stats.PAIRED_COLUMNS`.
    """
    by_run = _tagged_table(before=before, after=after)
    archs = arch_order(labels=set(before["arch"].astype(str)) & set(after["arch"].astype(str)))
    rows = [
        {"arch": arch, **_change_summary(by_run=by_run, weights={arch: 1.0}, confidence=confidence)}
        for arch in archs
    ]
    return pd.DataFrame(rows, columns=["arch", *stats.PAIRED_COLUMNS])


def _tagged_table(*, before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """One (search, seed) × archs table of both sets, each arch's columns tagged with its set."""
    tagged = [frame.assign(arch=frame["arch"].astype(str) + tag)
              for frame, tag in ((before, BEFORE), (after, AFTER))]
    return stats.accuracy_table(results=pd.concat(tagged, ignore_index=True))


def _change_summary(*, by_run: pd.DataFrame, weights: Mapping[str, float], confidence: float) -> dict:
    """The paired summary of a contrast's per-run change from the ``before`` to the ``after`` set."""
    both = {**{arch + AFTER: w for arch, w in weights.items()},
            **{arch + BEFORE: -w for arch, w in weights.items()}}
    return paired_summary(differences=stats.contrast(by_run=by_run, weights=both), confidence=confidence)


@dataclass(frozen=True)
class RecipeComparison:
    """Every number of the answer under two recipes, computed once.

    Attributes:
        effects: Long, with the columns :data:`BY_RECIPE_COLUMNS`: ``recipe`` is the baseline's
            name, the reported recipe's, or ``change``.
        archs: Per arch: ``before_mean``, ``after_mean`` and the paired change.
        readings: (factor, given) → :func:`pairsearch.report.verdicts.reading` of the effect
            (None: the change has no runs).
    """

    effects: pd.DataFrame
    archs: pd.DataFrame
    readings: dict[tuple[str, str], str | None]


def compare(*, pair: RecipePair, results: pd.DataFrame, design: Mapping[str, stats.Cell]) -> RecipeComparison | None:
    """The effects under each recipe, their changes and readings; None when the baseline has no results."""
    before = pair.baseline_results
    if before.empty:
        return None
    under_each = [stats.factorial_effects(results=before, design=design).assign(recipe=pair.baseline),
                  stats.factorial_effects(results=results, design=design).assign(recipe=pair.recipe_name)]
    missing = [", ".join(sorted({arch for text in texts for arch in text.split(", ") if arch}))
               for texts in zip(*(frame["missing"] for frame in under_each), strict=True)]
    change = effect_changes(before=before, after=results, design=design).assign(recipe="change")
    frames = [*under_each, change.assign(missing=missing)]
    effects = pd.concat([frame.reindex(columns=BY_RECIPE_COLUMNS) for frame in frames], ignore_index=True)
    return RecipeComparison(effects=effects, archs=_arch_means_and_changes(before=before, after=results),
                            readings=_readings(effects=effects, pair=pair))


def _arch_means_and_changes(*, before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    means = {name: stats.summarize(results=frame).set_index("arch")["mean"]
             for name, frame in (("before_mean", before), ("after_mean", after))}
    archs = arch_changes(before=before, after=after)
    for column, series in means.items():
        archs.insert(1 if column == "before_mean" else 2, column, archs["arch"].map(series))
    return archs


def _readings(*, effects: pd.DataFrame, pair: RecipePair) -> dict[tuple[str, str], str | None]:
    roles = {pair.baseline: "before", pair.recipe_name: "after", "change": "change"}
    rows: dict[tuple[str, str], dict] = {}
    for row in effects.itertuples(index=False):
        rows.setdefault((row.factor, row.given), {})[roles[row.recipe]] = row
    return {key: reading(**by_role) for key, by_role in rows.items()}
