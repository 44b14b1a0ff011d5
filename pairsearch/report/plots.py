"""The report's plots of the final runs: per-seed accuracy, learning curves, accuracy vs size.

Accuracies are plotted in percent; each title says what is shown, each subtitle how.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from pairsearch.report import formatting as fmt

JITTER_WIDTH = 0.36  # of the one unit between two archs on the x axis
MEAN_OFFSET = 0.32
# Dots in the arch's own colour, solid (no transparency, which would fade them below 3:1 on
# white): a white rim keeps overlapping run dots apart, open circles the many tuning trials.
RUN_DOT = {"size": 7, "line": {"color": "white", "width": 1}}
TRIAL_DOT = {"size": 6, "symbol": "circle-open", "line": {"width": 1}}
BAND_ALPHA = 0.18  # a band's fill: a faint aid; its dotted edge, in the arch's colour, shows it
BAND_EDGE = {"width": 1, "dash": "dot"}
BAND = "mean over every run (searches × seeds); band: ±1 std over the runs"
# column, title, subtitle, y axis, scale, note for archs that did not record the column; each y
# axis title shorter than the plot is tall, or it runs up into the subtitle
CURVES = [
    ("test_accuracy", "Test accuracy per epoch", BAND, "test accuracy (%)", 100.0,
     "Not recorded for {}."),
    ("train_accuracy", "Training accuracy per epoch", BAND, "training accuracy (%)", 100.0,
     "Not recorded for {}."),
    ("train_loss", "Training loss per epoch",
     BAND + "; loss: mean over an epoch's batches, aux archs add their digit losses",
     "training loss", 1.0, "Not recorded for {}."),
    ("digit_accuracy", "Digit accuracy on the test pairs per epoch", BAND,
     "digit accuracy (%)", 100.0, "No digit predictions: {}."),
]


def per_seed_figure(
    *, runs: pd.DataFrame, summary: pd.DataFrame, archs: Sequence[str], colours: Mapping
) -> go.Figure:
    """Each run's test accuracy as a dot, and beside it the arch's mean with its 95 % CI.

    ``runs`` are the results with a ``search`` column (:attr:`pairsearch.report.analysis.Analysis.runs`).
    """
    figure = go.Figure()
    stats_by_arch = summary.set_index("arch")
    for position, arch in enumerate(archs):
        shown = runs[(runs["arch"] == arch) & runs["test_accuracy"].notna()]
        shown = shown.sort_values(["search", "seed"])
        spread = np.linspace(-JITTER_WIDTH / 2, JITTER_WIDTH / 2, max(len(shown), 2))[: len(shown)]
        figure.add_trace(
            go.Scatter(
                x=position - 0.1 + spread, y=100 * shown["test_accuracy"], mode="markers",
                marker={**RUN_DOT, "color": colours[arch]},
                customdata=shown[["search", "seed"]],
                name=arch, showlegend=False,
                hovertemplate=f"search %{{customdata[0]}}, seed %{{customdata[1]}}: %{{y:.2f}} %"
                              f"<extra>{escape(arch)}</extra>",
            )
        )
        if arch not in stats_by_arch.index:
            continue
        row = stats_by_arch.loc[arch]
        figure.add_trace(
            go.Scatter(
                x=[position + MEAN_OFFSET], y=[100 * row["mean"]], mode="markers",
                marker={"color": colours[arch], "size": 11, "symbol": "diamond",
                        "line": {"color": "#1f2933", "width": 1}},
                error_y={"type": "data", "symmetric": False, "color": "#1f2933", "thickness": 2,
                         "array": [100 * (row["ci_high"] - row["mean"])],
                         "arrayminus": [100 * (row["mean"] - row["ci_low"])]},
                showlegend=False,
                hovertemplate=f"mean %{{y:.2f}} % {fmt.interval(row['ci_low'], row['ci_high'])}"
                f"<extra>{escape(arch)}</extra>",
            )
        )
    figure.update_layout(
        title={"text": "Test accuracy of every run, and each arch's mean with its 95 % CI",
               "subtitle": {"text": "dots: one run per (search, seed); diamond and bar: mean of the searches' "
                                    "means and its t interval (over the seeds with one search)"}},
        xaxis={"tickvals": list(range(len(archs))), "ticktext": list(archs),
               "range": [-0.6, len(archs) - 0.4]},
        yaxis_title="test accuracy (%)",
    )
    return figure


def curve_figures(
    *, curve_means: Mapping[str, pd.DataFrame], epochs: int, archs: Sequence[str], colours: Mapping
) -> list[tuple[str, go.Figure | None, str]]:
    """One figure per curve: (id, figure or None when nothing was recorded, note).

    Args:
        curve_means: Per recorded curve, its mean and std per (arch, epoch)
            (:attr:`pairsearch.report.analysis.Analysis.curve_means`).
        epochs: How many distinct epochs there are (for the axis ticks).
        archs: The archs, in the report's order.
        colours: Arch → colour.
    """
    figures = []
    for column, title, subtitle, axis, scale, missing_note in CURVES:
        if column not in curve_means:
            figures.append((column, None, f"{title}: not recorded for any arch."))
            continue
        per_epoch = curve_means[column]
        figure = go.Figure()
        for arch in archs:
            if arch in per_epoch.index.get_level_values("arch"):
                _add_mean_and_band(figure=figure, arch=arch, epochs=per_epoch.loc[arch],
                                   colour=colours[arch], scale=scale)
        figure.update_layout(
            title={"text": title, "subtitle": {"text": subtitle}},
            xaxis_title="epoch",
            xaxis_dtick=max(1, math.ceil(epochs / 12)),  # whole epochs only
            yaxis_title=axis,
        )
        missing = [arch for arch in archs if arch not in per_epoch.index.get_level_values("arch")]
        note = missing_note.format(", ".join(missing)) if missing else ""
        figures.append((column, figure, note))
    return figures


def size_figure(
    *, summary: pd.DataFrame, finals: pd.DataFrame, trials: pd.DataFrame, archs: Sequence[str],
    colours: Mapping,
) -> go.Figure:
    """Accuracy against parameter count: tuning trials, and each search's final configuration.

    ``finals`` has one row per tuning study (:attr:`pairsearch.report.analysis.Analysis.tuning`):
    its arch, search, mean final test accuracy and parameter count. ``trials`` has one row per
    complete tuning trial with columns ``arch, n_parameters, value`` (validation accuracy).
    """
    figure = go.Figure()
    stats_by_arch = summary.set_index("arch")
    for arch in archs:
        tried = trials[(trials["arch"] == arch) & trials["n_parameters"].notna()]
        if not tried.empty:
            figure.add_trace(
                go.Scatter(
                    x=tried["n_parameters"], y=100 * tried["value"], mode="markers",
                    marker={**TRIAL_DOT, "color": colours[arch]},
                    name=f"{arch} tuning trials", legendgroup=arch, showlegend=False,
                    hovertemplate="%{x:,} parameters: %{y:.2f} % validation"
                    f"<extra>{escape(arch)}</extra>",
                )
            )
        searches = finals[(finals["arch"] == arch) & finals["n_parameters"].notna() & finals["final_mean"].notna()]
        if arch not in stats_by_arch.index or searches.empty:
            continue
        row = stats_by_arch.loc[arch]
        one = len(searches) == 1  # the arch's CI is that search's; with several, each its own mean
        figure.add_trace(
            go.Scatter(
                x=list(searches["n_parameters"]), y=list(100 * searches["final_mean"]), mode="markers",
                name=arch, legendgroup=arch,
                marker={"color": colours[arch], "size": 12, "symbol": "diamond",
                        "line": {"color": "#1f2933", "width": 1}},
                error_y={"type": "data", "symmetric": False, "color": colours[arch],
                         "array": [100 * (row["ci_high"] - row["mean"])],
                         "arrayminus": [100 * (row["mean"] - row["ci_low"])]} if one else None,
                customdata=list(searches["search"]),
                hovertemplate="search %{customdata}: %{x:,} parameters, %{y:.2f} % test (mean)"
                f"<extra>{escape(arch)}</extra>",
            )
        )
    figure.update_layout(
        title={"text": "Accuracy against parameter count",
               "subtitle": {"text": "diamonds: each search's final configuration, its mean test accuracy "
                                    "(with its 95 % CI over seeds where the arch has one search); open "
                                    "circles: complete tuning trials, their validation accuracy"}},
        xaxis={"type": "log", "title": "parameters (log scale)",
               **_log_ticks(pd.concat([trials["n_parameters"], finals["n_parameters"]]))},
        yaxis_title="accuracy (%)",
    )
    return figure


def log_ticks(*, low: float, high: float) -> list[float]:
    """Tick values of a log axis from ``low`` to ``high``: the powers of ten in it, and 2 and 5
    times them too where fewer than three powers of ten fall in it; ``low`` and ``high`` themselves
    where fewer than two of those do."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    powers = [10.0 ** exponent for exponent in range(first, last + 1)]
    inside = [value for value in powers if low <= value <= high]
    if len(inside) >= 3:
        return inside
    steps = [step * power for power in powers for step in (1, 2, 5) if low <= step * power <= high]
    return steps if len(steps) >= 2 else sorted({low, high})


def _log_ticks(values: pd.Series) -> dict:
    """Plotly labels the ticks between powers of ten at three quarters of the tick size: give it
    every tick, each labelled at full size (none where there are no values)."""
    values = values.dropna()
    values = values[values > 0]
    if values.empty:
        return {}
    ticks = log_ticks(low=float(values.min()), high=float(values.max()))
    return {"tickvals": ticks, "ticktext": [fmt.count(value) for value in ticks]}


def _add_mean_and_band(
    *, figure: go.Figure, arch: str, epochs: pd.DataFrame, colour: str, scale: float
) -> None:
    x = epochs.index.to_numpy()
    mean = scale * epochs["mean"].to_numpy()
    std = scale * epochs["std"].fillna(0.0).to_numpy()  # one seed: no spread to draw
    figure.add_trace(
        go.Scatter(
            x=np.concatenate([x, x[::-1]]),
            y=np.concatenate([mean + std, (mean - std)[::-1]]),
            fill="toself",
            fillcolor=fmt.with_alpha(colour, BAND_ALPHA),
            mode="lines",
            line={**BAND_EDGE, "color": colour},
            hoverinfo="skip",
            showlegend=False,
            legendgroup=arch,
        )
    )
    figure.add_trace(
        go.Scatter(
            x=x, y=mean, name=arch, mode="lines+markers", line_color=colour, legendgroup=arch
        )
    )


def budget_figure(*, budget: pd.DataFrame, archs: Sequence[str], colours: Mapping) -> go.Figure:
    """Expected best validation accuracy against the trial budget, per arch, with its band."""
    figure = go.Figure()
    for arch in archs:
        curve = budget[budget["arch"] == arch]
        if curve.empty:
            continue
        if curve["ci_low"].notna().any():
            figure.add_trace(go.Scatter(
                x=[*curve["trials"], *curve["trials"][::-1]],
                y=[*(100 * curve["ci_high"]), *(100 * curve["ci_low"])[::-1]],
                fill="toself", fillcolor=fmt.with_alpha(colours[arch], BAND_ALPHA),
                line={**BAND_EDGE, "color": colours[arch]},
                hoverinfo="skip", showlegend=False))
        figure.add_trace(go.Scatter(
            x=curve["trials"], y=100 * curve["expected_best"], mode="lines", name=arch,
            line={"color": colours[arch], "width": 2},
            hovertemplate=f"{escape(arch)}, %{{x}} trials: %{{y:.2f}} %<extra></extra>"))
    figure.update_layout(
        title={"text": "Expected best validation accuracy against the trial budget",
               "subtitle": {"text": "mean over each arch's searches; band: 95 % t interval over them"}},
        # Short: a y title longer than the plot is tall runs up into the subtitle.
        xaxis_title="trials per search", yaxis_title="validation accuracy (%)")
    return figure
