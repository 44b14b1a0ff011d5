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
from datetime import UTC, datetime

import pandas as pd
import plotly.colors
import plotly.graph_objects as go
import plotly.offline

PLOT_HEIGHT_PX = 440
# Offline and private: no link, button or URL that could send a chart (and its data) to a
# cloud service; the camera button saves SVG, drawn in the page.
PLOTLY_CONFIG = {
    "displaylogo": False, "responsive": True, "showSendToCloud": False,
    "toImageButtonOptions": {"format": "svg", "scale": 1},
}
PLOT_MARGIN = {"t": 80, "b": 50, "l": 60, "r": 20}
INK = "#1f2933"
GRID = "#d9dee3"
FONT_PX = 14  # every figure's base type; ticks, legends and hover text are no smaller than 13 px
# One look for every figure, fit for a paper: white paper and plot, dark legible type, light grid,
# axes drawn as lines; the arch colours and verdict colours are set by each figure.
TEMPLATE = go.layout.Template(layout=go.Layout(
    font={"family": "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif",
          "size": FONT_PX, "color": INK},
    title={"font": {"size": 16}, "x": 0, "xanchor": "left", "automargin": True},
    paper_bgcolor="white", plot_bgcolor="white",
    xaxis={"showline": True, "linecolor": INK, "ticks": "outside", "gridcolor": GRID,
           "zerolinecolor": GRID, "tickfont": {"size": 13}, "automargin": True},
    yaxis={"showline": True, "linecolor": INK, "ticks": "outside", "gridcolor": GRID,
           "zerolinecolor": GRID, "tickfont": {"size": 13}, "automargin": True},
    legend={"font": {"size": 13}, "bgcolor": "rgba(255, 255, 255, 0)"},
    hoverlabel={"font": {"size": 13}},
))
DASH = "–"
CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2933;
       margin: 0 auto; max-width: 1100px; padding: 1.5rem 2rem 4rem; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; }
h2 { margin-top: 2.5rem; border-bottom: 1px solid #d9dee3; padding-bottom: 0.3rem; }
h3 { margin-top: 1.6rem; }
.ps-generated, .ps-note, .ps-caption { color: #52606d; }
.ps-caption { font-size: 0.9rem; }
.ps-warning { color: #9a3412; font-weight: 600; }
.ps-toc { margin: 0.8rem 0 0; line-height: 1.8; }
.ps-answer-line { font-size: 1.05rem; margin: 0.6rem 0; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.92rem; max-width: 100%; }
th, td { padding: 0.35rem 0.6rem; border-bottom: 1px solid #e4e7eb; text-align: left;
         vertical-align: top; }
th { background: #f5f7fa; font-weight: 600; }
/* Text cells wrap anywhere rather than push the page sideways; numbers never wrap. */
td { overflow-wrap: anywhere; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.ps-lead td { font-weight: 600; }
.ps-detail { color: #52606d; font-size: 0.85rem; font-weight: 400; }
tr.ps-group th { background: #fff; border-bottom: 2px solid #d9dee3; padding-top: 0.9rem; }
table.ps-transposed td:first-child { color: #52606d; min-width: 10em; overflow-wrap: normal; }
table.ps-transposed td.num { white-space: normal; }
.ps-plot { width: 100%; min-height: 200px; margin: 0.5rem 0 1.5rem; }
.ps-grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 1rem; }
/* Fixed tracks, not auto-fit: each plot is sized when its inline script runs, before the
   next grid item exists. */
@media (max-width: 1000px) { .ps-grid { grid-template-columns: minmax(0, 1fr); } }
"""


def arch_colours(*, archs: Sequence[str]) -> dict[str, str]:
    """Arch → its colour, plotly's qualitative palette in the report's order."""
    palette = plotly.colors.qualitative.Plotly
    return {arch: palette[index % len(palette)] for index, arch in enumerate(archs)}


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
    return (
        f"<table{table_class}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows_html}\n</tbody>"
        "\n</table>"
    )


def _cell(cell: str | tuple[str, str]) -> str:
    if isinstance(cell, tuple):
        text, detail = cell
        return f'{html.escape(text)}<br><span class="ps-detail">{html.escape(detail)}</span>'
    return html.escape(cell)


def plot(*, plot_id: str, figure: go.Figure, height: int = PLOT_HEIGHT_PX) -> str:
    """A figure's div inside a ``ps-plot`` container; plotly.js itself is in the page head."""
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


def page(*, sections: list[tuple[str, str, str]], title: str = "pairsearch final report") -> str:
    """The whole HTML document: (anchor, title, content) sections after a table of contents.

    Args:
        sections: (anchor, heading, HTML content) of each section, in order.
        title: The page's title and top heading (escaped here).
    """
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    toc = " · ".join(
        f'<a href="#{anchor}">{html.escape(title)}</a>' for anchor, title, _ in sections
    )
    body = "\n".join(
        section(title=title, anchor=anchor, content=content)
        for anchor, title, content in sections
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{CSS}</style>
<script>{plotly.offline.get_plotlyjs()}</script>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="ps-generated">Generated {html.escape(generated)}</p>
<nav class="ps-toc">{toc}</nav>
{body}
</body>
</html>
"""
