"""What every part of the report shares: arch colours, number formats, HTML pieces.

Accuracies are shown in percent and differences in percentage points ("points"), each with two
decimals. Every text that comes from data is escaped here, in :func:`table`, :func:`note` and
:func:`section`; plot text is escaped by plotly.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence

import pandas as pd
import plotly.colors
import plotly.graph_objects as go

PLOT_HEIGHT_PX = 440
# Offline and private: no link, button or URL that could send a chart (and its data) to a
# cloud service; the camera button saves SVG, drawn in the page.
PLOTLY_CONFIG = {
    "displaylogo": False, "responsive": True, "showSendToCloud": False,
    "toImageButtonOptions": {"format": "svg", "scale": 1},
}
PLOT_MARGIN = {"t": 100, "b": 50, "l": 60, "r": 20}
TITLE_TOP_PX = 30  # the title starts below plotly's toolbar, which sits at the top right
INK = "#1f2933"
GRID = "#d9dee3"
FONT_PX = 14  # every figure's base type; ticks, legends and hover text are no smaller than 13 px
# One look for every figure, fit for a paper: white paper and plot, dark legible type, light grid,
# axes drawn as lines; the arch colours and verdict colours are set by each figure.
TEMPLATE = go.layout.Template(layout=go.Layout(
    font={"family": "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif",
          "size": FONT_PX, "color": INK},
    title={"font": {"size": 16}, "x": 0, "xanchor": "left", "y": 1, "yanchor": "top", "yref": "container",
           "pad": {"t": TITLE_TOP_PX},
           "subtitle": {"font": {"size": 13, "color": "#52606d"}}},
    paper_bgcolor="white", plot_bgcolor="white",
    xaxis={"showline": True, "linecolor": INK, "ticks": "outside", "gridcolor": GRID,
           "zerolinecolor": GRID, "tickfont": {"size": 13}, "automargin": True},
    yaxis={"showline": True, "linecolor": INK, "ticks": "outside", "gridcolor": GRID,
           "zerolinecolor": GRID, "tickfont": {"size": 13}, "automargin": True},
    # Below the plot, across it: the plot keeps its width on a narrow screen.
    legend={"font": {"size": 13}, "bgcolor": "rgba(255, 255, 255, 0)", "orientation": "h",
            "x": 0, "xanchor": "left", "y": 0, "yanchor": "bottom", "yref": "container"},
    hoverlabel={"font": {"size": 13}},
))
DASH = "–"
# The archs' colours in the report's order (the 2×2 four first): Okabe and Ito's colour-blind-safe
# blue, vermillion, bluish green and reddish purple (darkened to reach 3:1 on white, WCAG's
# contrast for marks), then grey, Tol's wine and black: every pair at least 25 CIE76 units apart,
# and 10 under simulated deuteranopia and protanopia (Okabe and Ito's darkened orange and sky blue
# were 1.3 from the vermillion for a deutan eye, and the sky blue 18 from the blue for anyone).
ARCH_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#BC6F9A", "#6E6E6E", "#882255", "#000000")


def arch_colours(*, archs: Sequence[str]) -> dict[str, str]:
    """Arch → its colour from :data:`ARCH_PALETTE`, in the report's order."""
    return {arch: ARCH_PALETTE[index % len(ARCH_PALETTE)] for index, arch in enumerate(archs)}


def with_alpha(hex_colour: str, alpha: float) -> str:
    red, green, blue = plotly.colors.hex_to_rgb(hex_colour)
    return f"rgba({red}, {green}, {blue}, {alpha})"


# --- numbers ---------------------------------------------------------------------------------


def percent(value: float) -> str:
    """An accuracy (a fraction) in percent: ``87.41``."""
    return DASH if pd.isna(value) else f"{100 * value:.2f}"


def points(value: float) -> str:
    """A difference of accuracies in signed percentage points: ``+2.46``."""
    return DASH if pd.isna(value) else f"{100 * value:+.2f}".replace("-", "−")


def interval(low: float, high: float, *, signed: bool = False) -> str:
    """``[low, high]`` in percent, or in signed points."""
    show = points if signed else percent
    return f"[{show(low)}, {show(high)}]"


def share(value: float) -> str:
    """A share (0…1) in whole percent: ``93 %``."""
    return DASH if pd.isna(value) else f"{100 * value:.0f} %"


def effect_size(value: float) -> str:
    if pd.isna(value):
        return DASH
    if math.isinf(value):
        return "+∞" if value > 0 else "−∞"
    return f"{value:+.2f}".replace("-", "−")


def p_value(value: float) -> str:
    if pd.isna(value):
        return DASH
    return f"{value:.2g}" if value < 0.001 else f"{value:#.2g}"


def count(value: float) -> str:
    """A large count, short: ``1.94 M``, ``246 k``, ``512``."""
    if pd.isna(value):
        return DASH
    for size, unit in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.0f}"


def duration(seconds: float) -> str:
    if pd.isna(seconds):
        return DASH
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def plain(value: object) -> str:
    """Any value from data, briefly: floats to 3 significant digits, booleans as yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return DASH if math.isnan(value) else f"{value:.3g}"
    return str(value)


# --- HTML ------------------------------------------------------------------------------------


def section(*, title: str, anchor: str, content: str) -> str:
    heading = f'<section id="{html.escape(anchor)}">\n<h2>{html.escape(title)}</h2>'
    return f"{heading}\n{content}\n</section>"


def note(text: str, *, css_class: str = "ps-note") -> str:
    return f'<p class="{css_class}">{html.escape(text)}</p>'


def table(
    *,
    headers: Sequence[str],
    rows: Sequence[Sequence[str | tuple[str, str]] | str],
    numeric: Iterable[int] = (),
    row_keys: Sequence[str] | None = None,
    row_classes: Sequence[str] | None = None,
    css_class: str = "",
) -> str:
    """An HTML table from formatted cell texts (escaped here).

    Args:
        headers: Column headings.
        rows: Cell texts, one list per row; a plain string is a group heading across the table.
            A cell may be a pair (text, detail): the detail goes on a second, smaller line.
        numeric: Columns aligned right with tabular digits.
        row_keys: A ``data-key`` per row, for readers (and tests) to find a row.
        row_classes: A CSS class per row ("" for none).
        css_class: The table's CSS class.

    Returns:
        The ``<table>`` element.
    """
    numeric = set(numeric)
    head = "".join(f"<th>{html.escape(header)}</th>" for header in headers)
    body = []
    for index, cells in enumerate(rows):
        if isinstance(cells, str):
            body.append(
                f'<tr class="ps-group"><th colspan="{len(headers)}">{html.escape(cells)}</th></tr>'
            )
            continue
        attributes = ""
        if row_keys is not None:
            attributes += f' data-key="{html.escape(row_keys[index])}"'
        if row_classes is not None and row_classes[index]:
            attributes += f' class="{html.escape(row_classes[index])}"'
        tds = "".join(
            f'<td class="num">{_cell(cell)}</td>' if column in numeric
            else f"<td>{_cell(cell)}</td>"
            for column, cell in enumerate(cells)
        )
        body.append(f"<tr{attributes}>{tds}</tr>")
    table_class = f' class="{html.escape(css_class)}"' if css_class else ""
    rows_html = "\n".join(body)
    # In a box of its own that scrolls sideways on a narrow screen; the page never does.
    return (
        f'<div class="ps-table-box"><table{table_class}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
        f"{rows_html}\n</tbody>\n</table></div>"
    )


def markdown_table(
    *, headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Iterable[int] = (), centred: Iterable[int] = ()
) -> list[str]:
    """A Markdown table's lines (for summary.md and the terminal); ``|`` in a text is escaped.

    Args:
        headers: Column headings.
        rows: Cell texts, one list per row.
        numeric: Columns aligned right.
        centred: Columns centred; every other column is aligned left.
    """
    numeric, centred = set(numeric), set(centred)
    alignment = "".join("---:|" if column in numeric else ":---:|" if column in centred else ":---|"
                        for column in range(len(headers)))
    return [_markdown_row(headers), "|" + alignment, *(_markdown_row(cells) for cells in rows)]


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", r"\|") for cell in cells) + " |"


def _cell(cell: str | tuple[str, str]) -> str:
    if isinstance(cell, tuple):
        text, detail = cell
        return f'{html.escape(text)}<br><span class="ps-detail">{html.escape(detail)}</span>'
    return html.escape(cell)


def plot(*, plot_id: str, figure: go.Figure, height: int | None = None) -> str:
    """A figure's div inside a ``ps-plot`` container; plotly.js itself is in the page head.

    ``height`` in pixels (None: the figure's own, else :data:`PLOT_HEIGHT_PX`).
    """
    height = height or figure.layout.height or PLOT_HEIGHT_PX
    container_id = "ps-plot-" + re.sub(r"[^A-Za-z0-9_-]", "-", plot_id)
    figure.update_layout(template=TEMPLATE, height=height, margin=PLOT_MARGIN)
    figure_html = figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"{container_id}-graph",
        config=PLOTLY_CONFIG,
        default_height=f"{height}px",
    )
    return f'<div class="ps-plot" id="{container_id}">\n{figure_html}\n</div>'
