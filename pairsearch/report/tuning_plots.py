"""Each tuning study drawn: every finished trial's validation accuracy, and the importances.

Render only, from the :class:`~pairsearch.report.facts.TuningFacts` records. A pruned trial is
drawn at the last validation accuracy it reported (a lower bound of what it would have reached),
marked as pruned; the best-so-far line follows the complete trials, the only ones a search
can choose.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from pairsearch.report import formatting as fmt
from pairsearch.report.facts import MIN_TRIALS_FOR_IMPORTANCES, TuningFacts

# Solid marks, each ≥ 4.5:1 on white, told apart by shape as well as colour.
COMPLETE_MARK = {"color": "#0b6e99", "size": 7, "symbol": "circle"}
PRUNED_MARK = {"color": "#b35900", "size": 8, "symbol": "x-thin", "line": {"width": 2, "color": "#b35900"}}
BEST_LINE = {"color": "#1f2933", "shape": "hv", "width": 2}
IMPORTANCE_BAR = "#0b6e99"


def study_plots(*, label: str, study: TuningFacts) -> str:
    """The study's validation accuracy per trial, and its hyperparameter importances."""
    shown = study.finished.dropna(subset=["value"])
    if shown.empty:
        return fmt.note(f"{label}: no finished tuning trial reported a validation accuracy.")
    figure = history_figure(label=label, finished=shown, failed=study.states.get("fail", 0))
    history = fmt.plot(plot_id=f"history-{label}", figure=figure)
    n_complete = len(study.complete)
    if n_complete < MIN_TRIALS_FOR_IMPORTANCES:
        importance = fmt.note(
            f"{label}: hyperparameter importances need at least {MIN_TRIALS_FOR_IMPORTANCES} "
            f"complete trials; this study has {n_complete}."
        )
    elif study.importance_error is not None:
        importance = fmt.note(f"{label}: hyperparameter importances unavailable: {study.importance_error}")
    else:
        importance = fmt.plot(plot_id=f"importance-{label}", figure=importance_figure(label=label, study=study))
    return f'<div class="ps-grid">\n{history}\n{importance}\n</div>'


def history_figure(*, label: str, finished: pd.DataFrame, failed: int = 0) -> go.Figure:
    """Every complete and pruned trial by number, and the best complete trial so far; ``failed``
    trials (no value to draw) are counted in the subtitle."""
    complete = finished[finished["state"] == "complete"].sort_values("number")
    pruned = finished[finished["state"] == "pruned"].sort_values("number")
    figure = go.Figure()
    for trials, name, mark, what in ((complete, "complete trial", COMPLETE_MARK, "final"),
                                     (pruned, "pruned trial (last reported)", PRUNED_MARK, "last reported")):
        if trials.empty:
            continue
        figure.add_trace(go.Scatter(
            x=list(trials["number"]), y=[100 * value for value in trials["value"]], mode="markers",
            name=f"{name}: {len(trials)}", marker=mark,
            hovertemplate=f"trial %{{x}}: %{{y:.2f}} % ({what})<extra></extra>"))
    if not complete.empty:
        figure.add_trace(go.Scatter(
            x=list(complete["number"]), y=(100 * complete["value"]).cummax(), mode="lines",
            name="best complete so far", line=BEST_LINE, hoverinfo="skip"))
    figure.update_layout(
        title={"text": f"{label}: validation accuracy of the tuning trials",
               "subtitle": {"text": f"every finished trial ({len(complete)} complete, {len(pruned)} pruned, "
                                    "at its last reported value"
                                    f"{f'; {failed} failed, not drawn' if failed else ''}); line: best complete so far"}},
        xaxis_title="trial number", yaxis_title="validation accuracy (%)",
    )
    return figure


def importance_figure(*, label: str, study: TuningFacts) -> go.Figure:
    """Hyperparameter importances as Optuna's ``plot_param_importances`` draws them, with how many
    complete trials they come from."""
    shown = list(reversed(study.importances))  # the most important at the top
    figure = go.Figure(
        [go.Bar(
            x=[item.value for item in shown], y=[item.name for item in shown], name="validation accuracy",
            marker_color=IMPORTANCE_BAR,
            text=[f"{item.value:.2f}" if item.value >= 0.01 else "<0.01" for item in shown],
            textposition="outside", cliponaxis=False, orientation="h",
            hovertemplate=[f"{item.name} ({item.distribution}): {item.value}<extra></extra>" for item in shown],
        )],
    )
    figure.update_layout(
        title={"text": f"{label}: importances",  # short: a long study name still fits a phone
               "subtitle": {"text": f"of the hyperparameters for validation accuracy, from the "
                                    f"{len(study.complete)} complete trials; PED-ANOVA (Optuna's default); sum 1"}},
        xaxis_title="importance", yaxis={"title": "hyperparameter", "automargin": True},
        showlegend=False,
    )
    return figure
