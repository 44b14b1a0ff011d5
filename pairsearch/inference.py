"""Inference on arrays of per-seed numbers: bootstrap intervals, the sign-flip test, Holm.

These are the building blocks of :mod:`pairsearch.stats`, which applies them to results tables.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats as scipy_stats

TEST_NAME = "paired sign-flip permutation test (two-sided, on the mean difference)"
MAX_EXACT_PAIRS = 20  # 2**20 sign patterns: 8 MB and a fraction of a second


def paired_effect_size(*, differences: np.ndarray) -> float:
    """Standardised paired effect size d_z: mean ÷ sample standard deviation of the differences.

    Args:
        differences: Per-seed differences.

    Returns:
        d_z; ±inf when every difference is the same non-zero value, NaN with fewer than two
        differences or when all are zero.
    """
    differences = np.asarray(differences, dtype=float)
    if len(differences) < 2:
        return np.nan
    mean, std = float(np.mean(differences)), float(np.std(differences, ddof=1))
    if std == 0:
        return np.nan if mean == 0 else float(np.copysign(np.inf, mean))
    return mean / std


def sign_flip_p(
    *, differences: np.ndarray, n_resamples: int = 100_000, random_state: int = 0
) -> float:
    """Two-sided paired permutation test that the mean difference is zero.

    If two archs are interchangeable, each seed's difference is as likely to have either sign.
    The p-value is the share of the 2^n sign patterns whose sum lies at least as far from zero
    as the observed sum. Zeros and tied differences need no special case, so every pair is
    tested the same way (unlike SciPy's Wilcoxon, which leaves its exact distribution for a
    normal approximation when differences tie). Exact up to :data:`MAX_EXACT_PAIRS`
    differences; beyond, ``n_resamples`` random patterns, p = (hits + 1) / (n_resamples + 1).

    Args:
        differences: Per-seed differences.
        n_resamples: Random sign patterns when there are too many to enumerate.
        random_state: Seed of the random sign patterns.

    Returns:
        The p-value; NaN with no differences.
    """
    magnitudes = np.abs(np.asarray(differences, dtype=float))
    if len(magnitudes) == 0:
        return np.nan
    observed = abs(float(np.sum(differences)))
    # Sums of one set of numbers in another order differ by rounding only.
    tolerance = 1e-9 * max(float(np.sum(magnitudes)), 1e-300)
    if len(magnitudes) <= MAX_EXACT_PAIRS:
        sums = np.zeros(1)
        for magnitude in magnitudes:
            sums = np.concatenate([sums + magnitude, sums - magnitude])
        return float(np.mean(np.abs(sums) >= observed - tolerance))
    rng = np.random.default_rng(random_state)
    signs = rng.choice([-1.0, 1.0], size=(n_resamples, len(magnitudes)))
    hits = int(np.sum(np.abs(signs @ magnitudes) >= observed - tolerance))
    return (hits + 1) / (n_resamples + 1)


def paired_summary(
    *, differences: np.ndarray, confidence: float, n_resamples: int, random_state: int
) -> dict:
    """The numbers every paired comparison reports.

    Args:
        differences: Per-seed differences (or contrasts) of test accuracy.
        confidence: Confidence level of the bootstrap interval of the mean.
        n_resamples: Number of bootstrap resamples.
        random_state: Seed of the bootstrap's random generator.

    Returns:
        ``n_pairs``; ``mean_diff`` with its bootstrap interval ``ci_low, ci_high``;
        ``p_improvement``, the share of seeds with a positive difference (a zero counts half);
        ``effect_size``, :func:`paired_effect_size`.
    """
    differences = np.asarray(differences, dtype=float)
    ci_low, ci_high = bootstrap_mean_ci(
        values=differences,
        confidence=confidence,
        n_resamples=n_resamples,
        random_state=random_state,
    )
    n_pairs = len(differences)
    wins = np.sum(differences > 0) + 0.5 * np.sum(differences == 0)
    return {
        "n_pairs": n_pairs,
        "mean_diff": float(np.mean(differences)) if n_pairs else np.nan,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "p_improvement": float(wins / n_pairs) if n_pairs else np.nan,
        "effect_size": paired_effect_size(differences=differences),
    }


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


def interquartile_mean(*, values: np.ndarray) -> float:
    """Mean of the middle 50 % of the values (25 % trimmed from each end).

    Args:
        values: Sample values.

    Returns:
        The interquartile mean.
    """
    return float(scipy_stats.trim_mean(values, 0.25))


def bootstrap_mean_ci(
    *, values: np.ndarray, confidence: float, n_resamples: int, random_state: int
) -> tuple[float, float]:
    """Bootstrap confidence interval of the mean.

    BCa (bias-corrected and accelerated); percentile when BCa is degenerate or there are fewer
    than three values; a point when the values do not vary.

    Args:
        values: Sample values.
        confidence: Confidence level.
        n_resamples: Number of bootstrap resamples.
        random_state: Seed of the resampling's random generator.

    Returns:
        ``(low, high)``; NaN for no values.
    """
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
