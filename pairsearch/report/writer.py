"""The report from plain data: the analysis, then the files (:mod:`pairsearch.report.document`).

One pass: :func:`pairsearch.report.analysis.analyse` computes every number once, the render
modules format them. :func:`pairsearch.report.results.write_final_report` calls this with what it
read from the storage; tests call it with frames and records made in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from pairsearch.report import document
from pairsearch.report.analysis import analyse
from pairsearch.report.facts import RecipePair, TuningFacts


def write_report(
    *,
    out_dir: Path,
    results: pd.DataFrame,
    curves: pd.DataFrame,
    protocol: dict,
    studies: Mapping[str, TuningFacts],
    recipes: RecipePair | None = None,
    recipe_summary: str | None = None,
    trials: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Analyse the results and write the final report files into ``out_dir`` (created if missing).

    Args:
        out_dir: Folder to write into.
        results: One row per (arch, seed) — or (arch, search, seed) — with columns ``arch, seed,
            test_accuracy, status, seconds, n_parameters, params`` (``params`` is a JSON string of
            the hyperparameters), and where recorded, per job: ``device, host, torch, optuna,
            pairsearch, python`` (absent or empty: shown as not recorded).
        curves: One row per (arch, seed, epoch) with columns ``arch, seed, epoch, train_loss,
            train_accuracy, test_accuracy, digit_accuracy``.
        protocol: Flat mapping of protocol facts (data source, epochs, seeds, ...). Keys named
            like a per-job column, or ``date (UTC)``, are shown as facts of the process that
            wrote the report, never as the runs'.
        studies: Label → the record of the tuning study whose best params the final runs used
            (:func:`pairsearch.report.studies.read_studies`); may be empty.
        recipes: Where ``results`` come from a recipe other than the one the studies were
            tuned with: which, and that recipe's results of the same studies; the answer is then
            shown under both, and the effects under both go to ``effects_by_recipe.csv``.
        recipe_summary: The recipe of ``results`` in words, for the summary's caption (None:
            the course's, not named).
        trials: The tuning studies' finished trials, as :func:`pairsearch.report.results.tuning_trials`
            reads them: the budget curves (None: none drawn).

    Returns:
        The written paths under the keys ``results_csv, curves_csv, summary_md, pairwise_csv,
        effects_csv, report_html`` (and ``effects_by_recipe_csv`` where both recipes have
        results, ``budget_csv`` where there are budget curves).
    """
    analysis = analyse(results=results, curves=curves, studies=studies, recipes=recipes, trials=trials)
    return document.write_files(out_dir=out_dir, results=results, curves=curves, protocol=protocol,
                                studies=studies, analysis=analysis, recipe_summary=recipe_summary)
