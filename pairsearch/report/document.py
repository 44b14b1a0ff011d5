"""The final report: CSV files, a Markdown summary and one self-contained offline HTML page.

The page opens with the answer to the experiment's questions (:mod:`pairsearch.report.answer`),
then shows the evidence: per-arch accuracy, pairwise comparisons, learning curves, the runs'
provenance, the tuning (:mod:`pairsearch.report.provenance`) and caveats. plotly.js is
embedded once, inline, so the page opens on a machine with no network; every text that comes
from data is escaped. Accuracies are in percent, differences in percentage points.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import optuna
import pandas as pd

from pairsearch.report import answer, pairwise, plots, provenance, readings, stats
from pairsearch.report import formatting as fmt
from pairsearch.report.caveats import caveats_html
from pairsearch.report.readings import RecipeComparison, RecipePair
from pairsearch.report.stats import Cell


@dataclass(frozen=True)
class Analysis:
    """Every number the report shows, computed once from the results."""

    archs: list[str]
    design: dict[str, Cell]
    design_notes: list[str]
    summary: pd.DataFrame
    effects: pd.DataFrame
    versus: pd.DataFrame
    comparisons: pd.DataFrame
    recipes: RecipePair | None = None
    by_recipe: RecipeComparison | None = None
    budget: pd.DataFrame | None = None


def write_report(
    *,
    out_dir: Path,
    results: pd.DataFrame,
    curves: pd.DataFrame,
    protocol: dict,
    studies: dict[str, optuna.Study],
    recipes: RecipePair | None = None,
    recipe_summary: str | None = None,
    trials: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write the final report files into ``out_dir`` (created if missing).

    Args:
        out_dir: Folder to write into.
        results: One row per (arch, seed) with columns ``arch, seed, test_accuracy, status,
            seconds, n_parameters, params`` (``params`` is a JSON string of the
            hyperparameters), and where recorded, per job: ``device, host, torch, optuna,
            pairsearch, python`` (absent or empty: shown as not recorded).
        curves: One row per (arch, seed, epoch) with columns ``arch, seed, epoch, train_loss,
            train_accuracy, test_accuracy, digit_accuracy``.
        protocol: Flat mapping of protocol facts (data source, epochs, seeds, ...). Keys named
            like a per-job column, or ``date (UTC)``, are shown as facts of the process that
            wrote the report, never as the runs'.
        studies: Label → the tuning study whose best params the final runs used; may be
            empty. Study user attrs ``arch``, ``spec`` and ``versions`` and trial user attrs
            ``epochs_run``, ``seconds_per_epoch``, ``n_parameters`` are shown where present.
        recipes: Where ``results`` come from a recipe other than the one the studies were
            tuned with: which, and that recipe's results of the same studies; the answer is then
            shown under both, and the effects under both go to ``effects_by_recipe.csv``.
        recipe_summary: The recipe of ``results`` in words, for the summary's caption (None:
            the course's, not named).
        trials: The tuning studies' finished trials, as :func:`pairsearch.report.results.tuning_trials`
            reads them: the budget curves (None: none drawn).

    Returns:
        The written paths under the keys ``results_csv, curves_csv, summary_md, pairwise_csv,
        effects_csv, report_html`` (and ``effects_by_recipe_csv`` where both recipes have results).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    analysis = analyse(results=results, studies=studies, recipes=recipes, trials=trials)
    paths = {
        name: out_dir / file
        for name, file in [
            ("results_csv", "results.csv"), ("curves_csv", "curves.csv"),
            ("summary_md", "summary.md"), ("pairwise_csv", "pairwise.csv"),
            ("effects_csv", "effects.csv"), ("report_html", "report.html"),
        ]
    }
    results.to_csv(paths["results_csv"], index=False)
    curves.to_csv(paths["curves_csv"], index=False)
    # Without the studies' arch names, as final-report prints it: the file equals the printout.
    recipe_line = f" Training recipe: {recipe_summary}." if recipe_summary else ""
    best_epoch = stats.summarize(results=stats.best_epoch_results(curves=curves, results=results))
    markdown = answer.answer_markdown(effects=analysis.effects, versus=analysis.versus,
                                             summary=analysis.summary) + "\n" + summary_markdown(
        summary=analysis.summary, best_epoch=best_epoch, recipe_line=recipe_line)
    paths["summary_md"].write_text(markdown, encoding="utf-8")
    analysis.comparisons.to_csv(paths["pairwise_csv"], index=False)
    analysis.effects.to_csv(paths["effects_csv"], index=False)
    by_recipe_csv = out_dir / "effects_by_recipe.csv"
    if analysis.by_recipe is not None:
        paths["effects_by_recipe_csv"] = by_recipe_csv
        analysis.by_recipe.effects.to_csv(by_recipe_csv, index=False)
    else:  # a report written into the folder of an earlier one must not keep that one's table
        by_recipe_csv.unlink(missing_ok=True)
    if analysis.budget is not None:
        paths["budget_csv"] = out_dir / "budget.csv"
        analysis.budget.to_csv(paths["budget_csv"], index=False)
    page = report_html(
        results=results, curves=curves, protocol=protocol, studies=studies, analysis=analysis
    )
    paths["report_html"].write_text(page, encoding="utf-8")
    return paths


def analyse(
    *, results: pd.DataFrame, studies: dict[str, optuna.Study], recipes: RecipePair | None = None,
    trials: pd.DataFrame | None = None,
) -> Analysis:
    """Order the archs, place them in the 2×2 design and compute every table of the report.

    Args:
        results: Per-seed results, as for :func:`write_report`.
        studies: Tuning studies by label, as for :func:`write_report`.
        recipes: The default recipe's results to compare with, as for :func:`write_report`.
        trials: The tuning trials, as for :func:`write_report`.

    Returns:
        The :class:`Analysis`.
    """
    arch_of = {label: study.user_attrs.get("arch", label) for label, study in studies.items()}
    archs = fmt.arch_order(labels=results["arch"].astype(str), arch_of=arch_of)
    design, notes = answer.resolve_design(labels=archs, arch_of=arch_of)
    summary = stats.summarize(results=results)
    versus = stats.versus_best(results=results, design=design)
    versus = versus.set_index("arch").loc[[a for a in archs if a in set(versus["arch"])]]
    groups = pairwise.comparison_groups(archs=archs, design=design, summary=summary)
    comparisons = stats.pairwise(results=results, pairs=[pair for _, pair in groups])
    comparisons.insert(0, "group", [group for group, _ in groups])
    return Analysis(
        archs=archs,
        design=design,
        design_notes=notes,
        summary=summary,
        effects=stats.factorial_effects(results=results, design=design),
        versus=versus.reset_index(),
        comparisons=pairwise.sort_rest(comparisons),
        recipes=recipes,
        by_recipe=recipes and readings.compare(pair=recipes, results=results, design=design),
        budget=None if trials is None or trials.empty else stats.budget_curves(trials=trials),
    )


def summary_markdown(
    *,
    summary: pd.DataFrame,
    best_epoch: pd.DataFrame | None = None,
    order: list[str] | None = None,
    recipe_line: str = "",
) -> str:
    """Render a :func:`pairsearch.report.stats.summarize` table as a captioned Markdown table.

    Args:
        summary: The output of :func:`pairsearch.report.stats.summarize`.
        best_epoch: The same summary of :func:`pairsearch.report.stats.best_epoch_results`: a last
            column, the earlier projects' protocol, for like-for-like comparison with them.
        order: The archs' order; default :func:`pairsearch.report.formatting.arch_order`.
        recipe_line: A sentence ending the caption on the training recipe (none for the default).

    Returns:
        A caption line, a blank line and the table (test accuracy in percent), ending with a
        newline.
    """
    order = order or fmt.arch_order(labels=summary["arch"])
    rows = summary.set_index("arch").reindex([a for a in order if a in set(summary["arch"])])
    rows = rows.reset_index()
    caption = f"{accuracy_caption(summary)}{recipe_line}"
    header = [("| Arch | Rank | Mean ± std (%) | 95 % CI (%) | Median (%) | IQM (%) | Searches × seeds | "
               "SD search / seed (points) |"),
              "|:---|---:|---:|:---:|---:|---:|---:|---:|"]
    best = {} if best_epoch is None else {row.arch: row for row in best_epoch.itertuples(index=False)}
    if best_epoch is not None:
        caption += (" Best epoch: each seed's highest test accuracy over the epochs, mean ± std — the "
                    "earlier projects' protocol, optimistic (the epoch is chosen on the test set), "
                    "shown only to compare with figures published that way.")
        header = [header[0] + " Best epoch (%) |", header[1] + "---:|"]
    lines = []
    for row in rows.itertuples(index=False):
        cells = [str(row.arch).replace("|", r"\|"), str(row.rank), f"{fmt.percent(row.mean)} ± {fmt.percent(row.std)}",
                 fmt.interval(row.ci_low, row.ci_high), fmt.percent(row.median), fmt.percent(row.iqm),
                 answer.runs_text(runs=row.n, searches=row.n_searches), f"{_sd(row.sd_search)} / {_sd(row.sd_seed)}"]
        if best_epoch is not None:
            mine = best.get(row.arch)
            cells.append(fmt.DASH if mine is None else f"{fmt.percent(mine.mean)} ± {fmt.percent(mine.std)}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([caption, "", *header, *lines]) + "\n"


def accuracy_caption(summary: pd.DataFrame) -> str:
    """What the per-arch numbers are: runs, the mean, and what its interval is over."""
    common = ("Test accuracy (%) after the last epoch of each search's chosen configuration, on the final "
              "seeds (the same seeds for every arch and search). Mean: of each search's mean over its seeds; "
              "± std over every run; median and IQM (mean of the middle 50 %) over every run; rank 1 = best "
              "mean. SD search / seed: the variance split (one-way random effects).")
    if (summary.get("level", pd.Series(dtype=str)) == "searches").any():
        return common + (" 95 % CI: t interval over the searches (K − 1 degrees of freedom): it includes "
                         "which configuration a search happened to choose.")
    return common + (" 95 % CI: t interval over the seeds of one search per arch: it holds each arch's "
                     "configuration fixed and excludes tuning luck ('tune --repeats' includes it).")


def _sd(value: float) -> str:
    return fmt.DASH if pd.isna(value) else f"{100 * value:.2f}"


def report_html(
    *,
    results: pd.DataFrame,
    curves: pd.DataFrame,
    protocol: dict,
    studies: dict[str, optuna.Study],
    analysis: Analysis,
) -> str:
    """Build the self-contained HTML page.

    Args:
        results: Per-seed results, as for :func:`write_report`.
        curves: Per-epoch curves, as for :func:`write_report`.
        protocol: Protocol facts, as for :func:`write_report`.
        studies: Tuning studies by label, as for :func:`write_report`.
        analysis: :func:`analyse` of ``results`` and ``studies``.

    Returns:
        The whole HTML document.
    """
    archs, summary = analysis.archs, analysis.summary
    colours = fmt.arch_colours(archs=archs)
    facts, trials = provenance.tuning_facts(studies=studies)
    per_seed = plots.per_seed_figure(
        results=results, summary=summary, archs=archs, colours=colours
    )
    sections = [
        ("answer", "The answer", _answer(analysis=analysis)),
        ("accuracy", "Test accuracy per arch",
         _summary_table(summary=summary, results=results, archs=archs)
         + fmt.plot(plot_id="accuracy-by-arch", figure=per_seed)),
        ("pairwise", "Pairwise comparisons",
         pairwise.pairwise_html(comparisons=analysis.comparisons)),
        ("curves", "Learning curves", _curves(curves=curves, archs=archs, colours=colours)),
        ("runs", "Protocol and provenance of the runs",
         _runs(results=results, protocol=protocol, archs=archs)),
        ("tuning", "Tuning provenance",
         _tuning(studies=studies, facts=facts, trials=trials, results=results,
                 analysis=analysis, colours=colours)),
        ("budget", "Budget curves", _budget(analysis=analysis, colours=colours)),
        ("params", "Best parameters", _params_table(results=results, archs=archs)),
        ("caveats", "Caveats", caveats_html(results=results, analysis=analysis,
                                            protocol=protocol)),
    ]
    return fmt.page(sections=sections)


def _answer(*, analysis: Analysis) -> str:
    notes = "".join(fmt.note(text) for text in analysis.design_notes)
    text = notes + answer.answer_html(
        effects=analysis.effects, versus=analysis.versus, summary=analysis.summary
    )
    if analysis.recipes is None:
        return text
    return text + readings.recipes_html(pair=analysis.recipes, comparison=analysis.by_recipe)


def _summary_table(*, summary: pd.DataFrame, results: pd.DataFrame, archs: list[str]) -> str:
    by_arch = {row.arch: row for row in summary.itertuples(index=False)}
    runs = results.groupby("arch").size()
    rows = []
    for arch in archs:
        row = by_arch.get(arch)
        if row is None:
            rows.append([arch, *[fmt.DASH] * 6, f"0 of {runs[arch]}"])
            continue
        rows.append([
            arch, str(row.rank), f"{fmt.percent(row.mean)} ± {fmt.percent(row.std)}",
            fmt.interval(row.ci_low, row.ci_high), fmt.percent(row.median), fmt.percent(row.iqm),
            f"{_sd(row.sd_search)} / {_sd(row.sd_seed)}",
            answer.runs_text(runs=row.n, searches=row.n_searches) if row.n == runs[arch]
            else f"{row.n} of {runs[arch]}",
        ])
    headers = ["Arch", "Rank", "Mean ± std (%)", "95 % CI (%)", "Median (%)", "IQM (%)",
               "SD search / seed (points)", "Searches × seeds"]
    caption = fmt.note(accuracy_caption(summary) + " Searches × seeds: runs with a result (of all runs).",
                       css_class="ps-caption")
    return caption + fmt.table(headers=headers, rows=rows, numeric={1, 2, 3, 4, 5, 6, 7})


def _curves(*, curves: pd.DataFrame, archs: list[str], colours: dict) -> str:
    parts = []
    for column, figure, note in plots.curve_figures(
        curves=curves, archs=archs, colours=colours
    ):
        plot = fmt.plot(plot_id=f"curve-{column}", figure=figure) if figure else ""
        parts.append(f"<div>{plot}{fmt.note(note) if note else ''}</div>")
    return '<div class="ps-grid">\n' + "\n".join(parts) + "\n</div>"


def _runs(*, results: pd.DataFrame, protocol: dict, archs: list[str]) -> str:
    experiment, writer = provenance.protocol_tables(protocol=protocol)
    jobs, differing = provenance.run_provenance_table(results=results, archs=archs)
    agreement = "".join(fmt.note(text, css_class="ps-warning") for text in differing)
    return f"{experiment}\n<h3>Where the final jobs ran</h3>\n{jobs}\n{agreement}\n{writer}"


def _tuning(
    *, studies: dict, facts: dict, trials: pd.DataFrame, results: pd.DataFrame,
    analysis: Analysis, colours: dict,
) -> str:
    if not studies:
        return fmt.note("No tuning studies were given.")
    size = plots.size_figure(
        summary=analysis.summary, results=results, trials=trials, archs=analysis.archs,
        colours=colours,
    )
    ordered = [arch for arch in analysis.archs if arch in studies]
    ordered += sorted(set(studies) - set(ordered))
    return "\n".join([
        provenance.tuning_table(facts=facts, summary=analysis.summary, results=results,
                                       archs=ordered),
        "<h3>Search space, sampler and pruner, as stored with each study</h3>",
        provenance.settings_table(facts=facts, archs=ordered),
        fmt.plot(plot_id="accuracy-vs-parameters", figure=size),
        *(provenance.study_plots(label=label, study=studies[label])
          for label in ordered),
    ])


def _budget(*, analysis: Analysis, colours: dict) -> str:
    if analysis.budget is None:
        return fmt.note("No tuning trials were given.")
    plateau = stats.plateau_trials(analysis.budget)
    searches = analysis.budget.groupby("arch")["searches"].max()
    lines = "; ".join(f"{arch} from {plateau[arch]} trials" for arch in analysis.archs if arch in plateau)
    caption = fmt.note(
        "Expected best validation accuracy of a search of n trials (Tang et al. 2020's unbiased "
        "estimator over each search's finished trials; valid for random sampling, which the study files "
        "ship), the mean over an arch's searches with a 95 % t band over them (no band for one search). "
        "A pruned trial counts with the last validation accuracy it reported: a lower bound of what it "
        "would have reached. Where the curve stops rising (within "
        f"{100 * stats.PLATEAU:.1f} points of its value at the largest budget): {lines}. Searches per "
        f"arch: {', '.join(f'{arch} {searches[arch]}' for arch in analysis.archs if arch in searches)}.",
        css_class="ps-caption")
    figure = plots.budget_figure(budget=analysis.budget, archs=analysis.archs, colours=colours)
    return caption + fmt.plot(plot_id="budget-curves", figure=figure)


def _params_table(*, results: pd.DataFrame, archs: list[str]) -> str:
    first_runs = results.sort_values("seed").groupby("arch").first()
    params = {arch: json.loads(first_runs.loc[arch, "params"]) for arch in archs}
    names = list(dict.fromkeys(name for arch in archs for name in params[arch]))
    rows = [[name, *(fmt.plain(params[arch].get(name, fmt.DASH)) for arch in archs)]
            for name in names]
    return fmt.table(headers=["Hyperparameter", *archs], rows=rows,
                     numeric=range(1, len(archs) + 1), css_class="ps-transposed")


