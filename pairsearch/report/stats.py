"""Statistics of the final runs: per-arch summaries, paired comparisons and the 2×2 design.

Input is one row per (arch, search, seed) with a ``test_accuracy`` column (a table without a
``search`` column is one search, search 0). Search r of every arch is one replicate of the
experiment and seeds are shared across archs and searches, so comparisons pair runs by
(search, seed), and intervals are over the replicates (:mod:`pairsearch.report.statistics`). Rows
whose accuracy is missing (a diverged run) are left out, which shows up as a smaller ``n`` /
``n_pairs``. Every paired comparison is summarised and tested the same way
(:func:`pairsearch.report.statistics.paired_summary`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from pairsearch.report.statistics import (
    holm_adjust,
    interquartile_mean,
    paired_summary,
    replicate_values,
    t_interval,
    variance_components,
)
from pairsearch.training.models import Cell, design_archs

# The 2×2 design as the registry declares it: each arch that names its cell in @register_arch.
FACTORIAL_DESIGN: dict[str, Cell] = design_archs()
FACTORS = Cell._fields
ALL_CELLS = {Cell(*levels) for levels in itertools.product((False, True), repeat=2)}
INTERACTION = "interaction"

SUMMARY_COLUMNS = ["arch", "n", "n_searches", "level", "mean", "std", "median", "iqm", "ci_low", "ci_high",
                   "sd_search", "sd_seed", "rank"]
PAIRED_COLUMNS = ["n_searches", "n_pairs", "level", "mean_diff", "ci_low", "ci_high", "p_value", "share_won",
                  "p_better", "p_better_low", "p_better_high", "effect_size", "sd_search", "sd_seed", "tuning_share"]
PAIRWISE_COLUMNS = ["arch_a", "arch_b", *PAIRED_COLUMNS, "holm_p"]
EFFECT_COLUMNS = ["factor", "given", "contrast", *PAIRED_COLUMNS, "missing"]
VERSUS_BEST_COLUMNS = ["arch", "reference", *PAIRED_COLUMNS]


def summarize(*, results: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Summarise test accuracy per arch.

    Args:
        results: One row per (arch, search, seed) with columns ``arch`` and ``test_accuracy``.
        confidence: Confidence level of the t interval of the mean.

    Returns:
        One row per arch with the columns :data:`SUMMARY_COLUMNS`: ``n`` runs over
        ``n_searches`` searches; ``mean`` (of the searches' means) with its t interval over the
        searches — over the seeds with one search (``level``); ``std``, ``median`` and ``iqm``
        over every run; ``sd_search`` and ``sd_seed``, the variance split; ``rank`` 1 = best
        mean. Sorted by rank.
    """
    finished = with_search(results).dropna(subset=["test_accuracy"])
    rows = [
        _summary_row(arch=str(arch), values=group.set_index(["search", "seed"])["test_accuracy"],
                     confidence=confidence)
        for arch, group in finished.groupby("arch", sort=True)
    ]
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS[:-1])
    summary["rank"] = summary["mean"].rank(ascending=False, method="min").astype(int)
    return summary.sort_values(["rank", "arch"], ignore_index=True)


def best_epoch_results(*, curves: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """Per (arch, seed): the highest test accuracy over the epochs — the earlier projects' protocol.

    Choosing the epoch on the test set is optimistic; this exists only so that figures
    published that way can be compared like for like (pass it to :func:`summarize`). Only the
    seeds with a result count: a diverged run's epochs before it diverged are left out, so the
    best-epoch and the last-epoch figures cover the same seeds.

    Args:
        curves: One row per (arch, seed, epoch) with columns ``arch``, ``seed``, ``test_accuracy``.
        results: One row per (arch, seed) with a ``test_accuracy`` column (missing: no result).

    Returns:
        One row per (arch, search, seed) with columns ``arch``, ``search``, ``seed``, ``test_accuracy``.
    """
    keys = ["arch", "search", "seed"]
    with_result = with_search(results).dropna(subset=["test_accuracy"])[keys].drop_duplicates()
    measured = with_search(curves).dropna(subset=["test_accuracy"]).merge(with_result, on=keys)
    return measured.groupby(keys, sort=True)["test_accuracy"].max().reset_index()


def pairwise(
    *,
    results: pd.DataFrame,
    pairs: Sequence[tuple[str, str]] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Compare pairs of archs on the (search, seed) runs they share; one test for all, :data:`TEST_NAME`.

    Args:
        results: One row per (arch, search, seed) with columns ``arch``, ``seed``, ``test_accuracy``.
        pairs: The (A, B) pairs to compare, A − B, in the order wanted; they are the family of
            the Holm correction. Default: every unordered pair, the better mean as A.
        confidence: Confidence level of the t interval of the mean difference.

    Returns:
        One row per pair with the columns :data:`PAIRWISE_COLUMNS`; in the order of ``pairs``
        when given, else sorted by ``holm_p`` then by decreasing ``mean_diff``.
    """
    by_run = accuracy_table(results=results)
    chosen = pairs if pairs is not None else itertools.combinations(_archs_by_mean(by_run), 2)
    rows = [
        {"arch_a": arch_a, "arch_b": arch_b,
         **paired_summary(differences=contrast(by_run=by_run, weights={arch_a: 1.0, arch_b: -1.0}),
                          confidence=confidence)}
        for arch_a, arch_b in chosen
    ]
    table = pd.DataFrame(rows, columns=PAIRWISE_COLUMNS[:-1])
    table["holm_p"] = holm_adjust(p_values=table["p_value"].to_numpy(dtype=float))
    if pairs is not None:
        return table
    return table.sort_values(["holm_p", "mean_diff"], ascending=[True, False], ignore_index=True)


def factorial_effects(
    *,
    results: pd.DataFrame,
    design: Mapping[str, Cell] = FACTORIAL_DESIGN,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Effects of the two factors of a 2×2 design and their interaction, paired by (search, seed).

    For each factor: its effect (with it − without it) at each level of the other factor, and
    on average over the two levels; then the interaction, (effect of the first factor with the
    second) − (without the second), which is also the second factor's gain from the first.
    Each is a per-run contrast of the cells' accuracies, summarised like every comparison —
    over the replicates (search r of every arch) when there are several — on the runs where
    every cell it uses has a result.

    Args:
        results: One row per (arch, search, seed) with columns ``arch``, ``seed``, ``test_accuracy``.
        design: Arch → its :class:`Cell`; one arch per cell.
        confidence: Confidence level of the intervals.

    Returns:
        Seven rows with the columns :data:`EFFECT_COLUMNS`: ``factor`` is a field of
        :class:`Cell` or ``"interaction"``; ``given`` is ``"without"``, ``"with"`` (the other
        factor) or ``"average"`` (empty for the interaction); ``contrast`` is the formula over
        archs; ``missing`` lists the archs the contrast needs that have no result (the row's
        numbers are then NaN).
    """
    if len(design) != 4 or set(design.values()) != ALL_CELLS:
        raise ValueError(f"a 2×2 design needs one arch per cell, got {dict(design)}")
    by_run = accuracy_table(results=results)
    rows = [
        {"factor": factor, "given": given, "contrast": formula,
         **paired_summary(differences=contrast(by_run=by_run, weights=weights), confidence=confidence),
         "missing": ", ".join(arch for arch in weights if not _has_results(by_run=by_run, arch=arch))}
        for factor, given, weights, formula in factorial_contrasts(design=design)
    ]
    return pd.DataFrame(rows, columns=EFFECT_COLUMNS)


def versus_best(
    *,
    results: pd.DataFrame,
    design: Mapping[str, Cell] = FACTORIAL_DESIGN,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Every arch outside the design against the design's best arch (the best mean), by run.

    Args:
        results: One row per (arch, search, seed) with columns ``arch``, ``seed``, ``test_accuracy``.
        design: The archs of the 2×2 design, as for :func:`factorial_effects`.
        confidence: Confidence level of the intervals.

    Returns:
        One row per other arch (sorted by name) with the columns :data:`VERSUS_BEST_COLUMNS`:
        differences are arch − reference, their intervals simultaneous over the other archs
        (Bonferroni: each at ``1 − (1 − confidence) / k`` for k other archs, so that a "better"
        anywhere is not the luck of asking k times); empty when no arch of the design has a result.
    """
    by_run = accuracy_table(results=results)
    ranked = [arch for arch in _archs_by_mean(by_run) if _has_results(by_run=by_run, arch=arch)]
    in_design = [arch for arch in ranked if arch in design]
    if not in_design:
        return pd.DataFrame(columns=VERSUS_BEST_COLUMNS)
    reference = in_design[0]
    others = sorted(set(by_run.columns) - set(design))
    each = simultaneous_confidence(confidence=confidence, comparisons=len(others))
    rows = [
        {"arch": arch, "reference": reference,
         **paired_summary(differences=contrast(by_run=by_run, weights={arch: 1.0, reference: -1.0}),
                          confidence=each)}
        for arch in others
    ]
    return pd.DataFrame(rows, columns=VERSUS_BEST_COLUMNS)


def simultaneous_confidence(*, confidence: float, comparisons: int) -> float:
    """Each interval's level so that ``comparisons`` intervals hold together at ``confidence`` (Bonferroni)."""
    return 1 - (1 - confidence) / max(comparisons, 1)


def contrast_formula(*, weights: Mapping[str, float]) -> str:
    """A contrast as text: ``base − sep``, or ``(base + base_aux − sep − sep_aux) / 2``.

    Args:
        weights: Arch → weight, every weight ±1 or every weight ±1/2.

    Returns:
        The formula, positive terms first.
    """
    plus = [arch for arch, weight in weights.items() if weight > 0]
    minus = [arch for arch, weight in weights.items() if weight < 0]
    text = " + ".join(plus) + "".join(f" − {arch}" for arch in minus)
    return f"({text}) / 2" if all(abs(w) == 0.5 for w in weights.values()) else text


def factorial_contrasts(*, design: Mapping[str, Cell]):
    """(factor, given, weights, formula) of each factor's effects, then of the interaction."""
    simple = {}
    for factor, other in (FACTORS, FACTORS[::-1]):
        for given, level in (("without", False), ("with", True)):
            cells = {arch: cell for arch, cell in design.items() if getattr(cell, other) == level}
            weights = {arch: _sign(getattr(cell, factor)) for arch, cell in cells.items()}
            simple[(factor, given)] = contrast_formula(weights=weights)
            yield factor, given, weights, simple[(factor, given)]
        halves = {arch: 0.5 * _sign(getattr(cell, factor)) for arch, cell in design.items()}
        yield factor, "average", halves, contrast_formula(weights=halves)
    agree = {arch: _sign(cell.shared_weights == cell.aux_loss) for arch, cell in design.items()}
    first = FACTORS[0]
    yield INTERACTION, "", agree, f"({simple[(first, 'with')]}) − ({simple[(first, 'without')]})"


def _sign(flag: bool) -> float:
    return 1.0 if flag else -1.0


def contrast(*, by_run: pd.DataFrame, weights: Mapping[str, float]) -> pd.Series:
    """Per-run weighted sum of the archs' accuracies, indexed by (search, seed), on the runs
    where all of them have one."""
    if any(arch not in by_run.columns for arch in weights):
        return pd.Series([], dtype=float, index=pd.MultiIndex.from_tuples([], names=["search", "seed"]))
    common = by_run[list(weights)].dropna()
    return pd.Series(common.to_numpy(dtype=float) @ np.array(list(weights.values()), dtype=float),
                     index=common.index)


def _has_results(*, by_run: pd.DataFrame, arch: str) -> bool:
    return arch in by_run.columns and bool(by_run[arch].notna().any())


def _summary_row(*, arch: str, values: pd.Series, confidence: float) -> dict:
    units, level = replicate_values(values)
    ci_low, ci_high = t_interval(values=units, confidence=confidence)
    sd_search, sd_seed = variance_components(values)
    runs = values.to_numpy(dtype=float)
    return {
        "arch": arch,
        "n": len(runs),
        "n_searches": int(values.index.get_level_values("search").nunique()),
        "level": level,
        "mean": float(np.mean(units)),
        "std": float(np.std(runs, ddof=1)) if len(runs) > 1 else np.nan,
        "median": float(np.median(runs)),
        "iqm": interquartile_mean(values=runs),
        "ci_low": ci_low,
        "ci_high": ci_high,
        "sd_search": sd_search,
        "sd_seed": sd_seed,
    }


def with_search(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` with a ``search`` column (0 where it has none: one search)."""
    return results if "search" in results.columns else results.assign(search=0)


def accuracy_table(*, results: pd.DataFrame) -> pd.DataFrame:
    """(search, seed) × archs table of test accuracy; raises if an (arch, search, seed) appears twice."""
    results = with_search(results)
    duplicated = results.duplicated(subset=["arch", "search", "seed"])
    if duplicated.any():
        first = results.loc[duplicated, ["arch", "search", "seed"]].iloc[0].to_dict()
        raise ValueError(f"results has more than one row for {first}")
    return results.pivot(index=["search", "seed"], columns="arch", values="test_accuracy")


def _archs_by_mean(by_run: pd.DataFrame) -> list[str]:
    means = by_run.groupby(level="search").mean().mean(axis=0, skipna=True).fillna(-np.inf)
    return [str(arch) for arch in sorted(means.index, key=lambda arch: (-means[arch], str(arch)))]
