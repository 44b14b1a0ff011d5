import itertools

import numpy as np
import pandas as pd
import pytest

from pairsearch import stats


def _results(accuracies: dict[str, list[float]]) -> pd.DataFrame:
    rows = [
        {"arch": arch, "seed": seed, "test_accuracy": accuracy, "seconds": 1.0}
        for arch, values in accuracies.items()
        for seed, accuracy in enumerate(values)
    ]
    return pd.DataFrame(rows)


def _exact_two_sided_wilcoxon_p(differences: list[float]) -> float:
    """P(min(W+, W-) <= observed) under the null, by enumerating all 2^n sign patterns."""
    ranks = np.argsort(np.argsort(np.abs(differences))) + 1
    positive_rank_sum = ranks[np.asarray(differences) > 0].sum()
    observed = min(positive_rank_sum, ranks.sum() - positive_rank_sum)
    subsets = itertools.chain.from_iterable(
        itertools.combinations(ranks, k) for k in range(len(ranks) + 1)
    )
    sums = np.array([sum(subset) for subset in subsets])
    return min(1.0, 2 * np.mean(sums <= observed))


def test_summary_columns_and_hand_computed_values():
    summary = stats.summarize(results=_results({"a": [0.1, 0.2, 0.3, 0.4]}), n_resamples=2000)

    assert list(summary.columns) == stats.SUMMARY_COLUMNS
    row = summary.iloc[0]
    assert row["n"] == 4
    assert row["mean"] == pytest.approx(0.25)
    assert row["std"] == pytest.approx(np.std([0.1, 0.2, 0.3, 0.4], ddof=1))
    assert row["median"] == pytest.approx(0.25)
    assert row["iqm"] == pytest.approx(0.25)


def test_interquartile_mean_drops_the_outer_quarters():
    assert stats.interquartile_mean(values=np.array([0.0, 0.5, 0.6, 10.0])) == pytest.approx(0.55)


def test_confidence_interval_is_ordered_and_contains_the_mean():
    rng = np.random.default_rng(0)
    results = _results({"a": list(0.9 + 0.01 * rng.standard_normal(15))})

    row = stats.summarize(results=results, n_resamples=2000).iloc[0]

    assert row["ci_low"] < row["mean"] < row["ci_high"]


def test_confidence_interval_is_reproducible_with_the_same_random_state():
    results = _results({"a": [0.81, 0.84, 0.86, 0.9, 0.88]})

    first = stats.summarize(results=results, n_resamples=1000, random_state=3)
    second = stats.summarize(results=results, n_resamples=1000, random_state=3)

    pd.testing.assert_frame_equal(first, second)


@pytest.mark.parametrize("values", [[0.7, 0.7, 0.7, 0.7], [0.7]])
def test_confidence_interval_of_constant_values_is_the_value(values):
    row = stats.summarize(results=_results({"a": values}), n_resamples=500).iloc[0]

    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(0.7), pytest.approx(0.7))


def test_two_values_fall_back_to_a_finite_percentile_interval():
    row = stats.summarize(results=_results({"a": [0.8, 0.9]}), n_resamples=500).iloc[0]

    assert 0.8 <= row["ci_low"] <= row["mean"] <= row["ci_high"] <= 0.9


def test_rank_one_is_the_best_mean_and_rows_are_sorted_by_rank():
    results = _results({"low": [0.1, 0.2], "high": [0.8, 0.9], "mid": [0.5, 0.5]})

    summary = stats.summarize(results=results, n_resamples=200)

    assert list(summary["arch"]) == ["high", "mid", "low"]
    assert list(summary["rank"]) == [1, 2, 3]


def test_missing_accuracies_are_left_out_of_n():
    results = _results({"a": [0.8, np.nan, 0.9]})

    assert stats.summarize(results=results, n_resamples=200).iloc[0]["n"] == 2


def test_holm_adjustment_hand_computed():
    adjusted = stats.holm_adjust(p_values=np.array([0.01, 0.04, 0.03]))

    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06])


def test_holm_adjustment_caps_at_one_and_keeps_nan():
    adjusted = stats.holm_adjust(p_values=np.array([0.6, np.nan, 0.9]))

    np.testing.assert_allclose(adjusted, [1.0, np.nan, 1.0])


def test_pairwise_puts_the_better_arch_first_with_paired_difference():
    results = _results({"b": [0.5, 0.6, 0.7, 0.8, 0.9], "a": [0.6, 0.8, 0.7, 0.9, 1.0]})

    row = stats.pairwise(results=results, n_resamples=1000).iloc[0]

    assert (row["arch_a"], row["arch_b"], row["n_pairs"]) == ("a", "b", 5)
    assert row["mean_diff"] == pytest.approx(0.1)
    assert row["ci_low"] <= row["mean_diff"] <= row["ci_high"]
    # Seeds 0, 1, 3, 4 are wins for a, seed 2 is a tie worth half a win.
    assert row["p_a_beats_b"] == pytest.approx(4.5 / 5)


def test_pairwise_wilcoxon_matches_counting_sign_patterns():
    differences = [0.01, 0.02, 0.03, -0.04, 0.05]
    results = _results({"a": [0.5 + d for d in differences], "b": [0.5] * 5})

    row = stats.pairwise(results=results, n_resamples=200).iloc[0]

    # W- = 4; 7 of the 32 sign patterns give a rank sum <= 4: p = 2 * 7 / 32.
    assert row["wilcoxon_p"] == pytest.approx(0.4375)
    assert row["wilcoxon_p"] == pytest.approx(_exact_two_sided_wilcoxon_p(differences))


def test_pairwise_identical_archs_give_p_one_and_even_odds():
    results = _results({"a": [0.8, 0.9, 0.85], "b": [0.8, 0.9, 0.85]})

    row = stats.pairwise(results=results, n_resamples=200).iloc[0]

    assert row["wilcoxon_p"] == 1.0
    assert row["holm_p"] == 1.0
    assert row["p_a_beats_b"] == 0.5
    assert (row["mean_diff"], row["ci_low"], row["ci_high"]) == (0.0, 0.0, 0.0)


def test_pairwise_has_one_row_per_pair_sorted_by_holm_p_with_holm_applied():
    rng = np.random.default_rng(0)
    noise = 0.005 * rng.standard_normal((3, 8))
    results = _results(
        {"a": list(0.9 + noise[0]), "b": list(0.89 + noise[1]), "c": list(0.7 + noise[2])}
    )

    table = stats.pairwise(results=results, n_resamples=500)

    assert list(table.columns) == stats.PAIRWISE_COLUMNS
    assert len(table) == 3
    assert table["holm_p"].is_monotonic_increasing
    np.testing.assert_allclose(
        table["holm_p"], stats.holm_adjust(p_values=table["wilcoxon_p"].to_numpy())
    )
    assert (table["mean_diff"] > 0).all()


def test_pairwise_uses_only_common_seeds():
    results = _results({"a": [0.9, 0.9, 0.9], "b": [0.8, 0.8]})

    row = stats.pairwise(results=results, n_resamples=200).iloc[0]

    assert row["n_pairs"] == 2
    assert row["mean_diff"] == pytest.approx(0.1)


def test_pairwise_rejects_duplicate_arch_seed_rows():
    results = pd.concat([_results({"a": [0.9]}), _results({"a": [0.8]})])

    with pytest.raises(ValueError, match="more than one row"):
        stats.pairwise(results=results)
