"""The report's page: its style, its head with plotly.js embedded once, and its sections.

Render only. The page reads at any width down to a phone's (390 px): tables scroll inside their
own box (:func:`pairsearch.report.formatting.table`), plots resize with the window (plotly's
``responsive``), and :data:`FIT_TITLES_JS` wraps each plot's title and subtitle to its width, so
no title is clipped.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime

import plotly.offline

from pairsearch.report.formatting import TITLE_TOP_PX, section

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
.ps-table-box { max-width: 100%; overflow-x: auto; margin: 0.8rem 0; }
table { border-collapse: collapse; font-size: 0.92rem; }
th, td { padding: 0.35rem 0.6rem; border-bottom: 1px solid #e4e7eb; text-align: left;
         vertical-align: top; }
th { background: #f5f7fa; font-weight: 600; }
/* Text cells wrap between words (a table too wide scrolls in its box); numbers never wrap. */
td { overflow-wrap: break-word; }
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
p, li, h1, h2, h3 { overflow-wrap: anywhere; }
@media (max-width: 600px) { body { padding: 1rem 0.75rem 3rem; } h1 { font-size: 1.5rem; } }
"""

# Wrap each plot's title, subtitle and x-axis titles to the room they have (about 8.5 px a
# character at 16 px, 7.5 at 14 px) and make room above the plot for the title's lines; the full
# texts are kept on the element for the next resize.
FIT_TITLES_JS = """
function psWrap(text, width) {
  var lines = [], line = "";
  text.split(" ").forEach(function (word) {
    if (line && (line + " " + word).length > width) { lines.push(line); line = word; }
    else { line = line ? line + " " + word : word; }
  });
  if (line) lines.push(line);
  return lines;
}
function psFitTitles() {
  var done = [];
  document.documentElement.dataset.psTitlesFitted = "";
  document.querySelectorAll(".ps-plot .js-plotly-plot").forEach(function (plot) {
    if (!plot.layout || !plot.layout.title || !plot._fullLayout) return;
    if (!plot.psTitle) {
      var title = plot.layout.title, xTitles = {};
      // Every x axis with a title: a plot in panels has one per panel.
      Object.keys(plot._fullLayout).filter(function (key) { return /^xaxis\\d*$/.test(key); }).forEach(function (key) {
        var axis = plot._fullLayout[key];
        if (axis && axis.title && axis.title.text) xTitles[key] = axis.title.text;
      });
      plot.psTitle = {text: title.text || "", sub: (title.subtitle && title.subtitle.text) || "",
                      x: xTitles, height: plot._fullLayout.height};
    }
    var chars = Math.max(24, Math.floor(plot.clientWidth / 8.5));
    var main = psWrap(plot.psTitle.text, chars), sub = psWrap(plot.psTitle.sub, Math.floor(chars * 1.15));
    var top = Math.max(100, __TOP__ + 52 + 21 * main.length + 18 * sub.length);
    var update = {"title.text": main.join("<br>"), "title.subtitle.text": sub.join("<br>"), "margin.t": top};
    var xLines = 1;
    Object.keys(plot.psTitle.x).forEach(function (key) {
      var room = plot._fullLayout._size ? plot._fullLayout._size.w : plot.clientWidth;
      var x = psWrap(plot.psTitle.x[key], Math.max(16, Math.floor(room / 7.5)));
      update[key + ".title.text"] = x.join("<br>");
      xLines = Math.max(xLines, x.length);
    });
    // Taller by what the wrapped lines take (and a legend's extra rows on a narrow screen), so the
    // plot area keeps its height.
    var narrow = plot.clientWidth < 600 ? 50 : 0;
    update.height = plot.psTitle.height + (top - 100) + 18 * (xLines - 1) + narrow;
    update["title.y"] = 1 - __TOP__ / update.height;  // below the toolbar
    // The box to_html sized around the plot grows with it, or the next element would cover it.
    plot.parentElement.style.height = update.height + "px";
    done.push(Plotly.relayout(plot, update));
  });
  // For readers (and tests) that wait until every plot is laid out again.
  Promise.all(done).then(function () { document.documentElement.dataset.psTitlesFitted = "yes"; });
}
var psFitTimer = null;
window.addEventListener("load", psFitTitles);
window.addEventListener("resize", function () { clearTimeout(psFitTimer); psFitTimer = setTimeout(psFitTitles, 150); });
""".replace("__TOP__", str(TITLE_TOP_PX))


def page(*, sections: list[tuple[str, str, str]], title: str = "pairsearch final report") -> str:
    """The whole HTML document: (anchor, title, content) sections after a table of contents.

    Args:
        sections: (anchor, heading, HTML content) of each section, in order.
        title: The page's title and top heading (escaped here).
    """
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    toc = " · ".join(
        f'<a href="#{anchor}">{html.escape(heading)}</a>' for anchor, heading, _ in sections
    )
    body = "\n".join(
        section(title=heading, anchor=anchor, content=content)
        for anchor, heading, content in sections
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{CSS}</style>
<script>{plotly.offline.get_plotlyjs()}</script>
<script>{FIT_TITLES_JS}</script>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="ps-generated">Generated {html.escape(generated)}</p>
<nav class="ps-toc">{toc}</nav>
{body}
</body>
</html>
"""
