"""Where the numbers come from: the tuning of each arch, and the machines and versions of the runs.

Tuning facts come from the :class:`~pairsearch.report.facts.TuningFacts` records (read once
from the studies by :mod:`pairsearch.report.studies`, with what each tuning worker recorded of
itself) and the analysis's final-versus-tuning numbers. Run facts are the per-job columns of the results (:data:`RUN_COLUMNS`); absent columns
are "not recorded", never filled in from the process that writes the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from pairsearch.report import formatting as fmt
from pairsearch.report.facts import TUNING_RECORD_FACTS, WRITER_KEYS, TuningFacts, TuningRecord
from pairsearch.report.run_record import FACT_COLUMNS, NOT_RECORDED, RunRecord

# Protocol keys about the writing process: those the read layer writes, and (from callers that
# pass their own protocol) any named like a per-job fact, or ``date (UTC)``.
WRITER_PROTOCOL_KEYS = {*WRITER_KEYS, *FACT_COLUMNS, "date (UTC)"}
PREDATES = f"{NOT_RECORDED} (these jobs predate per-job records)"
TUNING_RECORD_ROWS = {"commit": "Tuned at commit", "cpu": "Tuning CPU", "device": "Tuning device",
                      "threads": "Torch threads per tuning worker"}


def tuning_table(
    *, studies: Mapping[str, TuningFacts], tuning: pd.DataFrame, archs: Sequence[str],
    final_recipe_name: str | None = None, final_epochs: Mapping[str, int] | None = None,
) -> str:
    """One column per arch: trials, compute, best validation against final test, size, and what
    its tuning workers recorded of themselves (commit, CPU, device, threads, workers, dates).

    The best validation and final test cells say the recipe and epochs each trained under, and
    the gap says when they differ: then it is not only the optimism of choosing on validation.

    Args:
        studies: Label → its tuning study's record.
        tuning: The analysis's final-versus-tuning numbers per label
            (:attr:`pairsearch.report.analysis.Analysis.tuning`).
        archs: The labels, in the report's order.
        final_recipe_name: The final runs' recipe, by name (None: not recorded).
        final_epochs: Label → epochs of its final runs (absent: not known).

    Returns:
        HTML.
    """
    labels = [arch for arch in archs if arch in studies]
    final = tuning.reindex(labels)
    tuned = {a: (studies[a].recipe_name, studies[a].spec.get("epochs")) for a in labels}
    finals = {a: (final_recipe_name, (final_epochs or {}).get(studies[a].group or a)) for a in labels}  # per label
    rows = {
        "Trials complete / pruned / failed": [_states(studies[a].states) for a in labels],
        "Epochs trained": [f"{studies[a].epochs:,}" if studies[a].epochs is not None
                           else fmt.DASH for a in labels],
        "Training time (Σ epochs × s/epoch)": [fmt.duration(studies[a].training_seconds) for a in labels],
        "Trial time (Σ wall clock)": [fmt.duration(studies[a].wall_seconds) for a in labels],
        "Best validation accuracy (%)": [(_best(studies[a]), _trained(tuned[a])) for a in labels],
        "Final test accuracy, mean (%)": [(fmt.percent(final.loc[a, "final_mean"]), _trained(finals[a]))
                                          for a in labels],
        "Final test − best validation (points)": [
            (fmt.points(final.loc[a, "final_minus_best"]), "different training" if _differ(tuned[a], finals[a]) else "")
            for a in labels],
        "Parameters (final configuration)": [fmt.count(final.loc[a, "n_parameters"]) for a in labels],
        "Final run time (mean)": [fmt.duration(final.loc[a, "mean_seconds"]) for a in labels],
        **{TUNING_RECORD_ROWS[fact]: [_recorded_values(studies[a].record, fact=fact) for a in labels]
           for fact in TUNING_RECORD_FACTS},
        "Tuning workers": [_tuning_workers(studies[a].record) for a in labels],
        "Tuning dates": [_tuning_dates(studies[a]) for a in labels],
    }
    if any(studies[a].study_name != a for a in labels):  # only worth a row when they differ
        rows = {"Tuning study": [studies[a].study_name for a in labels], **rows}
    return fmt.table(headers=["", *labels], rows=[[name, *cells] for name, cells in rows.items()],
                     numeric=range(1, len(labels) + 1), css_class="ps-transposed")


def _recorded_values(record: TuningRecord, *, fact: str) -> str:
    """``abc1234``, or with several values each with its workers: ``abc1234 (2 workers); def5678 (1 worker)``."""
    values = record.facts.get(fact, ())
    if not values:
        return NOT_RECORDED
    if len(values) == 1:
        return values[0][0]
    return "; ".join(f"{value} ({_workers_count(count)})" for value, count in values)


def _tuning_workers(record: TuningRecord) -> str:
    if not record.workers:
        return NOT_RECORDED
    return f"{record.workers} worker process{'' if record.workers == 1 else 'es'}"


def _workers_count(count: int) -> str:
    return "1 worker" if count == 1 else f"{count} workers"


def _tuning_dates(study: TuningFacts) -> str | tuple[str, str]:
    """The workers' recorded dates (UTC); else the trials' own times, labelled as such."""
    record = study.record
    if record.first_start is not None and record.last_finish is not None:
        return f"{_minute(record.first_start)} – {_minute(record.last_finish)} UTC"
    if study.trial_dates is not None:
        return f"{study.trial_dates[0]} – {study.trial_dates[1]}", "the trials' times (the workers' clock)"
    return NOT_RECORDED


def settings_table(*, studies: Mapping[str, TuningFacts], archs: Sequence[str]) -> str:
    """The stored search space, sampler and pruner, each setting with the studies that used it."""
    labels = [arch for arch in archs if arch in studies]
    by_setting: dict[tuple[str, str], list[str]] = {}
    for label in labels:
        for name, text in _spec_settings(studies[label].spec, seeding=studies[label].sampler_seeding):
            by_setting.setdefault((name, text), []).append(label)
    for label in labels:
        study = studies[label]
        by_setting.setdefault(("trials trained under", f"recipe {study.recipe_name} ({study.recipe_augmentation})"),
                              []).append(label)
        by_setting.setdefault(("tuned with", _versions(study.versions)), []).append(label)
    study_wide = ("epochs per trial", "trials trained under", "sampler", "pruner", "tuned with")
    ordered = sorted(by_setting.items(), key=lambda item: item[0][0] in study_wide)  # stable
    rows = [
        [name, text, "all" if studies == labels else ", ".join(studies)]
        for (name, text), studies in ordered
    ]
    return fmt.table(headers=["Setting", "Stored value", "Studies"], rows=rows)


def run_provenance_table(*, record: RunRecord) -> tuple[str, list[str]]:
    """Each fact the jobs recorded, with the archs and job counts per value; then their dates,
    workers and reruns.

    Returns:
        The table, and one sentence for each fact that differs across jobs.
    """
    rows, differing = [], []
    for fact in record.facts:
        if not fact.values:
            rows.append([fact.column, PREDATES])
            continue
        if len(fact.values) == 1:
            rows.append([fact.column, f"{fact.values[0][0]} (all {_jobs(fact.values[0][2])})"])
            continue
        parts = [f"{value}: {', '.join(archs)} ({_jobs(jobs)})" for value, archs, jobs in fact.values]
        rows.append([fact.column, "; ".join(parts)])
        differing.append(f"The {fact.column} differs across jobs: {'; '.join(parts)}.")
    rows += [["run dates (UTC)", _dates(record)], ["workers", _workers(record)],
             ["failed and re-run", _reruns(record)]]
    return fmt.table(headers=["Recorded by each job", "Value (archs, jobs)"], rows=rows), differing


def _dates(record: RunRecord) -> str:
    if record.first_start is None or record.last_finish is None:
        return PREDATES
    span = f"{_minute(record.first_start)} – {_minute(record.last_finish)}"
    return span + ("" if record.dated_jobs == record.jobs else f" ({record.dated_jobs} of {_jobs(record.jobs)} dated)")


def _minute(stamp: str) -> str:
    """``2026-12-02T22:40:57Z`` → ``2026-12-02 22:40``."""
    return stamp.replace("T", " ")[:16]


def _workers(record: RunRecord) -> str:
    if record.workers is None:
        return PREDATES
    counted = "" if record.worker_jobs == record.jobs else f" (counted over the {_jobs(record.worker_jobs)} that recorded it)"
    return f"{record.workers} worker process{'' if record.workers == 1 else 'es'}{counted}"


def _reruns(record: RunRecord) -> str:
    if record.reruns is None:
        return NOT_RECORDED
    return f"{_jobs(record.reruns)} failed (interrupted, or a worker died) and ran again"


def protocol_tables(*, protocol: Mapping[str, object]) -> tuple[str, str]:
    """The protocol's facts about the experiment, and apart, those about the writing process."""
    experiment = [[str(k), fmt.plain(v)] for k, v in protocol.items() if k not in WRITER_PROTOCOL_KEYS]
    writer = [[str(k), fmt.plain(v)] for k, v in protocol.items() if k in WRITER_PROTOCOL_KEYS]
    return (
        fmt.table(headers=["Item", "Value"], rows=experiment),
        fmt.table(headers=["Process that wrote this report", "Value"], rows=writer)
        if writer else "",
    )


def _differ(tuned: tuple, final: tuple) -> bool:
    """Whether a recipe or epoch count known for both differs (unknown is not different)."""
    return any(a is not None and b is not None and a != b for a, b in zip(tuned, final, strict=True))


def _trained(recipe_name_and_epochs: tuple[str | None, int | None]) -> str:
    """``recipe strong, 25 epochs`` (what is not known is left out)."""
    recipe_name, epochs = recipe_name_and_epochs
    parts = ([f"recipe {recipe_name}"] if recipe_name else []) + ([f"{epochs} epochs"] if epochs is not None else [])
    return ", ".join(parts)


def _jobs(count: int) -> str:
    return "1 job" if count == 1 else f"{count} jobs"


def _spec_settings(spec: dict, *, seeding: str):
    for space in spec.get("space", []):
        yield space["name"], _space_text(space)
    for name, value in spec.get("fixed", {}).items():
        yield name, f"fixed at {fmt.plain(value)}"
    yield "epochs per trial", str(spec.get("epochs", fmt.DASH))
    yield "sampler", _sampler_text(spec.get("sampler") or {}, seeding=seeding)
    yield "pruner", _options_text(spec.get("pruner") or {})


def _sampler_text(sampler: dict, *, seeding: str) -> str:
    """The sampler with the settings it uses (TPE's start-up trials mean nothing to random
    sampling) and how it was seeded; the seed itself is in the seeding."""
    used = {k: v for k, v in sampler.items() if k != "seed" and (k != "n_startup_trials" or sampler.get("name") == "tpe")}
    return _options_text(used) + (f"; {seeding}" if seeding else "")


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


def _states(states: Mapping[str, int]) -> str:
    text = " / ".join(str(states[state]) for state in ("complete", "pruned", "fail"))
    unfinished = states["running"] + states["waiting"]
    return text + (f" (+{unfinished} unfinished)" if unfinished else "")


def _best(study: TuningFacts) -> str:
    return fmt.DASH if study.best_value is None else f"{fmt.percent(study.best_value)} (#{study.best_number})"


def _versions(versions) -> str:
    if not versions:
        return NOT_RECORDED
    return ", ".join(f"{name} {version}" for name, version in versions.items())
