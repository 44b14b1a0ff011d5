import itertools

import numpy as np
import pytest
from scipy import stats as scipy_stats

from pairsearch import inference


def _enumerated_sign_flip_p(differences: list[float]) -> float:
    """Share of all 2^n sign patterns whose |sum| reaches the observed |sum| (by brute force)."""
    observed = abs(sum(differences))
    sums = [
        abs(sum(sign * abs(d) for sign, d in zip(signs, differences, strict=True)))
        for signs in itertools.product([-1, 1], repeat=len(differences))
    ]
    return float(np.mean([s >= observed - 1e-12 for s in sums]))


def test_sign_flip_p_hand_computed():
    # Magnitudes 1..5 (x 0.01), sum 7: |2P - 15| >= 7 for the 7 positive subsets with P <= 4
    # ({}, 1, 2, 3, 4, 1+2, 1+3) and the 7 with P >= 11: p = 14 / 32.
    differences = [0.01, 0.02, 0.03, -0.04, 0.05]

    assert inference.sign_flip_p(differences=differences) == pytest.approx(14 / 32)
    assert inference.sign_flip_p(differences=differences) == _enumerated_sign_flip_p(differences)


@pytest.mark.parametrize(
    "differences", [[0.01] * 15, [0.001 * k for k in range(1, 16)], [0.02] * 7 + [0.01] * 8]
)
def test_fifteen_wins_of_fifteen_give_one_p_whatever_the_ties(differences):
    assert inference.sign_flip_p(differences=differences) == pytest.approx(2 / 2**15)


def test_scipy_wilcoxon_does_not_and_that_is_why_it_is_not_used():
    distinct = scipy_stats.wilcoxon([0.001 * k for k in range(1, 16)]).pvalue
    tied = scipy_stats.wilcoxon([0.02] * 7 + [0.01] * 8).pvalue

    assert distinct == pytest.approx(2 / 2**15)
    assert tied > 5 * distinct  # the normal approximation it falls back on when values tie


def test_sign_flip_p_zero_differences_change_nothing():
    # The two zeros flip to themselves: 2 of the 4 patterns of ±1, ±2 reach |sum| 3.
    assert inference.sign_flip_p(differences=[0.0, 0.01, 0.0, 0.02]) == pytest.approx(0.5)
    assert inference.sign_flip_p(differences=[0.0, 0.0]) == 1.0
    assert np.isnan(inference.sign_flip_p(differences=[]))


def test_sign_flip_p_beyond_the_exact_limit_is_monte_carlo_and_never_zero():
    differences = [0.01] * (inference.MAX_EXACT_PAIRS + 5)

    p = inference.sign_flip_p(differences=differences, n_resamples=2000, random_state=1)

    assert p == pytest.approx(1 / 2001)
    mixed = list(np.random.default_rng(0).normal(0.0, 0.01, inference.MAX_EXACT_PAIRS + 1))
    assert 0.0 < inference.sign_flip_p(differences=mixed, n_resamples=2000) <= 1.0


def test_paired_effect_size_is_mean_over_sample_std():
    assert inference.paired_effect_size(differences=[0.01, 0.02, 0.03]) == pytest.approx(2.0)
    assert inference.paired_effect_size(differences=[-0.01, -0.01]) == -np.inf
    assert np.isnan(inference.paired_effect_size(differences=[0.0, 0.0]))
    assert np.isnan(inference.paired_effect_size(differences=[0.05]))


def test_interquartile_mean_drops_the_outer_quarters():
    assert inference.interquartile_mean(values=np.array([0.0, 0.5, 0.6, 10.0])) == pytest.approx(
        0.55
    )


def test_holm_adjustment_hand_computed():
    adjusted = inference.holm_adjust(p_values=np.array([0.01, 0.04, 0.03]))

    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06])


def test_holm_adjustment_caps_at_one_and_keeps_nan():
    adjusted = inference.holm_adjust(p_values=np.array([0.6, np.nan, 0.9]))

    np.testing.assert_allclose(adjusted, [1.0, np.nan, 1.0])
