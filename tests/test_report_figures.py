"""The report's figures: one template, colour keys, the 2×2 design drawn, numbers apart from drawing."""

import json
import re

import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import label_tuned

from pairsearch.report import design_plots, formatting, paired, tuning_plots
from pairsearch.report.analysis import analyse
from pairsearch.report.studies import read_studies
from pairsearch.report.writer import write_report

DESIGN = {"base": (1, 0), "base_aux": (1, 1), "sep": (0, 0), "sep_aux": (0, 1), "joint": None}


def design_results(*, searches: int = 3, seeds: int = 5) -> pd.DataFrame:
    """The 2×2 four plus joint over several searches: sharing +2, aux +5 points, joint 12 below."""
    rng = np.random.default_rng(7)
    rows = []
    for search in range(searches):
        search_level = 0.85 + 0.005 * rng.standard_normal()
        for seed in range(seeds):
            for arch, cell in DESIGN.items():
                gain = -0.12 if cell is None else 0.02 * cell[0] + 0.05 * cell[1]
                rows.append({"arch": arch, "search": search, "seed": 1000 + seed, "status": "completed",
                             "test_accuracy": search_level + gain + 0.004 * rng.standard_normal(),
                             "seconds": 1.0, "n_parameters": 1000, "params": "{}"})
    return pd.DataFrame(rows)


def _curves() -> pd.DataFrame:
    results = design_results()
    return results[["arch", "search", "seed"]].assign(
        epoch=1, train_loss=0.5, train_accuracy=0.9, test_accuracy=results["test_accuracy"], digit_accuracy=np.nan)


@pytest.fixture(scope="module")
def analysis():
    return analyse(results=design_results())


def test_each_cell_is_drawn_with_the_summary_numbers(analysis):
    cells = analysis.cells.set_index("arch")
    summary = analysis.summary.set_index("arch")
    assert set(cells.index) == {"base", "base_aux", "sep", "sep_aux"}
    for arch, row in cells.iterrows():
        assert (row["shared_weights"], row["aux_loss"]) == tuple(bool(level) for level in DESIGN[arch])
        assert row[["mean", "ci_low", "ci_high"]].tolist() == summary.loc[arch, ["mean", "ci_low", "ci_high"]].tolist()
    figure = design_plots.interaction_figure(cells=analysis.cells)
    assert [trace.name for trace in figure.data] == ["without the auxiliary loss", "with the auxiliary loss"]
    without = figure.data[0]
    assert list(without.text) == ["sep", "base"]  # separate, then shared weights
    np.testing.assert_allclose(without.y, 100 * cells.loc[["sep", "base"], "mean"])


def test_each_effect_run_by_run_averages_to_the_effects_table(analysis):
    runs = analysis.run_effects
    assert len(runs) == 3 * 15  # weight sharing, aux loss (on average) and the interaction × runs
    effects = analysis.effects.set_index(["factor", "given"])
    for (factor, given), values in runs.groupby(["factor", "given"]):
        per_search = values.groupby("search")["difference"].mean()
        assert per_search.mean() == pytest.approx(effects.loc[(factor, given), "mean_diff"])
    figure = design_plots.run_effects_figure(run_effects=runs, effects=analysis.effects)
    dots = [trace for trace in figure.data if trace.legendgroup == "runs"]
    assert sum(len(trace.x) for trace in dots) == 45


def test_every_colour_is_explained_and_effects_do_not_share_an_axis_with_archs(tmp_path):
    page = write_report(out_dir=tmp_path, results=design_results(), curves=_curves(),
        protocol={}, studies={})["report_html"].read_text()
    figures = _figures(page)
    effects, versus = figures["answer-forest"], figures["versus-forest"]
    assert _row_labels(effects) and _row_labels(versus)
    assert set(_row_labels(effects)).isdisjoint(_row_labels(versus))
    for name in ("answer-forest", "versus-forest", "pairwise-forest", "effects-by-run"):
        legend = {trace["name"] for trace in figures[name]["data"] if trace.get("showlegend", True)}
        # Every mark's colour (the dashed lines at 0 are not marks).
        colours = {trace["marker"]["color"] for trace in figures[name]["data"] if "marker" in trace}
        named = {paired.VERDICT_COLOURS[v] for v, text in paired.VERDICT_LEGEND.items()
                 if any(text in entry for entry in legend)}
        assert colours - {design_plots.RUN_DOT_COLOUR} <= named, name


def test_every_figure_uses_the_paper_template_with_legible_type(tmp_path):
    page = write_report(out_dir=tmp_path, results=design_results(), curves=_curves(),
        protocol={}, studies={})["report_html"].read_text()
    figures = _figures(page)
    assert len(figures) >= 8
    for name, figure in figures.items():
        layout = figure["layout"]["template"]["layout"]
        assert layout["plot_bgcolor"] == layout["paper_bgcolor"] == "white", name
        assert layout["font"]["size"] >= 13
        assert min(layout[axis]["tickfont"]["size"] for axis in ("xaxis", "yaxis")) >= 13
    assert formatting.FONT_PX >= 13


def _row_labels(figure: dict) -> list[str]:
    """A forest plot's row labels, over all its panels."""
    return [text for key, axis in figure["layout"].items() if key.startswith("yaxis")
            for text in axis.get("ticktext", [])]


def _figures(page: str) -> dict[str, dict]:
    """Plot id → its figure (data and layout) as the page hands it to plotly.js."""
    found = {}
    for plot_id, data, layout in re.findall(
        r'<div class="ps-plot" id="ps-plot-([^"]+)">.*?Plotly\.newPlot\(\s*"[^"]+",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{"displaylogo"',
        page, flags=re.DOTALL,
    ):
        found[plot_id] = {"data": json.loads(data), "layout": json.loads(layout)}
    return found


def pruning_study() -> optuna.Study:
    """Six trials: every other one pruned after two reports, one pruned before any."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        trial.suggest_int("hidden", 16, 256)
        if trial.number == 5:
            raise optuna.TrialPruned()
        for step in (1, 2):
            trial.report(0.5 + 0.1 * step + lr, step)
        if trial.number % 2:
            raise optuna.TrialPruned()
        return 0.9 + lr

    study.optimize(objective, n_trials=6)
    return label_tuned(study, arch="base")


def test_the_tuning_history_shows_every_finished_trial_and_marks_the_pruned():
    facts = read_studies(studies={"base": pruning_study()})["base"]
    assert facts.finished["state"].value_counts().to_dict() == {"complete": 3, "pruned": 3}
    pruned = facts.finished[facts.finished["state"] == "pruned"].set_index("number")["value"]
    assert pruned.loc[1] > 0.7  # its last report (step 2), not its first
    assert np.isnan(pruned.loc[5])  # pruned before it reported: nothing to draw
    figure = tuning_plots.history_figure(label="base", finished=facts.finished.dropna(subset=["value"]))
    names = [trace.name for trace in figure.data]
    assert names == ["complete trial: 3", "pruned trial (last reported): 2", "best complete so far"]
    assert figure.data[1].marker.symbol != figure.data[0].marker.symbol
    for trace in figure.data[:2]:
        assert _contrast(trace.marker.color) >= 3.0
    html_text = tuning_plots.study_plots(label="base", study=facts)
    assert "from the 3 complete trials" in html_text


def _contrast(hex_colour: str) -> float:
    """WCAG contrast ratio of a colour against white."""
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 1.05 / (luminance + 0.05)
