"""Every number and every verdict the report shows, computed once from the results.

The analysis layer: plain data in (results, curves, tuning trials and
:class:`~pairsearch.report.facts.TuningFacts` records, read once by
:mod:`pairsearch.report.results`), an :class:`Analysis` out. The render modules only format it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from pairsearch.report import axes, recipe_stats, stats
from pairsearch.report import budget as budgets
from pairsearch.report import cells as design_cells
from pairsearch.report import design as layout
from pairsearch.report.facts import COMPLETE_TRIAL_COLUMNS, RecipePair, TuningFacts
from pairsearch.report.recipe_stats import RecipeComparison
from pairsearch.report.run_record import RunRecord, run_record
from pairsearch.report.stats import Cell
from pairsearch.report.verdicts import with_verdicts
from pairsearch.searches import search_study_name
from pairsearch.training.models import arch_order

TUNING_COLUMNS = ["arch", "search", "final_mean", "final_minus_best", "n_parameters", "mean_seconds"]
CURVE_COLUMNS = ["test_accuracy", "train_accuracy", "train_loss", "digit_accuracy"]


@dataclass(frozen=True)
class Analysis:
    """Every number the report shows, computed once from the results.

    Attributes:
        archs: The labels with results, in the report's order.
        design: Label → its cell of the 2×2 design.
        design_notes: Notes for the reader on the design (several studies of one arch).
        runs: The results with a ``search`` column (0 where they had none).
        summary: :func:`pairsearch.report.stats.summarize` of the results, by rank.
        summary_order: The order of summary.md's rows: the labels' own registry order.
        run_counts: Label → its runs, with a result or not.
        best_epoch: The same summary of each seed's best epoch (None: no curves given).
        effects: The 2×2 effects, with a ``verdict`` column and their forest plot's ``axis``,
            ``axis_low`` and ``axis_high`` (:func:`pairsearch.report.axes.with_axes`), as have
            ``versus`` and ``comparisons``.
        cells: Each cell of the 2×2 design with results: its levels, mean and 95 % CI
            (:func:`pairsearch.report.cells.cell_means`).
        run_effects: The average effects and the interaction per (search, seed) run
            (:func:`pairsearch.report.cells.run_effects`), with their effect's ``axis`` and
            ``axis_low``, ``axis_high`` (:func:`pairsearch.report.axes.with_run_axes`).
        versus: Each other arch − the best of the four, in report order, with a ``verdict``.
        comparisons: The pairwise table, grouped and ordered, with a ``verdict``.
        recipes: The default recipe's results to compare with (None: one recipe).
        by_recipe: The answer under both recipes (None: one recipe, or no default results).
        budget: The budget curves (None: no tuning trials given).
        plateau: Label → the budget from which its curve stops rising.
        budget_searches: Label → the searches its budget curve is over.
        tuning: Per tuning study (indexed as the studies are keyed; in report order, each arch's
            searches in turn), its own search's final runs:
            ``arch`` (the label) and ``search``, their mean test accuracy over the seeds, its
            difference from the study's best validation accuracy, the configuration's parameter
            count and the runs' mean time (:data:`TUNING_COLUMNS`).
        chosen: Each search's chosen configuration (the params its final runs trained), in report
            order, under its study's name (:func:`pairsearch.searches.search_study_name`: the
            label itself for search 0).
        complete_trials: Every complete tuning trial, with columns ``arch`` (the label),
            ``search`` and :data:`pairsearch.report.facts.COMPLETE_TRIAL_COLUMNS`.
        curve_means: Per recorded curve (:data:`CURVE_COLUMNS`; absent: recorded for no arch), its
            ``mean`` and ``std`` over the runs, indexed by (arch, epoch).
        epochs: How many distinct epochs the curves have.
        seeds: The final seeds of the results, ascending.
        unfinished: Runs without a test accuracy (diverged or unfinished).
        recipe_name: The training recipe of the results, by name (None: not recorded, or several).
        final_epochs: Label → the epochs its final runs trained (from the curves; absent: none).
        run_record: What the jobs recorded of their runs (:func:`pairsearch.report.run_record.run_record`).
    """

    archs: list[str]
    design: dict[str, Cell]
    design_notes: list[str]
    runs: pd.DataFrame
    summary: pd.DataFrame
    summary_order: list[str]
    run_counts: dict[str, int]
    effects: pd.DataFrame
    versus: pd.DataFrame
    comparisons: pd.DataFrame
    cells: pd.DataFrame | None = None
    run_effects: pd.DataFrame | None = None
    best_epoch: pd.DataFrame | None = None
    recipes: RecipePair | None = None
    by_recipe: RecipeComparison | None = None
    budget: pd.DataFrame | None = None
    plateau: dict[str, int] | None = None
    budget_searches: dict[str, int] | None = None
    tuning: pd.DataFrame | None = None
    chosen: dict[str, dict] | None = None
    complete_trials: pd.DataFrame | None = None
    curve_means: dict[str, pd.DataFrame] | None = None
    epochs: int = 0
    seeds: list[int] | None = None
    unfinished: int = 0
    run_record: RunRecord | None = None
    recipe_name: str | None = None
    final_epochs: dict[str, int] | None = None


def analyse(
    *, results: pd.DataFrame, curves: pd.DataFrame | None = None,
    studies: Mapping[str, TuningFacts] | None = None, recipes: RecipePair | None = None,
    trials: pd.DataFrame | None = None,
) -> Analysis:
    """Order the archs, place them in the 2×2 design and compute every table of the report.

    Args:
        results: Per-seed results (:func:`pairsearch.report.results.collect_results`).
        curves: Per-epoch curves, for the best-epoch summary (None: none).
        studies: Label → its tuning study's record (:func:`pairsearch.report.studies.read_studies`).
        recipes: The default recipe's results to compare with (None: one recipe).
        trials: The tuning trials (:func:`pairsearch.report.results.tuning_trials`), for the
            budget curves (None: none).

    Returns:
        The :class:`Analysis`.
    """
    studies = studies or {}
    arch_of = {label: study.arch or label for label, study in studies.items()}
    archs = arch_order(labels=results["arch"].astype(str), arch_of=arch_of)
    design, notes = layout.resolve_design(labels=archs, arch_of=arch_of)
    summary = stats.summarize(results=results)
    has_budget = trials is not None and not trials.empty
    budget = budgets.budget_curves(trials=trials) if has_budget else None
    effects = axes.with_axes(with_verdicts(stats.factorial_effects(results=results, design=design)))
    return Analysis(
        archs=archs, design=design, design_notes=notes, runs=stats.with_search(results), summary=summary,
        summary_order=arch_order(labels=summary["arch"]),
        run_counts={str(arch): int(n) for arch, n in results.groupby("arch").size().items()},
        effects=effects,
        cells=design_cells.cell_means(summary=summary, design=design),
        run_effects=axes.with_run_axes(
            run_effects=design_cells.run_effects(results=results, design=design), effects=effects),
        versus=axes.with_axes(with_verdicts(_versus(results=results, design=design, archs=archs))),
        comparisons=axes.with_axes(with_verdicts(
            _comparisons(results=results, design=design, archs=archs, summary=summary))),
        best_epoch=None if curves is None else stats.summarize(
            results=stats.best_epoch_results(curves=curves, results=results)),
        recipes=recipes,
        by_recipe=recipes and recipe_stats.compare(pair=recipes, results=results, design=design),
        budget=budget,
        plateau=None if budget is None else budgets.plateau_trials(budget),
        budget_searches=None if budget is None else {
            str(arch): int(n) for arch, n in budget.groupby("arch")["searches"].max().items()},
        tuning=_tuning(studies=studies, results=results, archs=archs) if studies else None,
        chosen=_chosen(results=results, archs=archs),
        complete_trials=_complete_trials(studies=studies),
        curve_means=None if curves is None else _curve_means(curves),
        epochs=0 if curves is None else int(curves["epoch"].nunique()),
        seeds=[int(seed) for seed in sorted(results["seed"].unique())],
        unfinished=int(results["test_accuracy"].isna().sum()),
        run_record=run_record(results=results, archs=archs),
        recipe_name=_recipe_name(results=results, recipes=recipes),
        final_epochs=None if curves is None or curves.empty else {
            str(arch): int(epoch) for arch, epoch in curves.groupby("arch")["epoch"].max().items()},
    )


def _recipe_name(*, results: pd.DataFrame, recipes: RecipePair | None) -> str | None:
    """The recipe every result trained under (the pair's name where two recipes are compared)."""
    if recipes is not None:
        return recipes.recipe_name
    names = set(results["recipe"].dropna()) if "recipe" in results.columns else set()
    return str(names.pop()) if len(names) == 1 else None


def _versus(*, results: pd.DataFrame, design: dict[str, Cell], archs: list[str]) -> pd.DataFrame:
    """Each arch outside the design − the best of the four, in report order."""
    versus = stats.versus_best(results=results, design=design)
    versus = versus.set_index("arch").loc[[a for a in archs if a in set(versus["arch"])]]
    return versus.reset_index()


def _comparisons(
    *, results: pd.DataFrame, design: dict[str, Cell], archs: list[str], summary: pd.DataFrame
) -> pd.DataFrame:
    """Every pair, grouped as :func:`pairsearch.report.design.comparison_groups` orders them."""
    groups = layout.comparison_groups(archs=archs, design=design, summary=summary)
    comparisons = stats.pairwise(results=results, pairs=[pair for _, pair in groups])
    comparisons.insert(0, "group", [group for group, _ in groups])
    return layout.sort_rest(comparisons)


def _label_and_search(*, key: str, study: TuningFacts) -> tuple[str, int]:
    """The label and search of a study's final runs: search 0's label is its key in the mapping (its
    study's name, which names its group), a later search's its group."""
    return (key if study.search == 0 else study.group or key), study.search


def _tuning(*, studies: Mapping[str, TuningFacts], results: pd.DataFrame, archs: list[str]) -> pd.DataFrame:
    """Per study: its own search's final mean, final − best validation, parameters, mean run time
    (NaN: none), never its arch's over every search; in report order, each arch's searches in turn
    (studies of no arch with results last, by name)."""
    runs = stats.with_search(results).groupby(["arch", "search"])
    means = runs["test_accuracy"].mean()  # over the seeds with a result
    parameters = runs["n_parameters"].first()
    seconds = runs["seconds"].mean() if "seconds" in results else pd.Series(dtype=float)
    rows = {}
    for key, study in studies.items():
        label, search = at = _label_and_search(key=key, study=study)
        mean = means.get(at)
        mean = None if mean is None or pd.isna(mean) else float(mean)
        gap = None if study.best_value is None or mean is None else mean - study.best_value
        rows[key] = [label, search, mean, gap, parameters.get(at), seconds.get(at)]
    rank = {arch: index for index, arch in enumerate(archs)}
    order = sorted(rows, key=lambda key: (rank.get(rows[key][0], len(rank)), key if rows[key][0] not in rank else "",
                                          rows[key][1]))
    frame = pd.DataFrame.from_dict({key: rows[key] for key in order}, orient="index", columns=TUNING_COLUMNS)
    numbers = TUNING_COLUMNS[2:]
    frame[numbers] = frame[numbers].astype(float)
    return frame


def _chosen(*, results: pd.DataFrame, archs: list[str]) -> dict[str, dict]:
    """Study name → the params its final runs trained, each arch's searches in order."""
    first = stats.with_search(results).sort_values("seed").groupby(["arch", "search"])["params"].first()
    return {
        search_study_name(group=arch, search=int(search)): json.loads(params)
        for arch in archs for (label, search), params in first.items() if label == arch
    }


def _complete_trials(*, studies: Mapping[str, TuningFacts]) -> pd.DataFrame:
    """Every study's complete trials in one frame, labelled by ``arch`` and ``search``."""
    frames = [study.complete.assign(arch=label, search=search)
              for key, study in studies.items() if not study.complete.empty
              for label, search in [_label_and_search(key=key, study=study)]]
    columns = ["arch", "search", *COMPLETE_TRIAL_COLUMNS]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def _curve_means(curves: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each recorded curve's mean and std over the runs, per (arch, epoch)."""
    return {
        column: curves.dropna(subset=[column]).groupby(["arch", "epoch"])[column].agg(["mean", "std"])
        for column in CURVE_COLUMNS
        if column in curves.columns and curves[column].notna().sum() > 0
    }
