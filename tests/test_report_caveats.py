"""The report's caveats say what this run's intervals cover, with its own numbers."""

from __future__ import annotations

import html
import re

from test_report import factorial_results

from pairsearch import report
from pairsearch.report_caveats import caveats_html


def caveats(results) -> str:
    analysis = report.analyse(results=results, studies={})
    text = caveats_html(results=results, analysis=analysis, protocol={"data source": "mnist5k"})
    return html.unescape(re.sub(r"<[^>]+>", " ", text))


def test_the_caveats_of_a_full_design_on_enough_seeds():
    text = caveats(factorial_results(sharing=0.03, aux=0.06, seeds=8))

    assert "over the 8 seeds (0…7)" in text
    assert "tend to be a little narrow" in text
    assert "The best of the four is chosen on the same seeds" in text  # joint was compared with it
    assert "Every run has a test accuracy." in text


def test_few_seeds_are_called_too_few_and_no_comparison_is_caveated_that_was_not_made():
    results = factorial_results(sharing=0.03, aux=0.06, seeds=2)
    text = caveats(results[results.arch == "joint"])

    assert "little more than the range of the values: too few seeds" in text
    assert "best of the four" not in text
