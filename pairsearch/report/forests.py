"""Forest plots in panels: one per x axis the analysis chose (:mod:`pairsearch.report.axes`).

Each panel has its own x range and a dashed line at 0 (broken at each row's label, so it never
runs through the letters), so a difference of half a point is as
readable as one of twelve; the panels keep the table's order as far as they can, and each says
its range. Every row's label sits above its marker, inside the plot, so the data take the
plot's whole width on a phone: the figure grows in height with its rows, never in width.
Render only: the rows, their verdicts and axes are the analysis's.
"""

from __future__ import annotations

import html
import math
import string
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from pairsearch.report import formatting as fmt
from pairsearch.report.paired import VERDICT_COLOURS, VERDICT_LEGEND, VERDICT_SYMBOLS

LINE_PX = 18  # one line of a row's label (13 px type); y coordinates count these lines
ROW_GAP_LINES = 0.5  # between a row's marker and the next row's label
PANEL_TITLE_PX = 30  # above each panel, when there are several
PANEL_GAP_PX = 36  # below a panel that is not the last: its x tick labels
FRAME_PX = 190  # the figure's title, subtitle, last x axis title and the legend below it
X_TITLE = "difference of test accuracy (percentage points)"
LABEL_HALO = "auto"  # plotly's white edge round each label, against the grid lines
RANGE_MARGIN = 0.06  # of a panel's range, on each side
ZERO_LINE = {"color": "#52606d", "dash": "dash", "width": 1.5}


@dataclass(frozen=True)
class Place:
    """Where one row is drawn: its panel's axes (``x``, ``y`` or ``x2``, ``y2``, …) and the y of
    its marker line."""

    xaxis: str
    yaxis: str
    y: float


class Panels:
    """The panels of one forest plot and where each row goes.

    Args:
        labels: Each row's label (``<br>`` breaks lines), in the table's order.
        axes: Each row's axis number (the analysis's ``axis`` column).
        ranges: Each row's axis range (the analysis's ``axis_low``, ``axis_high``), in fractions.
        marker_lines: Lines of height each row's marks take below its label.
    """

    def __init__(self, *, labels: Sequence[str], axes: Sequence[int],
                 ranges: Sequence[tuple[float, float]], marker_lines: float = 1.2) -> None:
        self.count = max(axes, default=0) + 1
        self.range = dict(zip(axes, ranges, strict=True))
        self.places: list[Place] = []
        self._ticks: dict[int, tuple[list[float], list[str]]] = {axis: ([], []) for axis in range(self.count)}
        self._lines = dict.fromkeys(range(self.count), ROW_GAP_LINES / 2)
        self._label_spans: dict[int, list[tuple[float, float]]] = {axis: [] for axis in range(self.count)}
        for label, axis in zip(labels, axes, strict=True):
            top, lines = self._lines[axis], label.count("<br>") + 1
            self._label_spans[axis].append((top, top + lines))
            self._ticks[axis][0].append(top + lines / 2)
            self._ticks[axis][1].append(label)
            self.places.append(Place(xaxis=_name("x", axis), yaxis=_name("y", axis),
                                     y=top + lines + marker_lines / 2))
            self._lines[axis] = top + lines + marker_lines + ROW_GAP_LINES

    @property
    def height(self) -> int:
        """Pixels for the whole figure."""
        return round(FRAME_PX + self._plot_px())

    def figure(self) -> go.Figure:
        """A new figure with each panel's dashed line at 0, broken at every row's label: its first
        traces, so they lie above the grid and below every mark added after them."""
        traces = []
        for axis in range(self.count):
            y = self.zero_line_y(axis)
            traces.append(go.Scatter(x=[None if value is None else 0 for value in y], y=y, xaxis=_name("x", axis),
                                     yaxis=_name("y", axis), mode="lines", line=ZERO_LINE, hoverinfo="skip",
                                     showlegend=False))
        return go.Figure(traces)

    def zero_line_y(self, axis: int) -> list[float | None]:
        """The y of the line at 0 on one panel: segments between its rows' labels (None between
        segments), from the panel's top to its bottom."""
        y: list[float | None] = []
        start = 0.0
        for top, bottom in [*self._label_spans[axis], (self._lines[axis], self._lines[axis])]:
            if top > start:
                y += [start, top, None]
            start = bottom
        return y[:-1]

    def draw(self, figure: go.Figure, *, title: str, subtitle: str) -> go.Figure:
        """Lay out ``figure`` (from :meth:`figure`, its marks placed on :attr:`places`): the panels,
        their titles, the x axis title under the last panel, the figure's title and height."""
        top = 1.0
        several = self.count > 1
        for axis in range(self.count):
            if several:
                top -= PANEL_TITLE_PX / self._plot_px()
                figure.add_annotation(
                    text=_panel_title(axis=axis, extent=self.range[axis]), x=0, xref="paper", xanchor="left",
                    y=top, yref="paper", yanchor="bottom", yshift=4, showarrow=False, font={"size": 13})
            bottom = top - self._lines[axis] * LINE_PX / self._plot_px()
            ticks, texts = self._ticks[axis]
            figure.update_layout({
                _layout_name("y", axis): {  # each label inside the plot, on its own line above its marks
                    "domain": [max(bottom, 0.0), top], "anchor": _name("x", axis),
                    "range": [self._lines[axis], 0], "tickvals": ticks, "ticktext": texts,
                    "ticklabelposition": "inside", "ticklabeloverflow": "allow", "tickfont": {"shadow": LABEL_HALO},
                    "ticks": "", "showgrid": False, "zeroline": False, "fixedrange": True},
                _layout_name("x", axis): {
                    "anchor": _name("y", axis), "zeroline": False, **_x_range(self.range[axis]),
                    "title": {"text": X_TITLE if axis == self.count - 1 else ""}},
            })
            top = bottom - PANEL_GAP_PX / self._plot_px()
        if several:
            subtitle += "; panels by the size of the differences, each with its own x scale"
        figure.update_layout(title={"text": title, "subtitle": {"text": subtitle}}, height=self.height,
                             legend={"traceorder": "normal"})
        return figure

    def _plot_px(self) -> float:
        """The plot area's height: each panel's rows, titles and the gaps between panels."""
        rows = sum(self._lines.values()) * LINE_PX
        return rows + (PANEL_TITLE_PX * self.count if self.count > 1 else 0) + PANEL_GAP_PX * (self.count - 1)


def forest(*, labels: Sequence[str], rows: Sequence, title: str, subtitle: str) -> go.Figure:
    """A forest plot: one row per difference, mean and 95 % CI in points, in panels by ``axis``.

    Colour and marker say the row's verdict; the legend names each verdict shown. Rows are those
    of a paired table with the analysis's ``verdict``, ``axis``, ``axis_low`` and ``axis_high``
    columns; a row without runs keeps its label and draws nothing.
    """
    panels = Panels(labels=labels, axes=[row.axis for row in rows],
                    ranges=[(row.axis_low, row.axis_high) for row in rows])
    figure = panels.figure()
    shown: set[str] = set()
    for label, row, place in zip(labels, rows, panels.places, strict=True):
        if row.n_pairs == 0:
            continue
        figure.add_trace(_forest_row(label=label, row=row, place=place, first=row.verdict not in shown))
        shown.add(row.verdict)
    figure.update_layout(legend_title_text="colour:")
    return panels.draw(figure, title=title, subtitle=subtitle)


def _forest_row(*, label: str, row, place: Place, first: bool) -> go.Scatter:
    colour = VERDICT_COLOURS[row.verdict]
    return go.Scatter(
        x=[100 * row.mean_diff], y=[place.y], xaxis=place.xaxis, yaxis=place.yaxis, mode="markers",
        marker={"color": colour, "size": 10, "symbol": VERDICT_SYMBOLS[row.verdict]},
        error_x={"type": "data", "symmetric": False, "color": colour, "thickness": 2,
                 "array": [100 * (row.ci_high - row.mean_diff)],
                 "arrayminus": [100 * (row.mean_diff - row.ci_low)]},
        hovertemplate=f"{html.escape(label.replace('<br>', ' '))}: %{{x:+.2f}} points "
        f"[{fmt.points(row.ci_low)}, {fmt.points(row.ci_high)}]<extra></extra>",
        name=VERDICT_LEGEND[row.verdict], legendgroup=row.verdict, showlegend=first,
    )


def _panel_title(*, axis: int, extent: tuple[float, float]) -> str:
    """``(a) −1.57 to +4.70 points``: the panel's letter and the range of its rows, 0 included."""
    letter = string.ascii_lowercase[axis % 26]
    low, high = extent
    if math.isnan(low) or math.isnan(high):
        return f"({letter})"
    return f"({letter}) {fmt.points(low).replace('+', '')} to {fmt.points(high)} points"


def _x_range(extent: tuple[float, float]) -> dict:
    """The x range of a panel: its rows' range in points and a margin, so no bar ends on the edge."""
    low, high = extent
    if math.isnan(low) or math.isnan(high) or high <= low:
        return {}
    margin = RANGE_MARGIN * (high - low)
    return {"range": [100 * (low - margin), 100 * (high + margin)], "autorange": False}


def _name(kind: str, axis: int) -> str:
    """A trace's axis reference: ``x``, ``x2``, …"""
    return kind if axis == 0 else f"{kind}{axis + 1}"


def _layout_name(kind: str, axis: int) -> str:
    """The layout key of an axis: ``xaxis``, ``xaxis2``, …"""
    return f"{kind}axis" if axis == 0 else f"{kind}axis{axis + 1}"
