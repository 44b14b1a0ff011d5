"""How the final runs' statistics change between two recipes: the same archs, the same seeds.

A run's change is its contrast (or its arch's accuracy) under the second recipe − under the
first, so every change is paired by (search, seed) and summarised like every other paired comparison
(:func:`pairsearch.report.statistics.paired_summary`).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from pairsearch.report import stats
from pairsearch.report.statistics import paired_summary

CHANGE_COLUMNS = ["factor", "given", "contrast", *stats.PAIRED_COLUMNS]
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
        One row per arch with the columns ``arch`` and :data:`pairsearch.report.stats.PAIRED_COLUMNS`.
    """
    by_run = _tagged_table(before=before, after=after)
    archs = sorted(set(before["arch"].astype(str)) & set(after["arch"].astype(str)))
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
