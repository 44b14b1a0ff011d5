"""Inference on two-level results: independent searches, and seeds inside each search.

A configuration chosen by one search is one draw: another search of the same arch picks
another configuration, whose test accuracy differs by about a point here, against a seed
noise of a few tenths in a 15-seed mean. So every number is computed over *replicates*: search
r of every arch is one replicate of the whole experiment (:mod:`pairsearch.searches`), and a
value of a replicate is its mean over the final seeds it shares. With two or more searches,
intervals are Student t intervals over the replicates (K − 1 degrees of freedom): they include
the tuning luck. With one search they are t intervals over the seeds, which hold the chosen
configurations fixed, and the report says so. Both kinds are checked by a coverage simulation
(``tests/test_statistics.py``).

These are the building blocks of :mod:`pairsearch.report.stats`, which applies them to results tables.
Values come as a :class:`pandas.Series` indexed by ``(search, seed)``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

TEST_NAME = "paired t-test on the mean difference (two-sided; over searches, or over seeds with one search)"


def replicate_values(values: pd.Series) -> tuple[np.ndarray, str]:
    """The units intervals are computed over: search means when there are several searches,
    else the seeds. Returns (values, ``searches`` or ``seeds``)."""
    by_search = values.groupby(level="search").mean()
    if len(by_search) >= 2:
        return by_search.to_numpy(dtype=float), "searches"
    return values.to_numpy(dtype=float), "seeds"


def t_interval(*, values: np.ndarray, confidence: float) -> tuple[float, float]:
    """Student t interval of the mean: ``(low, high)``; NaN below two values, a point when they do not vary."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return np.nan, np.nan
    mean, sem = float(np.mean(values)), float(np.std(values, ddof=1)) / math.sqrt(len(values))
    if sem == 0:
        return mean, mean
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, df=len(values) - 1)) * sem
    return mean - half, mean + half


def t_test_p(*, values: np.ndarray) -> float:
    """Two-sided one-sample t-test that the mean is zero (the test that matches :func:`t_interval`)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return np.nan
    if float(np.std(values, ddof=1)) == 0:
        return 1.0 if float(np.mean(values)) == 0 else 0.0
    return float(scipy_stats.ttest_1samp(values, 0.0).pvalue)


def wilson_interval(*, successes: float, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of a proportion (stays inside [0, 1] and is not a point at 0 or n)."""
    if n == 0:
        return np.nan, np.nan
    z = float(scipy_stats.norm.ppf(0.5 + confidence / 2))
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def variance_components(values: pd.Series) -> tuple[float, float]:
    """Between-search and within-search (seed) standard deviations, one-way random effects.

    The ANOVA estimator: seed variance = the pooled within-search variance; search variance =
    (between-search mean square − seed variance) / n₀, floored at zero (n₀ the effective number
    of seeds per search). NaN where the data cannot tell (one search, or one seed per search).
    """
    groups = [group.to_numpy(dtype=float) for _, group in values.groupby(level="search")]
    total = sum(len(group) for group in groups)
    k = len(groups)
    if total - k < 1:
        return np.nan, np.nan
    within = sum(float(np.sum((group - group.mean()) ** 2)) for group in groups) / (total - k)
    if k < 2:
        return np.nan, math.sqrt(within)
    grand = float(np.mean(np.concatenate(groups)))
    between = sum(len(group) * (group.mean() - grand) ** 2 for group in groups) / (k - 1)
    n0 = (total - sum(len(group) ** 2 for group in groups) / total) / (k - 1)
    return math.sqrt(max(0.0, (between - within) / n0)), math.sqrt(within)


def paired_effect_size(*, differences: np.ndarray) -> float:
    """Standardised paired effect size d_z: mean ÷ sample standard deviation of the differences.

    Args:
        differences: Per-replicate (or, with one search, per-seed) differences.

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


def paired_summary(*, differences: pd.Series, confidence: float) -> dict:
    """The numbers every paired comparison reports.

    Args:
        differences: Differences (or contrasts) of test accuracy, indexed by ``(search, seed)``.
        confidence: Confidence level of the intervals.

    Returns:
        ``n_searches``, ``n_pairs`` (runs compared), ``level`` (what the interval is over:
        ``searches`` or ``seeds``); ``mean_diff`` (the mean over searches of each search's mean)
        with its t interval ``ci_low, ci_high`` and t-test ``p_value``; ``share_won``, the share
        of (search, seed) pairs with a positive difference (a zero counts half);
        ``p_better``, the share of searches whose mean difference is positive — Bouthillier et
        al.'s P(A > B) over replicates — with its Wilson interval ``p_better_low, p_better_high``
        (NaN with one search); ``effect_size`` (d_z over the units of the interval);
        ``sd_search``, ``sd_seed`` (:func:`variance_components`) and ``tuning_share``, the share
        of one run's variance that comes from the search.
    """
    units, level = replicate_values(differences) if len(differences) else (np.array([]), "seeds")
    low, high = t_interval(values=units, confidence=confidence)
    all_values = differences.to_numpy(dtype=float)
    n_searches = int(differences.index.get_level_values("search").nunique()) if len(differences) else 0
    sd_search, sd_seed = variance_components(differences) if len(differences) else (np.nan, np.nan)
    better = _wins(units) if level == "searches" else np.nan
    p_low, p_high = (wilson_interval(successes=better * len(units), n=len(units), confidence=confidence)
                     if level == "searches" else (np.nan, np.nan))
    return {
        "n_searches": n_searches,
        "n_pairs": len(all_values),
        "level": level,
        "mean_diff": float(np.mean(units)) if len(units) else np.nan,
        "ci_low": low,
        "ci_high": high,
        "p_value": t_test_p(values=units),
        "share_won": _wins(all_values),
        "p_better": better,
        "p_better_low": p_low,
        "p_better_high": p_high,
        "effect_size": paired_effect_size(differences=units),
        "sd_search": sd_search,
        "sd_seed": sd_seed,
        "tuning_share": _share(sd_search, sd_seed),
    }


def _wins(values: np.ndarray) -> float:
    """Share of positive values, a zero counting half; NaN for none."""
    if len(values) == 0:
        return np.nan
    return float((np.sum(values > 0) + 0.5 * np.sum(values == 0)) / len(values))


def _share(sd_search: float, sd_seed: float) -> float:
    """Share of one run's variance from the search: σ²_search / (σ²_search + σ²_seed)."""
    total = sd_search**2 + sd_seed**2
    return float(sd_search**2 / total) if np.isfinite(total) and total > 0 else np.nan


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
