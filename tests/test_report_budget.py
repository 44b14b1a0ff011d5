"""Budget curves: the expected best of n trials, against every subset counted by hand."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pandas as pd
import pytest

from pairsearch.report.budget import budget_curves, expected_best


@pytest.mark.parametrize("seed", range(3))
def test_expected_best_is_the_mean_best_over_every_subset_of_n_trials(seed):
    values = [random.Random(seed).random() for _ in range(8)]
    for n in range(1, len(values) + 1):
        by_hand = statistics.fmean(max(subset) for subset in itertools.combinations(values, n))
        assert expected_best(values=values, n=n) == pytest.approx(by_hand, rel=1e-14)
    assert expected_best(values=values, n=1) == pytest.approx(statistics.fmean(values), rel=1e-15)
    assert expected_best(values=values, n=len(values)) == max(values)


def test_expected_best_with_ties_and_at_a_thousand_trials():
    """Tied values (pruned trials at the same accuracy), and N = 2000 where C(N, n) overflows a float."""
    tied = [0.5, 0.5, 0.75, 0.75, 0.75]
    assert expected_best(values=tied, n=2) == pytest.approx(
        statistics.fmean(max(pair) for pair in itertools.combinations(tied, 2)), rel=1e-15)
    many = [i / 2000 for i in range(2000)]
    assert math.comb(2000, 1000) > 10**308
    # E[max of n of 0, 1/N, …, (N − 1)/N] = (n (N + 1) / (n + 1) − 1) / N, drawn without replacement.
    assert expected_best(values=many, n=1000) == pytest.approx((1000 * 2001 / 1001 - 1) / 2000, rel=1e-13)


def test_budget_curves_average_the_searches_of_an_arch():
    trials = pd.DataFrame([{"arch": "base", "search": search, "value": value}
                           for search, values in enumerate([[0.1, 0.3, 0.2], [0.4, 0.6, 0.5]]) for value in values])
    curves = budget_curves(trials=trials)
    assert list(curves["trials"]) == [1, 2, 3] and set(curves["searches"]) == {2}
    assert list(curves["expected_best"]) == pytest.approx([0.35, (0.8 / 3 + 1.7 / 3) / 2, 0.45])
    assert (curves["ci_low"] < curves["expected_best"]).all() and (curves["expected_best"] < curves["ci_high"]).all()
