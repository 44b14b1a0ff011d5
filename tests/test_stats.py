import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from pairsearch.report import statistics, stats


def _results(accuracies: dict[str, list[float]]) -> pd.DataFrame:
    """One search: one row per (arch, seed), no ``search`` column."""
    rows = [
        {"arch": arch, "seed": seed, "test_accuracy": accuracy, "seconds": 1.0}
        for arch, values in accuracies.items()
        for seed, accuracy in enumerate(values)
    ]
    return pd.DataFrame(rows)


def _two_level(accuracies: dict[str, list[list[float]]]) -> pd.DataFrame:
    """Several searches: ``accuracies[arch][search][seed]``, one row per (arch, search, seed)."""
    rows = [
        {"arch": arch, "search": search, "seed": seed, "test_accuracy": accuracy}
        for arch, searches in accuracies.items()
        for search, values in enumerate(searches)
        for seed, accuracy in enumerate(values)
    ]
    return pd.DataFrame(rows)


def _t_interval(values, confidence: float = 0.95) -> tuple[float, float]:
    """Student t interval of the mean, by hand."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    half = scipy_stats.t.ppf(0.5 + confidence / 2, df=n - 1) * np.std(values, ddof=1) / math.sqrt(n)
    return float(np.mean(values) - half), float(np.mean(values) + half)


def test_summary_columns_and_hand_computed_values():
    values = [0.1, 0.2, 0.3, 0.4]

    summary = stats.summarize(results=_results({"a": values}))

    assert list(summary.columns) == stats.SUMMARY_COLUMNS
    row = summary.iloc[0]
    assert (row["n"], row["n_searches"], row["level"]) == (4, 1, "seeds")
    assert row["mean"] == pytest.approx(0.25)
    assert row["std"] == pytest.approx(np.std(values, ddof=1))
    assert row["median"] == pytest.approx(0.25)
    assert row["iqm"] == pytest.approx(0.25)
    # One search: no between-search spread to estimate; the seed sd is the plain sd.
    assert np.isnan(row["sd_search"])
    assert row["sd_seed"] == pytest.approx(np.std(values, ddof=1))


def test_confidence_interval_is_the_t_interval_over_seeds_with_one_search():
    values = [0.1, 0.2, 0.3, 0.4]
    half = scipy_stats.t.ppf(0.975, df=3) * np.std(values, ddof=1) / math.sqrt(4)

    row = stats.summarize(results=_results({"a": values})).iloc[0]

    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(0.25 - half), pytest.approx(0.25 + half))


def test_confidence_level_sets_the_t_quantile():
    values = [0.81, 0.84, 0.86, 0.9, 0.88]

    wide = stats.summarize(results=_results({"a": values})).iloc[0]
    narrow = stats.summarize(results=_results({"a": values}), confidence=0.8).iloc[0]

    assert (narrow["ci_low"], narrow["ci_high"]) == pytest.approx(_t_interval(values, confidence=0.8))
    assert wide["ci_low"] < narrow["ci_low"] < narrow["mean"] < narrow["ci_high"] < wide["ci_high"]


def test_confidence_interval_is_ordered_and_contains_the_mean():
    rng = np.random.default_rng(0)
    results = _results({"a": list(0.9 + 0.01 * rng.standard_normal(15))})

    row = stats.summarize(results=results).iloc[0]

    assert row["ci_low"] < row["mean"] < row["ci_high"]


def test_confidence_interval_of_constant_values_is_the_value():
    row = stats.summarize(results=_results({"a": [0.7, 0.7, 0.7, 0.7]})).iloc[0]

    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(0.7), pytest.approx(0.7))


def test_a_single_value_has_no_interval():
    row = stats.summarize(results=_results({"a": [0.7]})).iloc[0]

    assert row["mean"] == pytest.approx(0.7)
    assert np.isnan(row["ci_low"]) and np.isnan(row["ci_high"])


def test_two_values_give_the_wide_t_interval_on_one_degree_of_freedom():
    row = stats.summarize(results=_results({"a": [0.8, 0.9]})).iloc[0]

    # t_{0.975, 1} ≈ 12.71 times sem 0.05: far wider than the two values.
    half = scipy_stats.t.ppf(0.975, df=1) * 0.05
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(0.85 - half), pytest.approx(0.85 + half))
    assert row["ci_low"] < 0.8 and row["ci_high"] > 0.9


def test_rank_one_is_the_best_mean_and_rows_are_sorted_by_rank():
    results = _results({"low": [0.1, 0.2], "high": [0.8, 0.9], "mid": [0.5, 0.5]})

    summary = stats.summarize(results=results)

    assert list(summary["arch"]) == ["high", "mid", "low"]
    assert list(summary["rank"]) == [1, 2, 3]


def test_missing_accuracies_are_left_out_of_n():
    results = _results({"a": [0.8, np.nan, 0.9]})

    assert stats.summarize(results=results).iloc[0]["n"] == 2


def test_pairwise_puts_the_better_arch_first_with_paired_difference():
    results = _results({"b": [0.5, 0.6, 0.7, 0.8, 0.9], "a": [0.6, 0.8, 0.7, 0.9, 1.0]})

    row = stats.pairwise(results=results).iloc[0]

    assert (row["arch_a"], row["arch_b"], row["n_pairs"]) == ("a", "b", 5)
    assert (row["n_searches"], row["level"]) == (1, "seeds")
    assert row["mean_diff"] == pytest.approx(0.1)
    differences = [0.1, 0.2, 0.0, 0.1, 0.1]
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(_t_interval(differences))
    # Seeds 0, 1, 3, 4 are wins for a, seed 2 is a tie worth half a win.
    assert row["share_won"] == pytest.approx(4.5 / 5)
    # With one search there are no searches to win: P(A > B) over searches is not defined.
    assert np.isnan(row["p_better"]) and np.isnan(row["p_better_low"]) and np.isnan(row["p_better_high"])
    assert np.isnan(row["sd_search"]) and np.isnan(row["tuning_share"])
    assert row["sd_seed"] == pytest.approx(np.std(differences, ddof=1))


def test_pairwise_p_value_is_the_t_test_of_the_differences():
    differences = [0.01, 0.02, 0.03, -0.04, 0.05]
    results = _results({"a": [0.5 + d for d in differences], "b": [0.5] * 5})

    row = stats.pairwise(results=results).iloc[0]

    assert row["p_value"] == pytest.approx(scipy_stats.ttest_1samp(differences, 0.0).pvalue)
    assert 0.3 < row["p_value"] < 0.5  # mean 0.014, sd ≈ 0.034 on 4 df: far from significant
    assert row["effect_size"] == pytest.approx(np.mean(differences) / np.std(differences, ddof=1))


def test_pairwise_identical_archs_give_p_one_and_even_odds():
    results = _results({"a": [0.8, 0.9, 0.85], "b": [0.8, 0.9, 0.85]})

    row = stats.pairwise(results=results).iloc[0]

    assert row["p_value"] == 1.0
    assert row["holm_p"] == 1.0
    assert row["share_won"] == 0.5
    assert (row["mean_diff"], row["ci_low"], row["ci_high"]) == (0.0, 0.0, 0.0)
    assert np.isnan(row["effect_size"])
    assert row["sd_seed"] == 0.0


def test_pairwise_has_one_row_per_pair_sorted_by_holm_p_with_holm_applied():
    rng = np.random.default_rng(0)
    noise = 0.005 * rng.standard_normal((3, 8))
    results = _results(
        {"a": list(0.9 + noise[0]), "b": list(0.89 + noise[1]), "c": list(0.7 + noise[2])}
    )

    table = stats.pairwise(results=results)

    assert list(table.columns) == stats.PAIRWISE_COLUMNS
    assert len(table) == 3
    assert table["holm_p"].is_monotonic_increasing
    np.testing.assert_allclose(
        table["holm_p"], statistics.holm_adjust(p_values=table["p_value"].to_numpy())
    )
    assert (table["mean_diff"] > 0).all()


def test_pairwise_uses_only_common_seeds():
    results = _results({"a": [0.9, 0.9, 0.9], "b": [0.8, 0.8]})

    row = stats.pairwise(results=results).iloc[0]

    assert row["n_pairs"] == 2
    assert row["mean_diff"] == pytest.approx(0.1)


def test_pairwise_rejects_duplicate_arch_seed_rows():
    results = pd.concat([_results({"a": [0.9]}), _results({"a": [0.8]})])

    with pytest.raises(ValueError, match="more than one row"):
        stats.pairwise(results=results)


def test_pairwise_keeps_the_given_pairs_their_order_and_orientation():
    results = _results({"a": [0.9, 0.92, 0.91], "b": [0.8, 0.83, 0.8], "c": [0.5, 0.5, 0.52]})

    table = stats.pairwise(results=results, pairs=[("b", "a"), ("c", "b")])

    assert list(zip(table["arch_a"], table["arch_b"], strict=True)) == [("b", "a"), ("c", "b")]
    assert table["mean_diff"].tolist() == pytest.approx([-0.1, (1.52 - 2.43) / 3])
    p_ba = scipy_stats.ttest_1samp([-0.1, -0.09, -0.11], 0.0).pvalue
    p_cb = scipy_stats.ttest_1samp([-0.3, -0.33, -0.28], 0.0).pvalue
    assert table["p_value"].tolist() == pytest.approx([p_ba, p_cb])
    # Holm over the two given pairs only: the smaller p times 2, the larger times 1, stepped up.
    assert p_cb < p_ba
    holm_cb = 2 * p_cb
    assert table["holm_p"].tolist() == pytest.approx([max(holm_cb, p_ba), holm_cb])


# Three seeds of a 2×2 design; the per-seed contrasts below are worked out by hand.
FACTORIAL_RESULTS = {
    "base": [0.80, 0.82, 0.84],
    "sep": [0.78, 0.81, 0.80],
    "base_aux": [0.90, 0.91, 0.96],
    "sep_aux": [0.86, 0.88, 0.89],
}
HAND_CONTRASTS = {
    ("shared_weights", "without"): ("base − sep", [0.02, 0.01, 0.04]),
    ("shared_weights", "with"): ("base_aux − sep_aux", [0.04, 0.03, 0.07]),
    ("shared_weights", "average"): ("(base + base_aux − sep − sep_aux) / 2", [0.03, 0.02, 0.055]),
    ("aux_loss", "without"): ("sep_aux − sep", [0.08, 0.07, 0.09]),
    ("aux_loss", "with"): ("base_aux − base", [0.10, 0.09, 0.12]),
    ("aux_loss", "average"): ("(base_aux + sep_aux − base − sep) / 2", [0.09, 0.08, 0.105]),
    ("interaction", ""): ("(base_aux − sep_aux) − (base − sep)", [0.02, 0.02, 0.03]),
}


def test_factorial_effects_match_hand_computed_contrasts():
    effects = stats.factorial_effects(results=_results(FACTORIAL_RESULTS))

    assert list(effects.columns) == stats.EFFECT_COLUMNS
    assert list(zip(effects["factor"], effects["given"], strict=True)) == list(HAND_CONTRASTS)
    for row in effects.itertuples(index=False):
        formula, contrast = HAND_CONTRASTS[(row.factor, row.given)]
        assert row.contrast == formula
        assert row.n_pairs == 3
        assert row.mean_diff == pytest.approx(np.mean(contrast))
        assert row.effect_size == pytest.approx(np.mean(contrast) / np.std(contrast, ddof=1))
        assert (row.ci_low, row.ci_high) == pytest.approx(_t_interval(contrast))
        assert row.p_value == pytest.approx(scipy_stats.ttest_1samp(contrast, 0.0).pvalue)
        assert (row.n_searches, row.level) == (1, "seeds")
        assert row.share_won == 1.0
        assert np.isnan(row.p_better)
        assert row.missing == ""


def test_factorial_interaction_is_the_difference_of_the_simple_effects_both_ways():
    effects = stats.factorial_effects(results=_results(FACTORIAL_RESULTS))
    mean = effects.set_index(["factor", "given"])["mean_diff"]

    interaction = mean[("interaction", "")]
    assert interaction == pytest.approx(
        mean[("shared_weights", "with")] - mean[("shared_weights", "without")]
    )
    assert interaction == pytest.approx(mean[("aux_loss", "with")] - mean[("aux_loss", "without")])


def test_factorial_effects_say_what_is_missing():
    partial = {arch: values for arch, values in FACTORIAL_RESULTS.items() if arch != "sep"}

    effects = stats.factorial_effects(results=_results(partial))
    by_effect = effects.set_index(["factor", "given"])

    answered = by_effect.loc[("shared_weights", "with")]
    assert (answered["n_pairs"], answered["missing"]) == (3, "")
    for key in [("shared_weights", "without"), ("aux_loss", "average"), ("interaction", "")]:
        row = by_effect.loc[key]
        assert (row["n_pairs"], row["missing"]) == (0, "sep")
        assert np.isnan(row["mean_diff"]) and np.isnan(row["ci_low"]) and np.isnan(row["p_value"])


def test_factorial_effects_use_the_seeds_every_cell_has():
    uneven = dict(FACTORIAL_RESULTS, sep=[0.78, np.nan, 0.80])

    effects = stats.factorial_effects(results=_results(uneven))

    assert effects.set_index(["factor", "given"])["n_pairs"].to_dict() == {
        ("shared_weights", "without"): 2,
        ("shared_weights", "with"): 3,
        ("shared_weights", "average"): 2,
        ("aux_loss", "without"): 2,
        ("aux_loss", "with"): 3,
        ("aux_loss", "average"): 2,
        ("interaction", ""): 2,
    }


def test_factorial_design_takes_other_labels_and_rejects_an_incomplete_one():
    renamed = {f"{arch}-v2": values for arch, values in FACTORIAL_RESULTS.items()}
    design = {f"{arch}-v2": cell for arch, cell in stats.FACTORIAL_DESIGN.items()}

    effects = stats.factorial_effects(results=_results(renamed), design=design)

    assert effects["contrast"].iloc[0] == "base-v2 − sep-v2"
    with pytest.raises(ValueError, match="one arch per cell"):
        stats.factorial_effects(
            results=_results(renamed), design=dict(design, **{"sep-v2": stats.Cell(True, True)})
        )


def test_versus_best_compares_the_other_archs_with_the_best_of_the_design():
    others = {"joint": [0.70, 0.72, 0.71], "digits": [0.97, 0.96, 0.98]}
    results = _results(FACTORIAL_RESULTS | others)

    table = stats.versus_best(results=results)

    assert list(table.columns) == stats.VERSUS_BEST_COLUMNS
    assert table["arch"].tolist() == ["digits", "joint"]
    assert set(table["reference"]) == {"base_aux"}
    assert table["mean_diff"].tolist() == pytest.approx([(2.91 - 2.77) / 3, (2.13 - 2.77) / 3])
    assert table["share_won"].tolist() == [1.0, 0.0]
    digits = np.array(others["digits"]) - np.array(FACTORIAL_RESULTS["base_aux"])
    assert table["p_value"].iloc[0] == pytest.approx(scipy_stats.ttest_1samp(digits, 0.0).pvalue)
    # Two other archs: each interval at 97.5 %, so that both hold together at 95 % (Bonferroni).
    half = scipy_stats.t.ppf(1 - 0.05 / 4, len(digits) - 1) * digits.std(ddof=1) / np.sqrt(len(digits))
    assert (table["ci_low"].iloc[0], table["ci_high"].iloc[0]) == pytest.approx((digits.mean() - half, digits.mean() + half))


def test_versus_best_without_any_arch_of_the_design_is_empty():
    table = stats.versus_best(results=_results({"joint": [0.7, 0.8]}))

    assert table.empty and list(table.columns) == stats.VERSUS_BEST_COLUMNS


def test_best_epoch_results_keep_each_seeds_highest_epoch_of_the_seeds_with_a_result():
    curves = pd.DataFrame([
        {"arch": "a", "seed": 0, "epoch": 1, "test_accuracy": 0.7},
        {"arch": "a", "seed": 0, "epoch": 2, "test_accuracy": 0.9},
        {"arch": "a", "seed": 0, "epoch": 3, "test_accuracy": 0.8},
        {"arch": "a", "seed": 1, "epoch": 1, "test_accuracy": float("nan")},
        {"arch": "a", "seed": 1, "epoch": 2, "test_accuracy": 0.6},
        {"arch": "b", "seed": 0, "epoch": 1, "test_accuracy": 0.5},
        {"arch": "b", "seed": 1, "epoch": 1, "test_accuracy": 0.95},  # then diverged: no result
    ])
    results = pd.DataFrame([
        {"arch": "a", "seed": 0, "test_accuracy": 0.8},
        {"arch": "a", "seed": 1, "test_accuracy": 0.6},
        {"arch": "b", "seed": 0, "test_accuracy": 0.5},
        {"arch": "b", "seed": 1, "test_accuracy": float("nan")},
    ])

    best = stats.best_epoch_results(curves=curves, results=results)

    # Tables without a search column are one search, search 0.
    assert best.to_dict("records") == [
        {"arch": "a", "search": 0, "seed": 0, "test_accuracy": 0.9},
        {"arch": "a", "search": 0, "seed": 1, "test_accuracy": 0.6},
        {"arch": "b", "search": 0, "seed": 0, "test_accuracy": 0.5},
    ]


# Two levels: independent searches, seeds inside each search.


def test_contrast_is_indexed_by_search_and_seed():
    results = _two_level({"a": [[0.9, 0.8], [0.7, 0.6]], "b": [[0.5, 0.5], [0.5, 0.5]]})

    by_run = stats.accuracy_table(results=results)
    difference = stats.contrast(by_run=by_run, weights={"a": 1.0, "b": -1.0})

    assert list(difference.index.names) == ["search", "seed"]
    assert difference.to_dict() == pytest.approx({(0, 0): 0.4, (0, 1): 0.3, (1, 0): 0.2, (1, 1): 0.1})


def test_summary_over_searches_is_a_t_interval_of_the_search_means():
    accuracies = {
        "a": [[0.80, 0.82, 0.84], [0.86, 0.85, 0.87], [0.79, 0.83, 0.81]],
        # A lost run: search 0 has two seeds, so the mean of search means ≠ the mean of runs.
        "b": [[0.70, np.nan, 0.74], [0.77, 0.76, 0.78], [0.72, 0.71, 0.73]],
    }

    summary = stats.summarize(results=_two_level(accuracies)).set_index("arch")

    for arch, searches in accuracies.items():
        row = summary.loc[arch]
        search_means = [np.nanmean(values) for values in searches]
        runs = [value for values in searches for value in values if not np.isnan(value)]
        assert (row["n"], row["n_searches"], row["level"]) == (len(runs), 3, "searches")
        assert row["mean"] == pytest.approx(np.mean(search_means))
        # Three search means: the t quantile on 2 degrees of freedom.
        half = scipy_stats.t.ppf(0.975, df=2) * np.std(search_means, ddof=1) / math.sqrt(3)
        assert (row["ci_low"], row["ci_high"]) == (
            pytest.approx(np.mean(search_means) - half), pytest.approx(np.mean(search_means) + half))
        assert row["std"] == pytest.approx(np.std(runs, ddof=1))
        assert row["median"] == pytest.approx(np.median(runs))
    assert summary.loc["b", "mean"] != pytest.approx(np.nanmean(accuracies["b"]))
    assert list(summary.index) == ["a", "b"] and list(summary["rank"]) == [1, 2]


# The 2×2 design's contrasts, weight by arch, written out by hand.
HAND_WEIGHTS = {
    ("shared_weights", "without"): {"base": 1, "sep": -1},
    ("shared_weights", "with"): {"base_aux": 1, "sep_aux": -1},
    ("shared_weights", "average"): {"base": 0.5, "base_aux": 0.5, "sep": -0.5, "sep_aux": -0.5},
    ("aux_loss", "without"): {"sep_aux": 1, "sep": -1},
    ("aux_loss", "with"): {"base_aux": 1, "base": -1},
    ("aux_loss", "average"): {"base_aux": 0.5, "sep_aux": 0.5, "base": -0.5, "sep": -0.5},
    ("interaction", ""): {"base_aux": 1, "sep_aux": -1, "base": -1, "sep": 1},
}


def _two_level_design() -> dict[str, np.ndarray]:
    """3 searches × 3 seeds of the 2×2 design; sharing weights helps in searches 0 and 1, hurts in 2."""
    rng = np.random.default_rng(1)
    shared_gain = np.array([0.03, 0.02, -0.01])[:, None]
    aux_gain = np.array([0.08, 0.10, 0.09])[:, None]
    seed_effect = 0.01 * rng.standard_normal((1, 3))
    accuracy = {
        arch: 0.8 + seed_effect + shared_gain * cell.shared_weights + aux_gain * cell.aux_loss
        + 0.002 * rng.standard_normal((3, 3))
        for arch, cell in stats.FACTORIAL_DESIGN.items()
    }
    accuracy["sep"][0, 1] = np.nan  # a lost run: search 0 has two seeds in the contrasts with sep
    return accuracy


def test_factorial_effects_over_searches_average_the_per_search_contrast_means():
    accuracy = _two_level_design()
    results = _two_level({arch: values.tolist() for arch, values in accuracy.items()})

    effects = stats.factorial_effects(results=results).set_index(["factor", "given"])

    assert list(effects.index) == list(HAND_WEIGHTS)
    for key, weights in HAND_WEIGHTS.items():
        per_run = sum(weight * accuracy[arch] for arch, weight in weights.items())  # searches × seeds
        search_means = np.nanmean(per_run, axis=1)
        row = effects.loc[key]
        assert (row["level"], row["n_searches"]) == ("searches", 3)
        assert row["n_pairs"] == np.count_nonzero(~np.isnan(per_run))
        assert row["mean_diff"] == pytest.approx(np.mean(search_means))
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(_t_interval(search_means))
        assert row["p_value"] == pytest.approx(scipy_stats.ttest_1samp(search_means, 0.0).pvalue)
        assert row["p_better"] == pytest.approx(np.mean(search_means > 0))
        assert row["p_better_low"] <= row["p_better"] <= row["p_better_high"]
        assert row["share_won"] == pytest.approx(np.nanmean(np.where(np.isnan(per_run), np.nan, per_run > 0)))
    # Sharing weights wins two searches of three; the auxiliary loss wins all three.
    assert effects.loc[("shared_weights", "without"), "p_better"] == pytest.approx(2 / 3)
    assert effects.loc[("aux_loss", "average"), "p_better"] == 1.0
    assert effects.loc[("aux_loss", "average"), "p_better_high"] == pytest.approx(1.0)
    assert effects.loc[("aux_loss", "average"), "p_better_low"] > 0


def _search_offsets(offsets: list[float], noise: np.ndarray) -> pd.DataFrame:
    """Arch a = b + the search's offset + the seed's noise; b a constant."""
    return _two_level({
        "a": [[0.8 + offset + e for e in noise] for offset in offsets],
        "b": [[0.8] * len(noise) for _ in offsets],
    })


def test_variance_split_puts_a_search_offset_in_sd_search():
    noise = 0.001 * np.random.default_rng(2).standard_normal(4)
    offsets = [0.0, 0.05, 0.10]

    row = stats.pairwise(results=_search_offsets(offsets, noise), pairs=[("a", "b")]).iloc[0]

    # Balanced one-way ANOVA by hand: seed variance = pooled within-search variance; search
    # variance = variance of the search means − seed variance / seeds per search.
    differences = np.array([[offset + e for e in noise] for offset in offsets])
    seed_var = np.mean(np.var(differences, axis=1, ddof=1))
    search_var = np.var(differences.mean(axis=1), ddof=1) - seed_var / len(noise)
    assert row["sd_seed"] == pytest.approx(math.sqrt(seed_var))
    assert row["sd_search"] == pytest.approx(math.sqrt(search_var))
    assert row["sd_search"] == pytest.approx(0.05, rel=0.01)
    assert row["sd_seed"] < 0.01
    assert row["tuning_share"] > 0.9
    assert row["tuning_share"] == pytest.approx(search_var / (search_var + seed_var))
    summary = stats.summarize(results=_search_offsets(offsets, noise)).set_index("arch")
    assert summary.loc["a", "sd_search"] == pytest.approx(row["sd_search"])


def test_identical_searches_have_no_search_variance():
    noise = 0.001 * np.random.default_rng(2).standard_normal(4)

    row = stats.pairwise(results=_search_offsets([0.02, 0.02, 0.02], noise), pairs=[("a", "b")]).iloc[0]

    assert row["sd_search"] == 0.0
    assert row["tuning_share"] == 0.0
    assert row["sd_seed"] == pytest.approx(np.std(noise, ddof=1))
    assert (row["level"], row["n_searches"], row["p_better"]) == ("searches", 3, 1.0)
