"""Budget curves: the expected best validation accuracy of a search against its number of trials.

Tang et al. 2020's unbiased estimator over each search's finished trials (valid for random
sampling), the mean over an arch's searches with a t interval over them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pairsearch.report.statistics import t_interval
from pairsearch.report.stats import with_search

BUDGET_COLUMNS = ["arch", "trials", "searches", "expected_best", "ci_low", "ci_high"]
PLATEAU = 0.002  # a curve has stopped rising once within 0.2 points of its value at the full budget


def expected_best(*, values: np.ndarray, n: int) -> float:
    """Expected best of ``n`` trials drawn without replacement from ``values`` (Tang et al. 2020).

    Unbiased for a search of ``n`` trials whose trials are exchangeable (random sampling):
    E[max] = Σᵢ v₍ᵢ₎ · C(i − 1, n − 1) / C(N, n) over the values sorted ascending.

    Each weight is a ratio of exact integers, rounded once (Python's int division), and the sum is
    exact until its one rounding (``math.fsum``): the same bits on every CPU and numpy/scipy
    version, which a BLAS dot product of SIMD ``exp``/``gammaln`` weights did not give (the
    published budget.csv differed in its last digits between two machines).
    """
    ordered = sorted(float(value) for value in values)
    ways = math.comb(len(ordered), n)
    terms, count = [], 1  # count: C(rank − 1, n − 1), exact, from rank n on
    for rank in range(n, len(ordered) + 1):
        terms.append(ordered[rank - 1] * (count / ways))
        count = count * rank // (rank - n + 1)
    return math.fsum(terms)


def budget_curves(*, trials: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Expected best validation accuracy against the number of trials, per arch.

    Each search's curve is :func:`expected_best` over its finished trials; a pruned trial counts
    with the last validation accuracy it reported (a lower bound of what it would have reached:
    the median pruner stops only trials below the running median, so one rarely sets the best).
    The arch's curve is the mean over its searches, with a t interval over them (none for one
    search).

    Args:
        trials: One row per finished trial with columns ``arch``, ``search``, ``value`` (the
            final validation accuracy, or a pruned trial's last reported one).
        confidence: Confidence level of the band.

    Returns:
        One row per (arch, trials) with the columns :data:`BUDGET_COLUMNS`, for budgets 1 … the
        smallest search's trial count.
    """
    rows = []
    for arch, group in with_search(trials).dropna(subset=["value"]).groupby("arch", sort=True):
        searches = [search["value"].to_numpy(dtype=float) for _, search in group.groupby("search")]
        for n in range(1, min(len(values) for values in searches) + 1):
            curve = np.array([expected_best(values=values, n=n) for values in searches])
            low, high = t_interval(values=curve, confidence=confidence)
            rows.append({"arch": str(arch), "trials": n, "searches": len(curve),
                         "expected_best": float(curve.mean()), "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows, columns=BUDGET_COLUMNS)


def plateau_trials(curves: pd.DataFrame) -> dict[str, int]:
    """Per arch, the budget from which the expected best stays within :data:`PLATEAU` of its
    value at the largest budget measured."""
    found = {}
    for arch, curve in curves.groupby("arch", sort=True):
        last = curve["expected_best"].iloc[-1]
        below = curve[curve["expected_best"] < last - PLATEAU]
        found[str(arch)] = int(below["trials"].max() + 1) if len(below) else 1
    return found
