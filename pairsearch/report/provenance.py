"""Where the numbers come from: the tuning of each arch, and the machines and versions of the runs.

Tuning facts are read from the studies (trial states and user attrs ``epochs_run``,
``seconds_per_epoch``, ``n_parameters``; study user attrs ``spec`` and ``versions``). Run facts
are the per-job columns of the results (:data:`RUN_COLUMNS`); absent columns are "not
recorded", never filled in from the process that writes the report.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence

import optuna
import pandas as pd
import plotly.graph_objects as go
from optuna.trial import TrialState
from optuna.visualization import plot_param_importances

from pairsearch.report import formatting as fmt
from pairsearch.training.recipes import recipe_from_record

RUN_COLUMNS = ["device", "host", "torch", "optuna", "pairsearch", "python"]
WRITER_KEYS = {*RUN_COLUMNS, "date (UTC)"}  # protocol keys about the writing process
NOT_RECORDED = "not recorded"
MIN_TRIALS_FOR_IMPORTANCES = 2


def tuning_facts(*, studies: Mapping[str, optuna.Study]) -> tuple[dict[str, dict], pd.DataFrame]:
    """Per study: counts, compute and stored settings; and every complete trial's size and value.

    Args:
        studies: Label → tuning study.

    Returns:
        Label → facts, and a frame of complete trials with columns ``arch, number,
        n_parameters, value``.
    """
    facts, rows = {}, []
    for label, study in studies.items():
        trials = study.get_trials(deepcopy=False)
        complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
        epochs = [t.user_attrs.get("epochs_run") for t in trials]
        seconds = [
            t.user_attrs["epochs_run"] * t.user_attrs["seconds_per_epoch"]
            for t in trials
            if "epochs_run" in t.user_attrs and "seconds_per_epoch" in t.user_attrs
        ]
        walls = [
            (t.datetime_complete - t.datetime_start).total_seconds()
            for t in trials
            if t.datetime_complete and t.datetime_start
        ]
        best = max(complete, key=lambda t: t.value) if complete else None
        attrs = study.user_attrs
        facts[label] = {
            "study": study.study_name,
            "states": {state: sum(t.state == state for t in trials) for state in TrialState},
            "epochs": sum(e for e in epochs if e is not None) if any(epochs) else None,
            "training_seconds": sum(seconds) if seconds else None,
            "wall_seconds": sum(walls) if walls else None,
            "best": best,
            "spec": json.loads(attrs["spec"]) if "spec" in attrs else None,
            "versions": attrs.get("versions"),
            "recipe": recipe_from_record(attrs.get("recipe"), epochs=attrs.get("epochs", 0)),
        }
        rows += [
            {"arch": label, "number": t.number, "n_parameters": t.user_attrs.get("n_parameters"),
             "value": t.value}
            for t in complete
        ]
    return facts, pd.DataFrame(rows, columns=["arch", "number", "n_parameters", "value"])


def tuning_table(
    *, facts: Mapping[str, dict], summary: pd.DataFrame, results: pd.DataFrame,
    archs: Sequence[str],
) -> str:
    """One column per arch: trials, compute, best validation against final test, size."""
    labels = [arch for arch in archs if arch in facts]
    means = summary.set_index("arch")["mean"]
    runs = results.groupby("arch")
    rows = {
        "Trials complete / pruned / failed": [_states(facts[a]["states"]) for a in labels],
        "Epochs trained": [f"{facts[a]['epochs']:,}" if facts[a]["epochs"] is not None
                           else fmt.DASH for a in labels],
        "Training time (Σ epochs × s/epoch)": [fmt.duration(facts[a]["training_seconds"])
                                               for a in labels],
        "Trial time (Σ wall clock)": [fmt.duration(facts[a]["wall_seconds"]) for a in labels],
        "Best validation accuracy (%)": [_best(facts[a]["best"]) for a in labels],
        "Final test accuracy, mean (%)": [fmt.percent(means.get(a)) for a in labels],
        "Final − best validation (points)": [_gap(facts[a]["best"], means.get(a)) for a in labels],
        "Parameters (final configuration)": [
            fmt.count(runs["n_parameters"].first().get(a)) for a in labels
        ],
        "Final run time (mean)": [fmt.duration(runs["seconds"].mean().get(a))
                                  if "seconds" in results else fmt.DASH for a in labels],
    }
    if any(facts[a]["study"] != a for a in labels):  # only worth a row when they differ
        rows = {"Tuning study": [facts[a]["study"] for a in labels], **rows}
    return fmt.table(headers=["", *labels], rows=[[name, *cells] for name, cells in rows.items()],
                     numeric=range(1, len(labels) + 1), css_class="ps-transposed")


def settings_table(*, facts: Mapping[str, dict], archs: Sequence[str]) -> str:
    """The stored search space, sampler and pruner, each setting with the studies that used it."""
    labels = [arch for arch in archs if arch in facts]
    by_setting: dict[tuple[str, str], list[str]] = {}
    for label in labels:
        spec = facts[label]["spec"]
        if spec is None:
            by_setting.setdefault(("search space, sampler, pruner", NOT_RECORDED), []).append(label)
            continue
        for name, text in _spec_settings(spec):
            by_setting.setdefault((name, text), []).append(label)
    for label in labels:
        recipe = facts[label]["recipe"]
        by_setting.setdefault(("trials trained under", f"recipe {recipe.name} ({recipe.augmentation()})"),
                              []).append(label)
        by_setting.setdefault(("tuned with", _versions(facts[label]["versions"])), []).append(label)
    study_wide = ("epochs per trial", "trials trained under", "sampler", "pruner", "tuned with")
    ordered = sorted(by_setting.items(), key=lambda item: item[0][0] in study_wide)  # stable
    rows = [
        [name, text, "all" if studies == labels else ", ".join(studies)]
        for (name, text), studies in ordered
    ]
    return fmt.table(headers=["Setting", "Stored value", "Studies"], rows=rows)


def study_plots(*, label: str, study: optuna.Study) -> str:
    """The study's validation accuracy per trial, and its hyperparameter importances."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not complete:
        return fmt.note(f"{label}: no complete tuning trial to plot.")
    history = fmt.plot(plot_id=f"history-{label}", figure=_history_figure(label, complete))
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCES:
        importance = fmt.note(
            f"{label}: hyperparameter importances need at least {MIN_TRIALS_FOR_IMPORTANCES} "
            f"complete trials; this study has {len(complete)}."
        )
    else:
        try:
            importance = fmt.plot(plot_id=f"importance-{label}",
                                  figure=_importance_figure(label, study))
        except (ValueError, RuntimeError, ImportError) as error:
            importance = fmt.note(f"{label}: hyperparameter importances unavailable: {error}")
    return f'<div class="ps-grid">\n{history}\n{importance}\n</div>'


def run_provenance_table(*, results: pd.DataFrame, archs: Sequence[str]) -> tuple[str, list[str]]:
    """Each recorded fact of the jobs, with the archs and job counts per value.

    Returns:
        The table, and one sentence for each fact that differs across jobs.
    """
    rows, differing = [], []
    for column in RUN_COLUMNS:
        if column not in results.columns or results[column].isna().all():
            rows.append([column, f"{NOT_RECORDED} (these jobs predate per-job records)"])
            continue
        values = results[column].fillna(NOT_RECORDED).astype(str)
        groups = results.assign(value=values).groupby("value", sort=True)["arch"]
        if len(groups) == 1:
            rows.append([column, f"{values.iloc[0]} (all {_jobs(len(values))})"])
            continue
        parts = [
            f"{value}: {', '.join(a for a in archs if a in set(arch))} ({_jobs(len(arch))})"
            for value, arch in groups
        ]
        rows.append([column, "; ".join(parts)])
        differing.append(f"The {column} differs across jobs: {'; '.join(parts)}.")
    return fmt.table(headers=["Recorded by each job", "Value (archs, jobs)"], rows=rows), differing


def protocol_tables(*, protocol: Mapping[str, object]) -> tuple[str, str]:
    """The protocol's facts about the experiment, and apart, those about the writing process."""
    experiment = [[str(k), fmt.plain(v)] for k, v in protocol.items() if k not in WRITER_KEYS]
    writer = [[str(k), fmt.plain(v)] for k, v in protocol.items() if k in WRITER_KEYS]
    return (
        fmt.table(headers=["Item", "Value"], rows=experiment),
        fmt.table(headers=["Process that wrote this report", "Value"], rows=writer)
        if writer else "",
    )


def _jobs(count: int) -> str:
    return "1 job" if count == 1 else f"{count} jobs"


def _spec_settings(spec: dict):
    for space in spec.get("space", []):
        yield space["name"], _space_text(space)
    for name, value in spec.get("fixed", {}).items():
        yield name, f"fixed at {fmt.plain(value)}"
    yield "epochs per trial", str(spec.get("epochs", fmt.DASH))
    for part in ("sampler", "pruner"):
        yield part, _options_text(spec.get(part) or {})


def _space_text(space: dict) -> str:
    if space["type"] == "categorical":
        return "one of " + ", ".join(fmt.plain(choice) for choice in space["choices"])
    text = f"{space['type']} {fmt.plain(space['low'])} … {fmt.plain(space['high'])}"
    if space.get("step"):
        text += f", step {fmt.plain(space['step'])}"
    return text + (", log scale" if space.get("log") else "")


def _options_text(options: dict) -> str:
    rest = ", ".join(f"{k} {fmt.plain(v)}" for k, v in sorted(options.items()) if k != "name")
    name = str(options.get("name", "default"))
    return f"{name} ({rest})" if rest else name


def _states(states: Mapping[TrialState, int]) -> str:
    text = " / ".join(str(states[s]) for s in (TrialState.COMPLETE, TrialState.PRUNED,
                                                   TrialState.FAIL))
    unfinished = states[TrialState.RUNNING] + states[TrialState.WAITING]
    return text + (f" (+{unfinished} unfinished)" if unfinished else "")


def _best(trial) -> str:
    return fmt.DASH if trial is None else f"{fmt.percent(trial.value)} (#{trial.number})"


def _gap(trial, mean: float | None) -> str:
    return fmt.DASH if trial is None or mean is None else fmt.points(mean - trial.value)


def _versions(versions) -> str:
    if not versions:
        return NOT_RECORDED
    return ", ".join(f"{name} {version}" for name, version in versions.items())


def _history_figure(label: str, complete: list) -> go.Figure:
    numbers = [t.number for t in complete]
    values = [100 * t.value for t in complete]
    best = pd.Series(values).cummax()
    figure = go.Figure(
        [
            go.Scatter(x=numbers, y=values, mode="markers", name="complete trial",
                       marker={"color": "rgba(99, 110, 250, 0.55)", "size": 6},
                       hovertemplate="trial %{x}: %{y:.2f} %<extra></extra>"),
            go.Scatter(x=numbers, y=best, mode="lines", name="best so far",
                       line={"color": "#cf222e", "shape": "hv"}, hoverinfo="skip"),
        ]
    )
    figure.update_layout(
        title={"text": f"{label}: validation accuracy of the tuning trials",
               "subtitle": {"text": "dots: complete trials (not the pruned); line: best so far"}},
        xaxis_title="trial number", yaxis_title="validation accuracy (%)",
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


def _importance_figure(label: str, study: optuna.Study) -> go.Figure:
    """Hyperparameter importances; raises ValueError when the evaluator can only return ties."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure = plot_param_importances(study, target_name="validation accuracy")
    # Too few (or too similar) trials make the evaluator warn and return equal importances,
    # which would look like a real result on the page.
    for warning in caught:
        if "importances will be equal" in str(warning.message):
            raise ValueError(str(warning.message))
    figure.update_layout(
        title={"text": f"{label}: hyperparameter importances",
               "subtitle": {"text": "for validation accuracy; PED-ANOVA (Optuna's default), "
                                    "complete trials; sum 1"}},
        xaxis_title="importance",
    )
    return figure
