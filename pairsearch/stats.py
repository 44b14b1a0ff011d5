"""Statistics of the final runs: per-arch summaries and paired comparisons between archs.

Input is one row per (arch, seed) with a ``test_accuracy`` column. Seeds are shared across
archs, so comparisons pair runs by seed. Rows whose accuracy is missing (a diverged run) are
left out, which shows up as a smaller ``n`` / ``n_pairs``.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

SUMMARY_COLUMNS = ["arch", "n", "mean", "std", "median", "iqm", "ci_low", "ci_high", "rank"]
PAIRWISE_COLUMNS = [
    "arch_a",
    "arch_b",
    "n_pairs",
    "mean_diff",
    "ci_low",
    "ci_high",
    "p_a_beats_b",
    "wilcoxon_p",
    "holm_p",
]


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
    accuracies = _accuracies_by_arch(results=results)
    rows = [
        _summary_row(
            arch=arch,
            values=values,
            confidence=confidence,
            n_resamples=n_resamples,
            random_state=random_state,
        )
        for arch, values in accuracies.items()
    ]
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS[:-1])
    summary["rank"] = summary["mean"].rank(ascending=False, method="min").astype(int)
    return summary.sort_values(["rank", "arch"], ignore_index=True)


def pairwise(
    *,
    results: pd.DataFrame,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    random_state: int = 0,
) -> pd.DataFrame:
    """Compare every pair of archs on the seeds they share.

    In each pair, ``arch_a`` is the arch with the better mean (the better rank in
    :func:`summarize`), so a positive ``mean_diff`` means the ranking holds on paired seeds.

    Args:
        results: One row per (arch, seed) with columns ``arch``, ``seed``, ``test_accuracy``.
        confidence: Confidence level of the bootstrap interval of the mean difference.
        n_resamples: Number of bootstrap resamples.
        random_state: Seed of the bootstrap's random generator.

    Returns:
        One row per unordered pair with columns ``arch_a, arch_b, n_pairs, mean_diff, ci_low,
        ci_high, p_a_beats_b, wilcoxon_p, holm_p``, sorted by ``holm_p`` then by decreasing
        ``mean_diff``.
    """
    by_seed = _accuracy_table(results=results)
    ranked = _archs_by_mean(by_seed=by_seed)
    rows = [
        _pairwise_row(
            arch_a=arch_a,
            arch_b=arch_b,
            by_seed=by_seed,
            confidence=confidence,
            n_resamples=n_resamples,
            random_state=random_state,
        )
        for arch_a, arch_b in itertools.combinations(ranked, 2)
    ]
    table = pd.DataFrame(rows, columns=PAIRWISE_COLUMNS[:-1])
    table["holm_p"] = holm_adjust(p_values=table["wilcoxon_p"].to_numpy(dtype=float))
    return table.sort_values(["holm_p", "mean_diff"], ascending=[True, False], ignore_index=True)


def holm_adjust(*, p_values: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni step-down adjustment; NaN p-values stay NaN and do not count.

    Args:
        p_values: Unadjusted p-values, in any order.

    Returns:
        Adjusted p-values in the same order as ``p_values``.
    """
    p_values = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p_values, np.nan)
    finite = np.flatnonzero(~np.isnan(p_values))
    order = finite[np.argsort(p_values[finite], kind="stable")]
    multipliers = np.arange(len(order), 0, -1)
    stepped = np.maximum.accumulate(multipliers * p_values[order])
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def _accuracies_by_arch(*, results: pd.DataFrame) -> dict[str, np.ndarray]:
    finished = results.dropna(subset=["test_accuracy"])
    return {
        str(arch): group["test_accuracy"].to_numpy(dtype=float)
        for arch, group in finished.groupby("arch", sort=True)
    }


def _summary_row(
    *, arch: str, values: np.ndarray, confidence: float, n_resamples: int, random_state: int
) -> dict:
    ci_low, ci_high = _bootstrap_mean_ci(
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


def interquartile_mean(*, values: np.ndarray) -> float:
    """Mean of the middle 50 % of the values (25 % trimmed from each end).

    Args:
        values: Sample values.

    Returns:
        The interquartile mean.
    """
    return float(scipy_stats.trim_mean(values, 0.25))


def _bootstrap_mean_ci(
    *, values: np.ndarray, confidence: float, n_resamples: int, random_state: int
) -> tuple[float, float]:
    """BCa bootstrap CI of the mean; percentile when BCa is degenerate; a point if no spread."""
    if len(values) == 0:
        return np.nan, np.nan
    if np.all(values == values[0]):
        return float(values[0]), float(values[0])
    # BCa's jackknife acceleration needs at least 3 values to be meaningful.
    if len(values) >= 3:
        low, high = _bootstrap(values, "BCa", confidence, n_resamples, random_state)
        if np.isfinite(low) and np.isfinite(high):
            return low, high
    return _bootstrap(values, "percentile", confidence, n_resamples, random_state)


def _bootstrap(
    values: np.ndarray, method: str, confidence: float, n_resamples: int, random_state: int
) -> tuple[float, float]:
    with warnings.catch_warnings():
        # A degenerate BCa interval warns and returns NaN; the caller falls back on NaN.
        warnings.simplefilter("ignore", scipy_stats.DegenerateDataWarning)
        result = scipy_stats.bootstrap(
            (values,),
            np.mean,
            confidence_level=confidence,
            n_resamples=n_resamples,
            method=method,
            rng=np.random.default_rng(random_state),
        )
    interval = result.confidence_interval
    return float(interval.low), float(interval.high)


def _accuracy_table(*, results: pd.DataFrame) -> pd.DataFrame:
    """Seeds × archs table of test accuracy; raises if an (arch, seed) appears twice."""
    duplicated = results.duplicated(subset=["arch", "seed"])
    if duplicated.any():
        first = results.loc[duplicated, ["arch", "seed"]].iloc[0].to_dict()
        raise ValueError(f"results has more than one row for {first}")
    return results.pivot(index="seed", columns="arch", values="test_accuracy")


def _archs_by_mean(*, by_seed: pd.DataFrame) -> list[str]:
    means = by_seed.mean(axis=0, skipna=True)
    ordered = sorted(means.index, key=lambda arch: (-_nan_to_neg_inf(means[arch]), str(arch)))
    return [str(arch) for arch in ordered]


def _nan_to_neg_inf(value: float) -> float:
    return -np.inf if np.isnan(value) else float(value)


def _pairwise_row(
    *,
    arch_a: str,
    arch_b: str,
    by_seed: pd.DataFrame,
    confidence: float,
    n_resamples: int,
    random_state: int,
) -> dict:
    common = by_seed[[arch_a, arch_b]].dropna()
    differences = (common[arch_a] - common[arch_b]).to_numpy(dtype=float)
    ci_low, ci_high = _bootstrap_mean_ci(
        values=differences,
        confidence=confidence,
        n_resamples=n_resamples,
        random_state=random_state,
    )
    return {
        "arch_a": arch_a,
        "arch_b": arch_b,
        "n_pairs": len(differences),
        "mean_diff": float(np.mean(differences)) if len(differences) else np.nan,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "p_a_beats_b": _probability_a_beats_b(differences=differences),
        "wilcoxon_p": _wilcoxon_p(differences=differences),
    }


def _probability_a_beats_b(*, differences: np.ndarray) -> float:
    """Fraction of paired seeds where A beats B; a tie counts as half a win."""
    if len(differences) == 0:
        return np.nan
    wins = np.sum(differences > 0) + 0.5 * np.sum(differences == 0)
    return float(wins / len(differences))


def _wilcoxon_p(*, differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p; 1.0 when there is no difference at all."""
    if len(differences) == 0:
        return np.nan
    if np.all(differences == 0):
        return 1.0
    return float(scipy_stats.wilcoxon(differences, alternative="two-sided").pvalue)
