"""The final report's files: CSV files, a Markdown summary and one self-contained offline HTML page.

Render only: everything shown comes computed in an :class:`~pairsearch.report.analysis.Analysis`
(and the records read from the storage). The page opens with the answer to the experiment's
questions (:mod:`pairsearch.report.answer`), then shows the evidence: per-arch accuracy, pairwise
comparisons, learning curves, the runs' provenance, the tuning
(:mod:`pairsearch.report.provenance`) and caveats. plotly.js is embedded once, inline, so the
page opens on a machine with no network; every text that comes from data is escaped.
Accuracies are in percent, differences in percentage points.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from pairsearch.report import (
    accuracy,
    answer,
    design_plots,
    page,
    pairwise,
    plots,
    provenance,
    readings,
    tuning_plots,
)
from pairsearch.report import formatting as fmt
from pairsearch.report.analysis import Analysis
from pairsearch.report.budget import PLATEAU
from pairsearch.report.caveats import caveats_html
from pairsearch.report.facts import TuningFacts
from pairsearch.report.stats import EFFECT_COLUMNS, PAIRWISE_COLUMNS

# effects.csv: the effects and, as in effects_by_recipe.csv, the recipe of their results.
EFFECTS_CSV_COLUMNS = [*EFFECT_COLUMNS[:3], "recipe", *EFFECT_COLUMNS[3:]]
FILES = {"results_csv": "results.csv", "curves_csv": "curves.csv", "summary_md": "summary.md",
         "pairwise_csv": "pairwise.csv", "effects_csv": "effects.csv", "report_html": "report.html"}


def write_files(
    *, out_dir: Path, results: pd.DataFrame, curves: pd.DataFrame, protocol: dict,
    studies: Mapping[str, TuningFacts], analysis: Analysis, recipe_summary: str | None = None,
) -> dict[str, Path]:
    """Write the report's files into ``out_dir`` (created if missing).

    Args:
        out_dir: Folder to write into.
        results: The per-seed results, written as they are to ``results.csv``.
        curves: The per-epoch curves, written to ``curves.csv`` and drawn.
        protocol: Flat mapping of protocol facts; keys named like a per-job column, or
            ``date (UTC)``, are shown as facts of the process that wrote the report.
        studies: Label → its tuning study's record (may be empty).
        analysis: Every number, computed from the above.
        recipe_summary: The recipe of ``results`` in words, for the summary's caption (None:
            the course's, not named).

    Returns:
        The written paths, keyed as :data:`FILES` (plus ``effects_by_recipe_csv`` where both
        recipes have results, and ``budget_csv`` where there are budget curves).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / file for name, file in FILES.items()}
    results.to_csv(paths["results_csv"], index=False)
    curves.to_csv(paths["curves_csv"], index=False)
    paths["summary_md"].write_text(summary_markdown(analysis=analysis, recipe_summary=recipe_summary),
                                   encoding="utf-8")
    analysis.comparisons[["group", *PAIRWISE_COLUMNS]].to_csv(paths["pairwise_csv"], index=False)
    analysis.effects.assign(recipe=analysis.recipe_name)[EFFECTS_CSV_COLUMNS].to_csv(paths["effects_csv"], index=False)
    by_recipe_csv = out_dir / "effects_by_recipe.csv"
    if analysis.by_recipe is not None:
        paths["effects_by_recipe_csv"] = by_recipe_csv
        analysis.by_recipe.effects.to_csv(by_recipe_csv, index=False)
    else:  # a report written into the folder of an earlier one must not keep that one's table
        by_recipe_csv.unlink(missing_ok=True)
    if analysis.budget is not None:
        paths["budget_csv"] = out_dir / "budget.csv"
        analysis.budget.to_csv(paths["budget_csv"], index=False)
    page_html = report_html(results=results, protocol=protocol, studies=studies, analysis=analysis,
                            recipe_summary=recipe_summary)
    paths["report_html"].write_text(page_html, encoding="utf-8")
    return paths


def summary_markdown(*, analysis: Analysis, recipe_summary: str | None = None) -> str:
    """summary.md, as final-report prints it: the answer (under both recipes where two are compared),
    then the per-arch table."""
    recipe_line = f" Training recipe: {recipe_summary}." if recipe_summary else ""
    parts = [answer.answer_markdown(effects=analysis.effects, versus=analysis.versus, summary=analysis.summary,
                                    recipe_name=analysis.recipe_name)]
    if analysis.recipes is not None:
        parts.append(readings.recipes_markdown(pair=analysis.recipes, comparison=analysis.by_recipe))
    parts.append(accuracy.summary_markdown(summary=analysis.summary, best_epoch=analysis.best_epoch,
                                           order=analysis.summary_order, recipe_line=recipe_line))
    return "\n".join(parts)


def report_html(
    *, results: pd.DataFrame, protocol: dict, studies: Mapping[str, TuningFacts], analysis: Analysis,
    recipe_summary: str | None = None,
) -> str:
    """Build the self-contained HTML page (arguments as for :func:`write_files`); its title and
    answer name the results' recipe.

    Returns:
        The whole HTML document.
    """
    archs, summary = analysis.archs, analysis.summary
    colours = fmt.arch_colours(archs=archs)
    per_seed = plots.per_seed_figure(runs=analysis.runs, summary=summary, archs=archs, colours=colours)
    sections = [
        ("answer", f"The answer{answer.recipe_suffix(analysis.recipe_name)}",
         _answer(analysis=analysis, recipe_summary=recipe_summary)),
        ("accuracy", "Test accuracy per arch",
         accuracy.summary_table(summary=summary, run_counts=analysis.run_counts, archs=archs,
                                best_epoch=analysis.best_epoch)
         + fmt.plot(plot_id="accuracy-by-arch", figure=per_seed)),
        ("pairwise", "Pairwise comparisons", pairwise.pairwise_html(comparisons=analysis.comparisons)),
        ("curves", "Learning curves", _curves(analysis=analysis, colours=colours)),
        ("runs", "Protocol and provenance of the runs", _runs(protocol=protocol, analysis=analysis)),
        ("tuning", "Tuning provenance",
         _tuning(studies=studies, analysis=analysis, colours=colours)),
        ("budget", "Budget curves", _budget(analysis=analysis, colours=colours)),
        ("params", "Best parameters", _params_table(chosen=analysis.chosen or {}, archs=archs)),
        ("caveats", "Caveats", caveats_html(analysis=analysis, protocol=protocol)),
    ]
    if analysis.recipes is not None:  # a section of its own, right after the answer, in the contents
        sections.insert(1, ("recipes", readings.recipes_heading(analysis.recipes),
                            readings.recipes_html(pair=analysis.recipes, comparison=analysis.by_recipe)))
    return page.page(sections=sections, title=f"pairsearch final report{answer.recipe_suffix(analysis.recipe_name)}")


def _answer(*, analysis: Analysis, recipe_summary: str | None) -> str:
    notes = "".join(fmt.note(text) for text in analysis.design_notes)
    if analysis.recipe_name:
        notes = fmt.note(f"Training recipe: {recipe_summary or analysis.recipe_name}.", css_class="ps-caption") + notes
    text = notes + answer.answer_html(effects=analysis.effects, versus=analysis.versus, summary=analysis.summary)
    return text + _design_plots(analysis=analysis)


def _design_plots(*, analysis: Analysis) -> str:
    """The interaction plot and the effects run by run, where the design has results to draw."""
    plots_html = []
    if analysis.cells is not None and not analysis.cells.empty:
        plots_html.append(fmt.plot(plot_id="interaction", figure=design_plots.interaction_figure(cells=analysis.cells)))
    if analysis.run_effects is not None and not analysis.run_effects.empty:
        figure = design_plots.run_effects_figure(run_effects=analysis.run_effects, effects=analysis.effects)
        plots_html.append(fmt.plot(plot_id="effects-by-run", figure=figure))
    return "\n" + '<div class="ps-grid">\n' + "\n".join(plots_html) + "\n</div>" if plots_html else ""


def _curves(*, analysis: Analysis, colours: dict) -> str:
    parts = []
    for column, figure, note in plots.curve_figures(curve_means=analysis.curve_means or {}, epochs=analysis.epochs,
                                                    archs=analysis.archs, colours=colours):
        plot = fmt.plot(plot_id=f"curve-{column}", figure=figure) if figure else ""
        parts.append(f"<div>{plot}{fmt.note(note) if note else ''}</div>")
    return '<div class="ps-grid">\n' + "\n".join(parts) + "\n</div>"


def _runs(*, protocol: dict, analysis: Analysis) -> str:
    experiment, writer = provenance.protocol_tables(protocol=protocol)
    jobs, differing = provenance.run_provenance_table(record=analysis.run_record)
    agreement = "".join(fmt.note(text, css_class="ps-warning") for text in differing)
    return f"{experiment}\n<h3>Where the final jobs ran</h3>\n{jobs}\n{agreement}\n{writer}"


def _tuning(*, studies: Mapping[str, TuningFacts], analysis: Analysis, colours: dict) -> str:
    if not studies:
        return fmt.note("No tuning studies were given.")
    size = plots.size_figure(summary=analysis.summary, finals=analysis.tuning, trials=analysis.complete_trials,
                             archs=analysis.archs, colours=colours)
    ordered = list(analysis.tuning.index)  # each arch's searches side by side
    return "\n".join([
        provenance.tuning_table(studies=studies, tuning=analysis.tuning, archs=ordered,
                                final_recipe_name=analysis.recipe_name, final_epochs=analysis.final_epochs or {}),
        "<h3>Search space, sampler and pruner, as stored with each study</h3>",
        provenance.settings_table(studies=studies, archs=ordered),
        fmt.plot(plot_id="accuracy-vs-parameters", figure=size),
        *(tuning_plots.study_plots(label=label, study=studies[label]) for label in ordered),
    ])


def _budget(*, analysis: Analysis, colours: dict) -> str:
    if analysis.budget is None:
        return fmt.note("No tuning trials were given.")
    plateau, searches = analysis.plateau, analysis.budget_searches
    lines = "; ".join(f"{arch} from {plateau[arch]} trials" for arch in analysis.archs if arch in plateau)
    caption = fmt.note(
        "Expected best validation accuracy of a search of n trials (Tang et al. 2020's unbiased "
        "estimator over each search's finished trials; valid for random sampling, which the study files "
        "ship), the mean over an arch's searches with a 95 % t band over them (no band for one search). "
        "A pruned trial counts with the last validation accuracy it reported: a lower bound of what it "
        "would have reached. Where the curve stops rising (within "
        f"{100 * PLATEAU:.1f} points of its value at the largest budget): {lines}. Searches per "
        f"arch: {', '.join(f'{arch} {searches[arch]}' for arch in analysis.archs if arch in searches)}.",
        css_class="ps-caption")
    figure = plots.budget_figure(budget=analysis.budget, archs=analysis.archs, colours=colours)
    return caption + fmt.plot(plot_id="budget-curves", figure=figure)


def _params_table(*, chosen: Mapping[str, dict], archs: list[str]) -> str:
    """One column per search's study: the configuration it chose, which its final runs trained."""
    columns = list(chosen)
    names = list(dict.fromkeys(name for column in columns for name in chosen[column]))
    rows = [[name, *(fmt.plain(chosen[column].get(name, fmt.DASH)) for column in columns)]
            for name in names]
    caption = "" if len(columns) <= len(archs) else fmt.note(
        "One column per search (its tuning study; search 0 is the arch's own name): the configuration "
        "that search chose, which its final runs trained. Independent searches of one arch may choose "
        "very different configurations. Search r of every arch draws its candidates from the same "
        "sampler stream when the archs' study files share a seed (the stream is keyed by that seed, "
        "the search and the trial): archs that share parameters then see the same candidates, and "
        "their searches r can choose the same configuration — common random numbers, which pair the "
        "archs' searches as their seeds are paired.", css_class="ps-caption")
    return caption + fmt.table(headers=["Hyperparameter", *columns], rows=rows,
                               numeric=range(1, len(columns) + 1), css_class="ps-transposed")
