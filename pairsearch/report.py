"""The final report: CSV files, a Markdown summary and one self-contained offline HTML page.

The HTML page embeds plotly.js once, inline, so it opens on a machine with no network; every
text that comes from data is escaped. Accuracies are shown in percent, differences in
percentage points.
"""

from __future__ import annotations

import html
import json
import math
import re
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import plotly.colors
import plotly.graph_objects as go
import plotly.offline
from optuna.visualization import plot_optimization_history, plot_param_importances

from pairsearch import stats

PLOT_HEIGHT_PX = 440
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
MIN_TRIALS_FOR_IMPORTANCES = 2

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2933;
       margin: 0 auto; max-width: 1200px; padding: 1.5rem 2rem 4rem; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; }
h2 { margin-top: 2.5rem; border-bottom: 1px solid #d9dee3; padding-bottom: 0.3rem; }
.ps-generated, .ps-note, .ps-caption { color: #52606d; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.92rem; }
th, td { padding: 0.35rem 0.75rem; border-bottom: 1px solid #e4e7eb; text-align: left; }
th { background: #f5f7fa; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.significant td { font-weight: 600; }
.ps-plot { width: 100%; min-height: 200px; margin: 0.5rem 0 1.5rem; }
.ps-study-plots { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 1rem; }
/* Fixed tracks, not auto-fit: each plot is sized when its inline script runs, before the
   next grid item exists. */
@media (max-width: 1000px) { .ps-study-plots { grid-template-columns: minmax(0, 1fr); } }
"""


def write_report(
    *,
    out_dir: Path,
    results: pd.DataFrame,
    curves: pd.DataFrame,
    protocol: dict,
    studies: dict[str, optuna.Study],
) -> dict[str, Path]:
    """Write the final report files into ``out_dir`` (created if missing).

    Args:
        out_dir: Folder to write into.
        results: One row per (arch, seed) with columns ``arch, seed, test_accuracy, seconds,
            n_parameters, params`` (``params`` is a JSON string of the hyperparameters).
        curves: One row per (arch, seed, epoch) with columns ``arch, seed, epoch, train_loss,
            train_accuracy, test_accuracy, digit_accuracy``.
        protocol: Flat mapping of protocol facts (data source, epochs, seeds, versions, ...).
        studies: Arch → the tuning study whose best params the final runs used; may be empty.

    Returns:
        The written paths under the keys ``results_csv, curves_csv, summary_md, pairwise_csv,
        report_html``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = stats.summarize(results=results)
    comparisons = stats.pairwise(results=results)
    paths = {
        "results_csv": out_dir / "results.csv",
        "curves_csv": out_dir / "curves.csv",
        "summary_md": out_dir / "summary.md",
        "pairwise_csv": out_dir / "pairwise.csv",
        "report_html": out_dir / "report.html",
    }
    results.to_csv(paths["results_csv"], index=False)
    curves.to_csv(paths["curves_csv"], index=False)
    paths["summary_md"].write_text(summary_markdown(summary=summary), encoding="utf-8")
    comparisons.to_csv(paths["pairwise_csv"], index=False)
    page = report_html(
        results=results,
        curves=curves,
        protocol=protocol,
        studies=studies,
        summary=summary,
        comparisons=comparisons,
    )
    paths["report_html"].write_text(page, encoding="utf-8")
    return paths


def summary_markdown(*, summary: pd.DataFrame) -> str:
    """Render a :func:`pairsearch.stats.summarize` table as a Markdown table.

    Args:
        summary: The output of :func:`pairsearch.stats.summarize`.

    Returns:
        The Markdown table (test accuracy in percent), ending with a newline.
    """
    header = [
        "| Rank | Arch | Mean ± std (%) | Median (%) | IQM (%) | 95 % CI (%) | n |",
        "|---:|:---|---:|---:|---:|:---:|---:|",
    ]
    rows = [
        "| {rank} | {arch} | {mean_std} | {median} | {iqm} | {ci} | {n} |".format(
            rank=row.rank,
            arch=str(row.arch).replace("|", r"\|"),
            mean_std=_mean_std(row.mean, row.std),
            median=_percent(row.median),
            iqm=_percent(row.iqm),
            ci=_interval(row.ci_low, row.ci_high),
            n=row.n,
        )
        for row in summary.itertuples(index=False)
    ]
    return "\n".join(header + rows) + "\n"


def report_html(
    *,
    results: pd.DataFrame,
    curves: pd.DataFrame,
    protocol: dict,
    studies: dict[str, optuna.Study],
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
) -> str:
    """Build the self-contained HTML page.

    Args:
        results: Per-seed results, as for :func:`write_report`.
        curves: Per-epoch curves, as for :func:`write_report`.
        protocol: Protocol facts, as for :func:`write_report`.
        studies: Tuning studies by arch, as for :func:`write_report`.
        summary: The output of :func:`pairsearch.stats.summarize` on ``results``.
        comparisons: The output of :func:`pairsearch.stats.pairwise` on ``results``.

    Returns:
        The whole HTML document.
    """
    archs = [str(arch) for arch in summary["arch"]]
    colours = _arch_colours(archs=archs)
    sections = [
        _section("Protocol", _key_value_table(mapping=protocol)),
        _section("Summary", _summary_table(summary=summary)),
        _section("Pairwise comparisons", _pairwise_table(comparisons=comparisons)),
        _section(
            "Per-seed test accuracy",
            _plot(
                plot_id="accuracy-by-arch",
                figure=_accuracy_box_figure(results=results, archs=archs, colours=colours),
            ),
        ),
        _section(
            "Learning curves",
            _plot(
                plot_id="learning-curves",
                figure=_learning_curve_figure(curves=curves, archs=archs, colours=colours),
            ),
        ),
        _section("Tuning studies", _studies_html(studies=studies)),
        _section("Best parameters", _best_params_table(results=results, archs=archs)),
    ]
    return _page(body="\n".join(sections))


def _page(*, body: str) -> str:
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pairsearch final report</title>
<style>{CSS}</style>
<script>{plotly.offline.get_plotlyjs()}</script>
</head>
<body>
<h1>pairsearch final report</h1>
<p class="ps-generated">Generated {html.escape(generated)}</p>
{body}
</body>
</html>
"""


def _section(title: str, content: str) -> str:
    return f"<section>\n<h2>{html.escape(title)}</h2>\n{content}\n</section>"


def _table(
    *,
    headers: list[str],
    rows: list[list[str]],
    row_classes: list[str] | None = None,
    numeric: set[int] = frozenset(),
) -> str:
    """HTML table from formatted cell texts (escaped here); ``numeric`` columns align right."""
    head = "".join(f"<th>{html.escape(header)}</th>" for header in headers)
    row_classes = row_classes or [""] * len(rows)
    body = "\n".join(
        _table_row(cells=row, row_class=row_class, numeric=numeric)
        for row, row_class in zip(rows, row_classes, strict=True)
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _table_row(*, cells: list[str], row_class: str, numeric: set[int]) -> str:
    tds = "".join(
        f'<td class="num">{html.escape(cell)}</td>'
        if column in numeric
        else f"<td>{html.escape(cell)}</td>"
        for column, cell in enumerate(cells)
    )
    class_attribute = f' class="{html.escape(row_class)}"' if row_class else ""
    return f"<tr{class_attribute}>{tds}</tr>"


def _key_value_table(*, mapping: dict) -> str:
    rows = [[str(key), _format_value(value)] for key, value in mapping.items()]
    return _table(headers=["Item", "Value"], rows=rows)


def _summary_table(*, summary: pd.DataFrame) -> str:
    rows = [
        [
            str(row.rank),
            str(row.arch),
            _mean_std(row.mean, row.std),
            _percent(row.median),
            _percent(row.iqm),
            _interval(row.ci_low, row.ci_high),
            str(row.n),
        ]
        for row in summary.itertuples(index=False)
    ]
    headers = [
        "Rank",
        "Arch",
        "Mean ± std (%)",
        "Median (%)",
        "IQM (%)",
        "95 % bootstrap CI (%)",
        "n",
    ]
    caption = (
        '<p class="ps-caption">Test accuracy after the last epoch, one run per seed. '
        "IQM: mean of the middle 50 % of seeds. CI: bootstrap (BCa) of the mean.</p>"
    )
    return caption + _table(headers=headers, rows=rows, numeric={0, 2, 3, 4, 5, 6})


def _pairwise_table(*, comparisons: pd.DataFrame) -> str:
    rows = [
        [
            str(row.arch_a),
            str(row.arch_b),
            str(row.n_pairs),
            f"{_points(row.mean_diff)} {_interval(row.ci_low, row.ci_high)}",
            _fraction(row.p_improvement),
            _p_value(row.p_value),
            _p_value(row.holm_p),
        ]
        for row in comparisons.itertuples(index=False)
    ]
    significant = [
        "significant" if row.holm_p < 0.05 else "" for row in comparisons.itertuples(index=False)
    ]
    headers = [
        "A",
        "B",
        "Paired seeds",
        "A − B, points [95 % CI]",
        "P(A > B)",
        "Sign-flip p",
        "Holm p",
    ]
    caption = (
        '<p class="ps-caption">Paired by seed. P(A &gt; B): share of seeds where A wins '
        "(ties count half). Exact paired sign-flip permutation test, two-sided; Holm-corrected across all "
        "pairs. Bold: Holm p &lt; 0.05.</p>"
    )
    return caption + _table(
        headers=headers, rows=rows, row_classes=significant, numeric={2, 3, 4, 5, 6}
    )


def _best_params_table(*, results: pd.DataFrame, archs: list[str]) -> str:
    first_runs = results.sort_values("seed").groupby("arch", sort=False).first()
    params_by_arch = {arch: json.loads(first_runs.loc[arch, "params"]) for arch in archs}
    param_names = sorted({name for params in params_by_arch.values() for name in params})
    rows = [
        [
            arch,
            f"{int(first_runs.loc[arch, 'n_parameters']):,}",
            _format_value(results.loc[results["arch"] == arch, "seconds"].mean()),
        ]
        + [_format_value(params_by_arch[arch].get(name, "")) for name in param_names]
        for arch in archs
    ]
    headers = ["Arch", "Parameters", "Seconds per run"] + param_names
    return _table(headers=headers, rows=rows, numeric=set(range(1, len(headers))))


def _studies_html(*, studies: dict[str, optuna.Study]) -> str:
    if not studies:
        return '<p class="ps-note">No tuning studies were given.</p>'
    return "\n".join(_study_html(arch=arch, study=study) for arch, study in studies.items())


def _study_html(*, arch: str, study: optuna.Study) -> str:
    n_complete = _n_complete_trials(study=study)
    heading = (
        f"<h3>{html.escape(arch)} — study {html.escape(study.study_name)}</h3>\n"
        f'<p class="ps-caption">{n_complete} completed trials of {len(study.trials)}.</p>'
    )
    if n_complete == 0:
        return heading + '\n<p class="ps-note">No completed trials to plot.</p>'
    history = _plot(plot_id=f"history-{arch}", figure=_history_figure(study=study))
    return (
        f'{heading}\n<div class="ps-study-plots">\n{history}\n'
        f"{_importance_html(arch=arch, study=study, n_complete=n_complete)}\n</div>"
    )


def _importance_html(*, arch: str, study: optuna.Study, n_complete: int) -> str:
    if n_complete < MIN_TRIALS_FOR_IMPORTANCES:
        return _note(
            f"Parameter importances need at least {MIN_TRIALS_FOR_IMPORTANCES} "
            f"completed trials; this study has {n_complete}."
        )
    try:
        figure = _importance_figure(study=study)
    except (ValueError, RuntimeError, ImportError) as error:
        return _note(f"Parameter importances unavailable: {error}")
    return _plot(plot_id=f"importance-{arch}", figure=figure)


def _note(text: str) -> str:
    return f'<p class="ps-note">{html.escape(text)}</p>'


def _n_complete_trials(*, study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def _objective_name(*, study: optuna.Study) -> str:
    return study.metric_names[0] if study.metric_names else "Objective Value"


def _history_figure(*, study: optuna.Study) -> go.Figure:
    return plot_optimization_history(study, target_name=_objective_name(study=study))


def _importance_figure(*, study: optuna.Study) -> go.Figure:
    """Parameter importances; raises ValueError when the evaluator can only return ties."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure = plot_param_importances(study, target_name=_objective_name(study=study))
    # Too few (or too similar) trials make the evaluator warn and return equal importances,
    # which would look like a real result on the page.
    for warning in caught:
        if "importances will be equal" in str(warning.message):
            raise ValueError(str(warning.message))
    return figure


def _accuracy_box_figure(
    *, results: pd.DataFrame, archs: list[str], colours: dict[str, str]
) -> go.Figure:
    figure = go.Figure()
    for arch in archs:
        runs = results[results["arch"] == arch]
        figure.add_trace(
            go.Box(
                y=100 * runs["test_accuracy"],
                name=arch,
                boxpoints="all",
                jitter=0.4,
                pointpos=0,
                marker_color=colours[arch],
                customdata=runs["seed"],
                hovertemplate="seed %{customdata}: %{y:.2f} %<extra>"
                + html.escape(arch)
                + "</extra>",
            )
        )
    figure.update_layout(
        title="Test accuracy per seed", yaxis_title="test accuracy (%)", showlegend=False
    )
    return figure


def _learning_curve_figure(
    *, curves: pd.DataFrame, archs: list[str], colours: dict[str, str]
) -> go.Figure:
    per_epoch = curves.groupby(["arch", "epoch"])["test_accuracy"].agg(["mean", "std"])
    figure = go.Figure()
    for arch in archs:
        if arch not in per_epoch.index.get_level_values("arch"):
            continue
        epochs = per_epoch.loc[arch]
        _add_mean_and_band(figure=figure, arch=arch, epochs=epochs, colour=colours[arch])
    figure.update_layout(
        title="Mean test accuracy per epoch (band: ±1 std over seeds)",
        xaxis_title="epoch",
        xaxis_dtick=max(1, math.ceil(curves["epoch"].nunique() / 12)),  # whole epochs only
        yaxis_title="test accuracy (%)",
    )
    return figure


def _add_mean_and_band(*, figure: go.Figure, arch: str, epochs: pd.DataFrame, colour: str) -> None:
    x = epochs.index.to_numpy()
    mean = 100 * epochs["mean"].to_numpy()
    std = 100 * epochs["std"].fillna(0.0).to_numpy()  # one seed: no spread to draw
    figure.add_trace(
        go.Scatter(
            x=np.concatenate([x, x[::-1]]),
            y=np.concatenate([mean + std, (mean - std)[::-1]]),
            fill="toself",
            fillcolor=_with_alpha(colour, 0.18),
            mode="lines",
            line={"width": 0, "color": colour},
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


def _plot(*, plot_id: str, figure: go.Figure) -> str:
    """A figure's div inside a ``ps-plot`` container; plotly.js itself is in the page head."""
    container_id = "ps-plot-" + re.sub(r"[^A-Za-z0-9_-]", "-", plot_id)
    figure.update_layout(height=PLOT_HEIGHT_PX, margin={"t": 60, "b": 50, "l": 60, "r": 20})
    figure_html = figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"{container_id}-graph",
        config=PLOTLY_CONFIG,
        default_height=f"{PLOT_HEIGHT_PX}px",
    )
    return f'<div class="ps-plot" id="{container_id}">\n{figure_html}\n</div>'


def _arch_colours(*, archs: list[str]) -> dict[str, str]:
    palette = plotly.colors.qualitative.Plotly
    return {arch: palette[index % len(palette)] for index, arch in enumerate(archs)}


def _with_alpha(hex_colour: str, alpha: float) -> str:
    red, green, blue = plotly.colors.hex_to_rgb(hex_colour)
    return f"rgba({red}, {green}, {blue}, {alpha})"


def _percent(value: float) -> str:
    return "–" if pd.isna(value) else f"{100 * value:.2f}"


def _points(value: float) -> str:
    return "–" if pd.isna(value) else f"{100 * value:+.2f}"


def _mean_std(mean: float, std: float) -> str:
    return f"{_percent(mean)} ± {_percent(std)}"


def _interval(low: float, high: float) -> str:
    return f"[{_percent(low)}, {_percent(high)}]"


def _fraction(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.2f}"


def _p_value(value: float) -> str:
    if pd.isna(value):
        return "–"
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def _format_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
