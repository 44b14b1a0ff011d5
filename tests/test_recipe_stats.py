"""How effects change between two recipes: paired by (search, seed), the same summary as every comparison."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from pairsearch.report import recipe_stats, stats

SEEDS = range(12)


def _results(shift: dict[str, float]) -> pd.DataFrame:
    """The four 2×2 archs on shared seeds: a seed effect, a per-arch level, a per-arch shift."""
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0, 0.01, size=len(SEEDS))
    level = {"base": 0.88, "base_aux": 0.93, "sep": 0.86, "sep_aux": 0.91}
    return pd.DataFrame([
        {"arch": arch, "seed": seed, "test_accuracy": level[arch] + seed_effect[seed] + shift.get(arch, 0.0)}
        for arch in level for seed in SEEDS
    ])


def test_a_shift_of_one_arch_is_that_archs_change_and_no_one_elses():
    before, after = _results({}), _results({"sep": 0.02})

    changes = recipe_stats.arch_changes(before=before, after=after).set_index("arch")

    assert list(changes.columns) == stats.PAIRED_COLUMNS
    assert changes.loc["sep", "mean_diff"] == pytest.approx(0.02)
    assert changes.loc["sep", "n_pairs"] == len(SEEDS)
    assert changes.loc["sep", "share_won"] == 1.0
    unchanged = changes.drop(index="sep")
    assert unchanged["mean_diff"].abs().max() == pytest.approx(0.0, abs=1e-12)
    # The same runs before and after: every change is a tie, and the t-test finds nothing.
    assert unchanged["share_won"].tolist() == [0.5] * 3
    assert unchanged["p_value"].tolist() == [1.0] * 3
    # One search: the intervals are over the seeds.
    assert set(changes["level"]) == {"seeds"} and set(changes["n_searches"]) == {1}


def test_effect_changes_move_exactly_the_contrasts_that_hold_the_shifted_arch():
    before, after = _results({}), _results({"sep": 0.02})

    changes = recipe_stats.effect_changes(before=before, after=after)

    assert list(changes.columns) == recipe_stats.CHANGE_COLUMNS
    effects = stats.factorial_effects(results=before)
    assert list(changes["contrast"]) == list(effects["contrast"])  # the same seven rows, same order
    for row in changes.itertuples():
        expected = 0.02 if "sep" in row.contrast.replace("sep_aux", "") else 0.0
        weight = 0.5 if row.contrast.endswith("/ 2") else 1.0
        assert abs(row.mean_diff) == pytest.approx(weight * expected, abs=1e-12), row.contrast


def test_changes_over_several_searches_are_t_intervals_over_the_searches():
    shifts = [0.01, 0.02, 0.06]  # sep's change differs from search to search
    before = pd.concat([_results({}).assign(search=search) for search in range(3)], ignore_index=True)
    after = pd.concat([_results({"sep": shift}).assign(search=search) for search, shift in enumerate(shifts)],
                      ignore_index=True)

    sep = recipe_stats.arch_changes(before=before, after=after).set_index("arch").loc["sep"]

    assert (sep["level"], sep["n_searches"], sep["n_pairs"]) == ("searches", 3, 3 * len(SEEDS))
    assert sep["mean_diff"] == pytest.approx(0.03)
    half = scipy_stats.t.ppf(0.975, df=2) * np.std(shifts, ddof=1) / math.sqrt(3)
    assert (sep["ci_low"], sep["ci_high"]) == (pytest.approx(0.03 - half), pytest.approx(0.03 + half))
    assert sep["p_value"] == pytest.approx(scipy_stats.ttest_1samp(shifts, 0.0).pvalue)
    assert sep["p_better"] == 1.0
    # The change varies only between searches: all of its variance is the search's.
    assert sep["sd_search"] == pytest.approx(np.std(shifts, ddof=1))
    assert sep["tuning_share"] == pytest.approx(1.0)


def test_arch_changes_follow_the_reports_one_arch_order_not_the_alphabet():
    archs = ["digits", "joint", "split", "sep", "base_aux", "sep_aux", "base"]
    results = pd.DataFrame([{"arch": arch, "seed": seed, "test_accuracy": 0.9} for arch in archs for seed in SEEDS])

    changes = recipe_stats.arch_changes(before=results, after=results)

    assert list(changes["arch"]) == ["base", "base_aux", "sep", "sep_aux", "joint", "split", "digits"]
