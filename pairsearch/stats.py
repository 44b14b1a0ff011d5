"""Statistics of the final runs: per-arch summaries, paired comparisons and the 2×2 design.

Input is one row per (arch, seed) with a ``test_accuracy`` column. Seeds are shared across
archs, so comparisons pair runs by seed. Rows whose accuracy is missing (a diverged run) are
left out, which shows up as a smaller ``n`` / ``n_pairs``. Every paired comparison is
summarised the same way (:func:`pairsearch.inference.paired_summary`) and tested with one
test, :func:`pairsearch.inference.sign_flip_p`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from pairsearch.inference import (
    bootstrap_mean_ci,
    holm_adjust,
    interquartile_mean,
    paired_summary,
    sign_flip_p,
)


class Cell(NamedTuple):
    """Where an arch sits in the 2×2 design."""

    shared_weights: bool
    aux_loss: bool


# The one place that says which archs form the 2×2 design, and how.
FACTORIAL_DESIGN: dict[str, Cell] = {
    "base": Cell(shared_weights=True, aux_loss=False),
    "base_aux": Cell(shared_weights=True, aux_loss=True),
    "sep": Cell(shared_weights=False, aux_loss=False),
    "sep_aux": Cell(shared_weights=False, aux_loss=True),
}
FACTORS = Cell._fields
ALL_CELLS = {Cell(*levels) for levels in itertools.product((False, True), repeat=2)}
INTERACTION = "interaction"

SUMMARY_COLUMNS = ["arch", "n", "mean", "std", "median", "iqm", "ci_low", "ci_high", "rank"]
PAIRED_COLUMNS = ["n_pairs", "mean_diff", "ci_low", "ci_high", "p_improvement", "effect_size"]
PAIRWISE_COLUMNS = ["arch_a", "arch_b", *PAIRED_COLUMNS, "p_value", "holm_p"]
EFFECT_COLUMNS = ["factor", "given", "contrast", *PAIRED_COLUMNS, "missing"]
VERSUS_BEST_COLUMNS = ["arch", "reference", *PAIRED_COLUMNS]


def summarize(
    *,
    results: pd.DataFrame,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    random_state: int = 0,
) -> pd.DataFrame:
    """Summarise test accuracy per arch.

    Args:
        results: One row per (arch, seed) with columns ``arch`` and ``test_accuracy``.
        confidence: Confidence level of the bootstrap interval of the mean.
        n_resamples: Number of bootstrap resamples.
        random_state: Seed of the bootstrap's random generator.

    Returns:
        One row per arch with columns ``arch, n, mean, std, median, iqm, ci_low, ci_high,
        rank`` (rank 1 = best mean), sorted by rank.
    """
    finished = results.dropna(subset=["test_accuracy"])
    rows = [
        _summary_row(
            arch=str(arch),
            values=group["test_accuracy"].to_numpy(dtype=float),
            confidence=confidence,
            n_resamples=n_resamples,
            random_state=random_state,
        )
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
        One row per (arch, seed) with columns ``arch``, ``seed``, ``test_accuracy``.
    """
    with_result = results.dropna(subset=["test_accuracy"])[["arch", "seed"]].drop_duplicates()
    measured = curves.dropna(subset=["test_accuracy"]).merge(with_result, on=["arch", "seed"])
    return measured.groupby(["arch", "seed"], sort=True)["test_accuracy"].max().reset_index()


def pairwise(
    *,
    results: pd.DataFrame,
    pairs: Sequence[tuple[str, str]] | None = None,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    random_state: int = 0,
) -> pd.DataFrame:
    """Compare pairs of archs on the seeds they share; one test for all, :data:`TEST_NAME`.

    Args:
        results: One row per (arch, seed) with columns ``arch``, ``seed``, ``test_accuracy``.
        pairs: The (A, B) pairs to compare, A − B, in the order wanted; they are the family of
            the Holm correction. Default: every unordered pair, the better mean as A.
        confidence: Confidence level of the bootstrap interval of the mean difference.
        n_resamples: Number of bootstrap resamples.
        random_state: Seed of the random generators (bootstrap, and the test beyond
            :data:`pairsearch.inference.MAX_EXACT_PAIRS` pairs).

    Returns:
        One row per pair with the columns :data:`PAIRWISE_COLUMNS`; in the order of ``pairs``
        when given, else sorted by ``holm_p`` then by decreasing ``mean_diff``.
    """
    by_seed = accuracy_table(results=results)
    chosen = pairs if pairs is not None else itertools.combinations(_archs_by_mean(by_seed), 2)
    rows = []
    for arch_a, arch_b in chosen:
        differences = contrast(by_seed=by_seed, weights={arch_a: 1.0, arch_b: -1.0})
        rows.append(
            {
                "arch_a": arch_a,
                "arch_b": arch_b,
                **paired_summary(
                    differences=differences,
                    confidence=confidence,
                    n_resamples=n_resamples,
                    random_state=random_state,
                ),
                "p_value": sign_flip_p(differences=differences, random_state=random_state),
            }
        )
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
    n_resamples: int = 10_000,
    random_state: int = 0,
) -> pd.DataFrame:
    """Effects of the two factors of a 2×2 design and their interaction, paired by seed.

    For each factor: its effect (with it − without it) at each level of the other factor, and
    on average over the two levels; then the interaction, (effect of the first factor with the
    second) − (without the second), which is also the second factor's gain from the first.
    Each is a per-seed contrast of the cells' accuracies, summarised like every comparison,
    over the seeds where every cell it uses has a result.

    Args:
        results: One row per (arch, seed) with columns ``arch``, ``seed``, ``test_accuracy``.
        design: Arch → its :class:`Cell`; one arch per cell.
        confidence: Confidence level of the bootstrap intervals.
        n_resamples: Number of bootstrap resamples.
        random_state: Seed of the bootstrap's random generator.

    Returns:
        Seven rows with the columns :data:`EFFECT_COLUMNS`: ``factor`` is a field of
        :class:`Cell` or ``"interaction"``; ``given`` is ``"without"``, ``"with"`` (the other
        factor) or ``"average"`` (empty for the interaction); ``contrast`` is the formula over
        archs; ``missing`` lists the archs the contrast needs that have no result (the row's
        numbers are then NaN).
    """
    if len(design) != 4 or set(design.values()) != ALL_CELLS:
        raise ValueError(f"a 2×2 design needs one arch per cell, got {dict(design)}")
    by_seed = accuracy_table(results=results)
    rows = []
    for factor, given, weights, formula in factorial_contrasts(design=design):
        differences = contrast(by_seed=by_seed, weights=weights)
        missing = [arch for arch in weights if not _has_results(by_seed=by_seed, arch=arch)]
        rows.append(
            {
                "factor": factor,
                "given": given,
                "contrast": formula,
                **paired_summary(
                    differences=differences,
                    confidence=confidence,
                    n_resamples=n_resamples,
                    random_state=random_state,
                ),
                "missing": ", ".join(missing),
            }
        )
    return pd.DataFrame(rows, columns=EFFECT_COLUMNS)


def versus_best(
    *,
    results: pd.DataFrame,
    design: Mapping[str, Cell] = FACTORIAL_DESIGN,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    random_state: int = 0,
) -> pd.DataFrame:
    """Every arch outside the design against the design's best arch (the best mean), by seed.

    Args:
        results: One row per (arch, seed) with columns ``arch``, ``seed``, ``test_accuracy``.
        design: The archs of the 2×2 design, as for :func:`factorial_effects`.
        confidence: Confidence level of the bootstrap intervals.
        n_resamples: Number of bootstrap resamples.
        random_state: Seed of the bootstrap's random generator.

    Returns:
        One row per other arch (sorted by name) with the columns :data:`VERSUS_BEST_COLUMNS`:
        differences are arch − reference; empty when no arch of the design has a result.
    """
    by_seed = accuracy_table(results=results)
    ranked = [arch for arch in _archs_by_mean(by_seed) if _has_results(by_seed=by_seed, arch=arch)]
    in_design = [arch for arch in ranked if arch in design]
    if not in_design:
        return pd.DataFrame(columns=VERSUS_BEST_COLUMNS)
    reference = in_design[0]
    rows = [
        {
            "arch": arch,
            "reference": reference,
            **paired_summary(
                differences=contrast(by_seed=by_seed, weights={arch: 1.0, reference: -1.0}),
                confidence=confidence,
                n_resamples=n_resamples,
                random_state=random_state,
            ),
        }
        for arch in sorted(set(by_seed.columns) - set(design))
    ]
    return pd.DataFrame(rows, columns=VERSUS_BEST_COLUMNS)


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


def contrast(*, by_seed: pd.DataFrame, weights: Mapping[str, float]) -> np.ndarray:
    """Per-seed weighted sum of the archs' accuracies, on seeds where all of them have one."""
    if any(arch not in by_seed.columns for arch in weights):
        return np.array([])
    common = by_seed[list(weights)].dropna()
    return common.to_numpy(dtype=float) @ np.array(list(weights.values()), dtype=float)


def _has_results(*, by_seed: pd.DataFrame, arch: str) -> bool:
    return arch in by_seed.columns and bool(by_seed[arch].notna().any())


def _summary_row(
    *, arch: str, values: np.ndarray, confidence: float, n_resamples: int, random_state: int
) -> dict:
    ci_low, ci_high = bootstrap_mean_ci(
        values=values, confidence=confidence, n_resamples=n_resamples, random_state=random_state
    )
    return {
        "arch": arch,
        "n": len(values),
        "mean": float(np.mean(values)),
        "std": float(np.std(values, ddof=1)) if len(values) > 1 else np.nan,
        "median": float(np.median(values)),
        "iqm": interquartile_mean(values=values),
        "ci_low": ci_low,
        "ci_high": ci_high,
    }


def accuracy_table(*, results: pd.DataFrame) -> pd.DataFrame:
    """Seeds × archs table of test accuracy; raises if an (arch, seed) appears twice."""
    duplicated = results.duplicated(subset=["arch", "seed"])
    if duplicated.any():
        first = results.loc[duplicated, ["arch", "seed"]].iloc[0].to_dict()
        raise ValueError(f"results has more than one row for {first}")
    return results.pivot(index="seed", columns="arch", values="test_accuracy")


def _archs_by_mean(by_seed: pd.DataFrame) -> list[str]:
    means = by_seed.mean(axis=0, skipna=True).fillna(-np.inf)
    return [str(arch) for arch in sorted(means.index, key=lambda arch: (-means[arch], str(arch)))]
