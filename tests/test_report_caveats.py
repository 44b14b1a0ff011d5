"""The report's caveats say what this run's intervals cover, with its own numbers."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
from test_report import factorial_results

from pairsearch.report.analysis import analyse
from pairsearch.report.caveats import caveats_html


def caveats(results) -> str:
    analysis = analyse(results=results)
    text = caveats_html(analysis=analysis, protocol={"data source": "mnist5k"})
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text)))


def searched(*, searches: int, seeds: int) -> pd.DataFrame:
    """``searches`` independent searches of the 2×2 four plus joint: each search's configurations
    move every arch's accuracy by their own few tenths of a point."""
    rng = np.random.default_rng(3)
    frames = []
    for search in range(searches):
        frame = factorial_results(sharing=0.03, aux=0.06, seeds=seeds).assign(search=search)
        luck = dict(zip(frame["arch"].unique(), 0.005 * rng.standard_normal(frame["arch"].nunique()), strict=True))
        frames.append(frame.assign(test_accuracy=frame["test_accuracy"] + frame["arch"].map(luck)))
    return pd.concat(frames, ignore_index=True)


def test_the_caveats_of_a_full_design_on_enough_seeds():
    text = caveats(factorial_results(sharing=0.03, aux=0.06, seeds=8))

    assert "Every interval and p-value is over the 8 final seeds (0…7) of one search per arch." in text
    assert "They exclude tuning luck" in text  # one search: the configurations are held fixed
    assert "independent searches" not in text
    assert "Intervals are Student t intervals" in text
    assert "The pairwise table is Holm-corrected over its 10 pairs" in text  # five archs
    assert "bootstrap" not in text.lower() and "BCa" not in text
    assert "The best of the four is chosen on the same runs" in text  # joint was compared with it
    assert "of mnist5k" in text
    assert "Every run has a test accuracy." in text


def test_several_searches_are_caveated_as_independent_replicates_that_include_tuning_luck():
    text = caveats(searched(searches=3, seeds=4))

    assert "Every interval and p-value is over up to 3 independent searches per arch" in text
    assert "each retrained on the 4 final seeds (0…3)" in text
    assert "They include the luck of which configuration a search chose" in text
    assert "With 3 searches the t intervals have 2 degrees of freedom" in text
    assert "exclude tuning luck" not in text and "of one search per arch" not in text


def test_few_seeds_are_called_too_few_and_no_comparison_is_caveated_that_was_not_made():
    """With only two seeds of one search the caveats count them and say what the intervals
    leave out; only the archs outside the 2×2 ran, so nothing was compared with its best."""
    results = factorial_results(sharing=0.03, aux=0.06, seeds=2)
    text = caveats(results[results.arch == "joint"])

    assert "Every interval and p-value is over the 2 final seeds (0…1) of one search per arch." in text
    assert "They exclude tuning luck" in text
    assert "best of the four" not in text


def test_runs_without_a_test_accuracy_are_counted():
    results = factorial_results(sharing=0.03, aux=0.06, seeds=4)
    results.loc[[0, 7], "test_accuracy"] = np.nan

    assert "2 run(s) have no test accuracy (diverged or unfinished) and are left out" in caveats(results)


def test_one_search_caveats_print_no_number_from_another_run():
    text = caveats(factorial_results(sharing=0.03, aux=0.06, seeds=8))

    assert "+2.99" not in text and "+1.50" not in text and "about a point" not in text
    assert "cannot measure" in text  # one search: how much another search would differ is unknown here
