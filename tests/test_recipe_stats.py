"""How effects change between two recipes: paired by seed, the same summary as every comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pairsearch import recipe_stats, stats

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

    changes = recipe_stats.arch_changes(before=before, after=after, n_resamples=500).set_index("arch")

    assert changes.loc["sep", "mean_diff"] == pytest.approx(0.02)
    assert changes.loc["sep", "n_pairs"] == len(SEEDS)
    assert changes.drop(index="sep")["mean_diff"].abs().max() == pytest.approx(0.0, abs=1e-12)


def test_effect_changes_move_exactly_the_contrasts_that_hold_the_shifted_arch():
    before, after = _results({}), _results({"sep": 0.02})

    changes = recipe_stats.effect_changes(before=before, after=after, n_resamples=500)

    assert list(changes.columns) == recipe_stats.CHANGE_COLUMNS
    effects = stats.factorial_effects(results=before, n_resamples=500)
    assert list(changes["contrast"]) == list(effects["contrast"])  # the same seven rows, same order
    for row in changes.itertuples():
        expected = 0.02 if "sep" in row.contrast.replace("sep_aux", "") else 0.0
        weight = 0.5 if row.contrast.endswith("/ 2") else 1.0
        assert abs(row.mean_diff) == pytest.approx(weight * expected, abs=1e-12), row.contrast
