"""The 2×2 design drawn: the interaction plot of the four cells, and each effect run by run
(in panels, as every forest plot).

Render only: the numbers are the analysis's (:attr:`pairsearch.report.analysis.Analysis.cells` and
``run_effects``); the effects' means and CIs are those of the effects table.
"""

from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from pairsearch.report import formatting as fmt
from pairsearch.report.forests import Panels, Place
from pairsearch.report.paired import VERDICT_COLOURS, VERDICT_LEGEND, effect_label, effect_name

# Aux loss without / with: dark enough on white (≥ 4.5:1) and told apart by marker and dash too.
AUX_LINES = {False: ("without the auxiliary loss", "#0b6e99", "circle", "solid"),
             True: ("with the auxiliary loss", "#b35900", "square", "dash")}
SHARING_TICKS = {False: "separate weights", True: "shared weights"}
AUX_OFFSET = 0.03  # the two lines side by side, so their bars do not hide each other
RUN_DOT_COLOUR = "#5b6673"  # 5.8:1 on white; solid, a white rim keeps overlapping dots apart
# Below each effect's label, in lines of text: its runs' dots, then its mean and CI.
RUN_BAND_LINES = 2.6
DOT_SPREAD_LINES = 1.1
DOTS_AT = -0.45  # the dots' middle, from the band's
MEAN_AT = 0.8


def interaction_figure(*, cells: pd.DataFrame) -> go.Figure:
    """Mean test accuracy of each cell: weights on x, one line per auxiliary loss, 95 % CIs."""
    figure = go.Figure()
    for aux, (name, colour, symbol, dash) in AUX_LINES.items():
        line = cells[cells["aux_loss"] == aux].sort_values("shared_weights")
        if line.empty:
            continue
        offset = AUX_OFFSET if aux else -AUX_OFFSET
        figure.add_trace(go.Scatter(
            x=[int(shared) + offset for shared in line["shared_weights"]], y=100 * line["mean"],
            mode="lines+markers+text", name=name, text=list(line["arch"]), textposition="middle right",
            textfont={"size": 13, "color": colour},
            line={"color": colour, "dash": dash, "width": 2}, marker={"color": colour, "symbol": symbol, "size": 10},
            error_y={"type": "data", "symmetric": False, "color": colour, "thickness": 2,
                     "array": 100 * (line["ci_high"] - line["mean"]),
                     "arrayminus": 100 * (line["mean"] - line["ci_low"])},
            customdata=np.column_stack([line["arch"], [fmt.interval(lo, hi) for lo, hi in
                                                       zip(line["ci_low"], line["ci_high"], strict=True)]]),
            hovertemplate="%{customdata[0]}: %{y:.2f} % %{customdata[1]}<extra></extra>",
        ))
    figure.update_layout(
        title={"text": "The 2×2 design: mean test accuracy of each cell, with 95 % CIs",
               "subtitle": {"text": "parallel lines: the two effects add up; the interaction is the "
                                    "difference of their slopes"}},
        xaxis={"tickvals": [0, 1], "ticktext": [SHARING_TICKS[False], SHARING_TICKS[True]],
               "range": [-0.35, 1.45], "title": "trunk weights"},
        yaxis_title="test accuracy (%)",
    )
    return figure


def run_effects_figure(*, run_effects: pd.DataFrame, effects: pd.DataFrame) -> go.Figure:
    """Each average effect and the interaction per (search, seed) run, beside its mean and CI, in
    panels by the axis the analysis chose for each effect (:mod:`pairsearch.report.forests`)."""
    axis_of = run_effects.groupby(["factor", "given"])[["axis", "axis_low", "axis_high"]].first()
    rows = [row for row in effects.itertuples(index=False) if (row.factor, row.given) in axis_of.index]
    panels = Panels(labels=[effect_label(row) for row in rows],
                    axes=[int(axis_of.loc[(row.factor, row.given), "axis"]) for row in rows],
                    ranges=[tuple(axis_of.loc[(row.factor, row.given), ["axis_low", "axis_high"]]) for row in rows],
                    marker_lines=RUN_BAND_LINES)
    figure = panels.figure()
    shown: set[str] = set()
    for index, (row, place) in enumerate(zip(rows, panels.places, strict=True)):
        runs = run_effects[(run_effects["factor"] == row.factor) & (run_effects["given"] == row.given)]
        figure.add_trace(_run_dots(runs=runs, place=place, first=index == 0))
        figure.add_trace(_mean_and_ci(row=row, place=place, first=row.verdict not in shown))
        shown.add(row.verdict)
    return panels.draw(figure, title="Each effect run by run, beside its mean and 95 % CI",
                       subtitle="dots: one (search, seed) run's contrast; marker and bar: the effects "
                                "table's mean and CI")


def _run_dots(*, runs: pd.DataFrame, place: Place, first: bool) -> go.Scatter:
    spread = np.linspace(-DOT_SPREAD_LINES / 2, DOT_SPREAD_LINES / 2, max(len(runs), 2))[: len(runs)]
    return go.Scatter(
        x=100 * runs["difference"], y=place.y + DOTS_AT + spread, xaxis=place.xaxis, yaxis=place.yaxis,
        mode="markers",
        marker={"color": RUN_DOT_COLOUR, "size": 6, "line": {"color": "white", "width": 1}}, customdata=runs[["search", "seed"]],
        name="one (search, seed) run", legendgroup="runs", showlegend=first,
        hovertemplate="search %{customdata[0]}, seed %{customdata[1]}: %{x:+.2f} points<extra></extra>",
    )


def _mean_and_ci(*, row, place: Place, first: bool) -> go.Scatter:
    colour = VERDICT_COLOURS[row.verdict]
    return go.Scatter(
        x=[100 * row.mean_diff], y=[place.y + MEAN_AT], xaxis=place.xaxis, yaxis=place.yaxis, mode="markers",
        marker={"color": colour, "size": 11, "symbol": "diamond", "line": {"color": fmt.INK, "width": 1}},
        error_x={"type": "data", "symmetric": False, "color": colour, "thickness": 2.5,
                 "array": [100 * (row.ci_high - row.mean_diff)], "arrayminus": [100 * (row.mean_diff - row.ci_low)]},
        name=f"mean, {VERDICT_LEGEND[row.verdict]}", legendgroup=row.verdict, showlegend=first,
        hovertemplate=f"{escape(effect_name(row))}: %{{x:+.2f}} points "
        f"{fmt.interval(row.ci_low, row.ci_high, signed=True)}<extra></extra>",
    )
