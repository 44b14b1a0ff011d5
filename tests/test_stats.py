import numpy as np
import pandas as pd
import pytest

from pairsearch import inference, stats


def _results(accuracies: dict[str, list[float]]) -> pd.DataFrame:
    rows = [
        {"arch": arch, "seed": seed, "test_accuracy": accuracy, "seconds": 1.0}
        for arch, values in accuracies.items()
        for seed, accuracy in enumerate(values)
    ]
    return pd.DataFrame(rows)


def test_summary_columns_and_hand_computed_values():
    summary = stats.summarize(results=_results({"a": [0.1, 0.2, 0.3, 0.4]}), n_resamples=2000)

    assert list(summary.columns) == stats.SUMMARY_COLUMNS
    row = summary.iloc[0]
    assert row["n"] == 4
    assert row["mean"] == pytest.approx(0.25)
    assert row["std"] == pytest.approx(np.std([0.1, 0.2, 0.3, 0.4], ddof=1))
    assert row["median"] == pytest.approx(0.25)
    assert row["iqm"] == pytest.approx(0.25)


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


def test_pairwise_puts_the_better_arch_first_with_paired_difference():
    results = _results({"b": [0.5, 0.6, 0.7, 0.8, 0.9], "a": [0.6, 0.8, 0.7, 0.9, 1.0]})

    row = stats.pairwise(results=results, n_resamples=1000).iloc[0]

    assert (row["arch_a"], row["arch_b"], row["n_pairs"]) == ("a", "b", 5)
    assert row["mean_diff"] == pytest.approx(0.1)
    assert row["ci_low"] <= row["mean_diff"] <= row["ci_high"]
    # Seeds 0, 1, 3, 4 are wins for a, seed 2 is a tie worth half a win.
    assert row["p_improvement"] == pytest.approx(4.5 / 5)


def test_pairwise_p_value_is_the_sign_flip_test_of_the_differences():
    differences = [0.01, 0.02, 0.03, -0.04, 0.05]
    results = _results({"a": [0.5 + d for d in differences], "b": [0.5] * 5})

    row = stats.pairwise(results=results, n_resamples=200).iloc[0]

    # |sum| = 0.07; 14 of the 32 sign patterns of ±1..±5 (x 0.01) reach |sum| >= 7.
    assert row["p_value"] == pytest.approx(14 / 32)
    assert row["effect_size"] == pytest.approx(np.mean(differences) / np.std(differences, ddof=1))


def test_pairwise_identical_archs_give_p_one_and_even_odds():
    results = _results({"a": [0.8, 0.9, 0.85], "b": [0.8, 0.9, 0.85]})

    row = stats.pairwise(results=results, n_resamples=200).iloc[0]

    assert row["p_value"] == 1.0
    assert row["holm_p"] == 1.0
    assert row["p_improvement"] == 0.5
    assert (row["mean_diff"], row["ci_low"], row["ci_high"]) == (0.0, 0.0, 0.0)
    assert np.isnan(row["effect_size"])


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
        table["holm_p"], inference.holm_adjust(p_values=table["p_value"].to_numpy())
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


def test_pairwise_keeps_the_given_pairs_their_order_and_orientation():
    results = _results({"a": [0.9, 0.92, 0.91], "b": [0.8, 0.83, 0.8], "c": [0.5, 0.5, 0.52]})

    table = stats.pairwise(results=results, pairs=[("b", "a"), ("c", "b")], n_resamples=200)

    assert list(zip(table["arch_a"], table["arch_b"], strict=True)) == [("b", "a"), ("c", "b")]
    assert table["mean_diff"].tolist() == pytest.approx([-0.1, (1.52 - 2.43) / 3])
    # Holm over the two given pairs only: 2/8 each, times 2 and 1, stepped up.
    assert table["p_value"].tolist() == pytest.approx([0.25, 0.25])
    assert table["holm_p"].tolist() == pytest.approx([0.5, 0.5])


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
    effects = stats.factorial_effects(results=_results(FACTORIAL_RESULTS), n_resamples=500)

    assert list(effects.columns) == stats.EFFECT_COLUMNS
    assert list(zip(effects["factor"], effects["given"], strict=True)) == list(HAND_CONTRASTS)
    for row in effects.itertuples(index=False):
        formula, contrast = HAND_CONTRASTS[(row.factor, row.given)]
        assert row.contrast == formula
        assert row.n_pairs == 3
        assert row.mean_diff == pytest.approx(np.mean(contrast))
        assert row.effect_size == pytest.approx(np.mean(contrast) / np.std(contrast, ddof=1))
        assert row.ci_low <= row.mean_diff <= row.ci_high
        assert row.p_improvement == 1.0
        assert row.missing == ""


def test_factorial_interaction_is_the_difference_of_the_simple_effects_both_ways():
    effects = stats.factorial_effects(results=_results(FACTORIAL_RESULTS), n_resamples=200)
    mean = effects.set_index(["factor", "given"])["mean_diff"]

    interaction = mean[("interaction", "")]
    assert interaction == pytest.approx(
        mean[("shared_weights", "with")] - mean[("shared_weights", "without")]
    )
    assert interaction == pytest.approx(mean[("aux_loss", "with")] - mean[("aux_loss", "without")])


def test_factorial_effects_say_what_is_missing():
    partial = {arch: values for arch, values in FACTORIAL_RESULTS.items() if arch != "sep"}

    effects = stats.factorial_effects(results=_results(partial), n_resamples=200)
    by_effect = effects.set_index(["factor", "given"])

    answered = by_effect.loc[("shared_weights", "with")]
    assert (answered["n_pairs"], answered["missing"]) == (3, "")
    for key in [("shared_weights", "without"), ("aux_loss", "average"), ("interaction", "")]:
        row = by_effect.loc[key]
        assert (row["n_pairs"], row["missing"]) == (0, "sep")
        assert np.isnan(row["mean_diff"]) and np.isnan(row["ci_low"])


def test_factorial_effects_use_the_seeds_every_cell_has():
    uneven = dict(FACTORIAL_RESULTS, sep=[0.78, np.nan, 0.80])

    effects = stats.factorial_effects(results=_results(uneven), n_resamples=200)

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

    effects = stats.factorial_effects(results=_results(renamed), design=design, n_resamples=200)

    assert effects["contrast"].iloc[0] == "base-v2 − sep-v2"
    with pytest.raises(ValueError, match="one arch per cell"):
        stats.factorial_effects(
            results=_results(renamed), design=dict(design, **{"sep-v2": stats.Cell(True, True)})
        )


def test_versus_best_compares_the_other_archs_with_the_best_of_the_design():
    others = {"joint": [0.70, 0.72, 0.71], "digits": [0.97, 0.96, 0.98]}
    results = _results(FACTORIAL_RESULTS | others)

    table = stats.versus_best(results=results, n_resamples=200)

    assert list(table.columns) == stats.VERSUS_BEST_COLUMNS
    assert table["arch"].tolist() == ["digits", "joint"]
    assert set(table["reference"]) == {"base_aux"}
    assert table["mean_diff"].tolist() == pytest.approx([(2.91 - 2.77) / 3, (2.13 - 2.77) / 3])
    assert table["p_improvement"].tolist() == [1.0, 0.0]


def test_versus_best_without_any_arch_of_the_design_is_empty():
    table = stats.versus_best(results=_results({"joint": [0.7, 0.8]}), n_resamples=200)

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

    assert best.to_dict("records") == [
        {"arch": "a", "seed": 0, "test_accuracy": 0.9},
        {"arch": "a", "seed": 1, "test_accuracy": 0.6},
        {"arch": "b", "seed": 0, "test_accuracy": 0.5},
    ]
