"""The report's figures: one template, colour keys, the 2×2 design drawn, numbers apart from drawing."""

import json
import re

import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import label_tuned

from pairsearch.report import design_plots, forests, formatting, paired, plots, tuning_plots
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


ALL_ARCHS = ["base", "base_aux", "sep", "sep_aux", "joint", "split", "digits"]
MIN_MARK_CONTRAST = 3.0  # WCAG 2.1 non-text contrast (1.4.11)


def _arch_figures() -> dict[str, dict]:
    """The figures drawn in arch colours, over seven archs (the whole palette)."""
    colours = formatting.arch_colours(archs=ALL_ARCHS)
    rng = np.random.default_rng(3)
    summary = pd.DataFrame({"arch": ALL_ARCHS, "mean": 0.9, "ci_low": 0.88, "ci_high": 0.92})
    finals = pd.DataFrame({"arch": ALL_ARCHS, "search": 0, "n_parameters": 50_000.0, "final_mean": 0.9})
    trials = pd.DataFrame({"arch": np.repeat(ALL_ARCHS, 20), "n_parameters": rng.uniform(2e4, 3e6, 140),
                           "value": rng.uniform(0.6, 0.95, 140)})
    budget = pd.DataFrame([{"arch": arch, "trials": n, "expected_best": 0.9, "ci_low": 0.89, "ci_high": 0.91}
                           for arch in ALL_ARCHS for n in (1, 2, 3)])
    return {
        "accuracy-vs-parameters": plots.size_figure(summary=summary, finals=finals, trials=trials,
                                                    archs=ALL_ARCHS, colours=colours).to_plotly_json(),
        "budget-curves": plots.budget_figure(budget=budget, archs=ALL_ARCHS, colours=colours).to_plotly_json(),
    }


def test_every_mark_reaches_3_to_1_contrast_on_white(tmp_path):
    """Every colour a mark is drawn in, composited on white at its opacity, is at least 3:1
    against the white background; a band's faint fill is read by its edge line, which counts."""
    facts = read_studies(studies={"base": pruning_study()})
    page = write_report(out_dir=tmp_path, results=design_results(), curves=_curves(),
                        protocol={}, studies=facts)["report_html"].read_text()
    figures = {**_figures(page), **_arch_figures()}
    assert {"accuracy-by-arch", "curve-test_accuracy", "history-base", "budget-curves",
            "accuracy-vs-parameters", "effects-by-run", "interaction"} <= set(figures)
    low = {}
    for name, figure in figures.items():
        for trace in figure["data"]:
            for colour, opacity in _mark_colours(trace):
                ratio = _contrast(_on_white(colour, opacity))
                if ratio < MIN_MARK_CONTRAST:
                    low[f"{name}: {trace.get('name')}: {colour} × {opacity}"] = round(ratio, 2)
    assert low == {}
    assert all(_contrast(colour) >= MIN_MARK_CONTRAST for colour in formatting.ARCH_PALETTE)
    assert len(set(formatting.arch_colours(archs=ALL_ARCHS).values())) == len(ALL_ARCHS)


def test_no_figure_lets_plotly_draw_small_log_axis_labels():
    """Plotly draws a log axis's labels between the powers of ten at three quarters of the tick
    size (under 13 px): every log axis has its own ticks, each labelled at full size."""
    figure = _arch_figures()["accuracy-vs-parameters"]
    log_axes = [axis for key, axis in figure["layout"].items() if key.startswith("xaxis") and axis.get("type") == "log"]
    assert log_axes
    for axis in log_axes:
        assert len(axis["tickvals"]) == len(axis["ticktext"]) >= 2
        assert axis.get("minor", {}).get("showticklabels") is not True


def test_log_ticks_are_powers_of_ten_or_one_two_five_steps_inside_the_range():
    assert plots.log_ticks(low=1.5e4, high=1.2e7) == [1e5, 1e6, 1e7]
    assert plots.log_ticks(low=3e4, high=7e5) == [5e4, 1e5, 2e5, 5e5]
    assert plots.log_ticks(low=3e4, high=4e4) == [3e4, 4e4]


def _mark_colours(trace: dict) -> list[tuple[str, float]]:
    """(colour, opacity) of each part of a trace that carries data: markers, lines, error bars,
    text; a fill only where no edge line is drawn round it. Outlines round a marker are not
    counted (the marker's own colour is)."""
    opacity = trace.get("opacity", 1.0)
    marker, line = trace.get("marker", {}), trace.get("line", {})
    found = []
    if "color" in marker:
        colours = marker["color"] if isinstance(marker["color"], list) else [marker["color"]]
        found += [(colour, opacity * marker.get("opacity", 1.0)) for colour in colours]
    edge = line.get("width", 2) > 0 and "color" in line
    if edge:
        found.append((line["color"], opacity))
    if "fillcolor" in trace and not edge:
        found.append((trace["fillcolor"], opacity))
    found += [(trace[bar]["color"], opacity) for bar in ("error_x", "error_y") if "color" in trace.get(bar, {})]
    if "color" in trace.get("textfont", {}):
        found.append((trace["textfont"]["color"], opacity))
    return found


def _on_white(colour: str, opacity: float) -> str:
    """``colour`` (``#rrggbb`` or ``rgba(r, g, b, a)``) at ``opacity`` over white, as ``#rrggbb``."""
    if colour.startswith("#"):
        channels, alpha = [int(colour[i:i + 2], 16) for i in (1, 3, 5)], 1.0
    else:
        numbers = [float(part) for part in re.findall(r"[\d.]+", colour)]
        channels, alpha = numbers[:3], numbers[3] if len(numbers) == 4 else 1.0
    alpha *= opacity
    return "#" + "".join(f"{round(alpha * channel + (1 - alpha) * 255):02x}" for channel in channels)


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
    assert "failed" not in figure.layout.title.subtitle.text
    with_failures = tuning_plots.history_figure(label="base", finished=facts.finished, failed=2)
    assert "2 failed, not drawn" in with_failures.layout.title.subtitle.text  # counted, though not drawn


def test_every_two_arch_colours_stay_apart_for_every_eye():
    """CIE76 distance of every pair of arch colours: ≥ 25 as drawn, ≥ 10 as a deutan or protan eye
    sees them (Machado et al.'s matrices at full severity)."""
    import itertools
    import math

    def distances(colours: list[str]) -> list[float]:
        return [math.dist(_lab(a), _lab(b)) for a, b in itertools.combinations(colours, 2)]

    palette = list(formatting.ARCH_PALETTE)
    assert min(distances(palette)) >= 25
    for matrix in CVD_MATRICES.values():
        assert min(distances([_seen(colour, matrix) for colour in palette])) >= 10


CVD_MATRICES = {  # linear RGB → linear RGB as seen with deuteranopia / protanopia (Machado 2009, severity 1)
    "deutan": ((0.367, 0.861, -0.228), (0.280, 0.673, 0.047), (-0.012, 0.043, 0.969)),
    "protan": ((0.152, 1.053, -0.205), (0.115, 0.786, 0.099), (-0.004, -0.048, 1.052)),
}


def _linear(hex_colour: str) -> list[float]:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    return [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]


def _seen(hex_colour: str, matrix) -> str:
    linear = _linear(hex_colour)
    seen = [min(1.0, max(0.0, sum(m * c for m, c in zip(row, linear, strict=True)))) for row in matrix]
    encoded = [12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055 for c in seen]
    return "#" + "".join(f"{round(c * 255):02X}" for c in encoded)


def _lab(hex_colour: str) -> tuple[float, float, float]:
    """CIE L*a*b* (D65) of an sRGB colour."""
    r, g, b = _linear(hex_colour)
    x, y, z = ((0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047, 0.2126 * r + 0.7152 * g + 0.0722 * b,
               (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883)
    f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in (x, y, z)]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def _contrast(hex_colour: str) -> float:
    """WCAG contrast ratio of a colour against white (WCAG's 0.03928 and sRGB's 0.04045 cut-offs
    agree on every 8-bit channel value: none lies between them)."""
    linear = _linear(hex_colour)
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 1.05 / (luminance + 0.05)


def test_the_line_at_zero_never_crosses_a_forest_row_label(analysis):
    """Each panel's dashed line at 0 is broken where a row's label is written (labels sit inside
    the plot, where the line would run through their letters)."""
    figure = design_plots.run_effects_figure(run_effects=analysis.run_effects, effects=analysis.effects)
    layout = figure.to_plotly_json()["layout"]
    zero_lines = [trace for trace in figure.data if trace.mode == "lines" and trace.line.dash == forests.ZERO_LINE["dash"]]
    assert zero_lines
    for trace in zero_lines:
        axis = layout["yaxis" + trace.yaxis[1:]]
        spans = [(tick - (text.count("<br>") + 1) / 2, tick + (text.count("<br>") + 1) / 2)
                 for tick, text in zip(axis["tickvals"], axis["ticktext"], strict=True)]
        segments = _segments(list(trace.y))
        assert sum(high - low for low, high in segments) > 0.5 * axis["range"][0]  # still a line
        for low, high in segments:
            assert all(high <= top + 1e-9 or low >= bottom - 1e-9 for top, bottom in spans), (low, high)


def _segments(y: list) -> list[tuple[float, float]]:
    """The (start, end) of each segment of a line whose points are separated by None."""
    found, points = [], []
    for value in [*y, None]:
        if value is None:
            if points:
                found.append((min(points), max(points)))
            points = []
        else:
            points.append(value)
    return found
