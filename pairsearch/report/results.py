"""The final stage's results read back: per-seed rows, learning curves, job counts, the report files.

The report's read layer: :func:`read_report_inputs` loads each study it needs from the storage
once and reads everything the report shows into plain data (frames and
:mod:`pairsearch.report.facts`); nothing after it sees an Optuna object or the storage.
Everything here only reads the storage; :func:`write_final_report` writes files, never the storage.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import optuna
import pandas as pd
from optuna.trial import TrialState

from pairsearch.defaults import DEFAULT_RECIPE, REPORTS_DIR
from pairsearch.errors import PairsearchError
from pairsearch.jobs import FinalPlan, StoredJob, plan_jobs
from pairsearch.records import run_facts
from pairsearch.report import writer
from pairsearch.report.facts import RecipePair, TuningFacts
from pairsearch.report.protocol import protocol
from pairsearch.report.studies import read_studies
from pairsearch.searches import final_seeds
from pairsearch.storage.handle import StorageHandle

RESULT_COLUMNS = ["arch", "search", "seed", "test_accuracy", "status", "seconds", "n_parameters", "params", "recipe",
                  "reruns"]
# What each final job records of its run (pairsearch.workers.final_worker.run_provenance); absent
# keys (older jobs) stay empty, never filled in from the process that reads them.
PROVENANCE_KEYS = ["device", "gpu", "cpu", "host", "worker", "threads", "pairsearch", "commit", "optuna", "torch",
                   "python", "started", "finished"]
CURVE_COLUMNS = ["arch", "search", "seed", "epoch", "train_loss", "train_accuracy", "test_accuracy", "digit_accuracy"]


def collect_results(
    *, storage: optuna.storages.BaseStorage, plans: list[FinalPlan], seeds: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-seed results and per-epoch curves of the current plans' finished jobs.

    Args:
        storage: The opened storage holding the ``<study>.final`` studies.
        plans: The plans whose jobs count (jobs of an earlier configuration stay out).
        seeds: Only the first ``seeds`` final seeds (:func:`pairsearch.searches.final_seeds`):
            jobs of an earlier run with more seeds, or of other seeds, stay out.

    Returns:
        ``(results, curves)``: one row per (arch, search, seed) — ``arch`` is the plan's label, a
        diverged job is a result too, with ``status`` diverged and no test accuracy — and one
        row per (arch, search, seed, epoch).
    """
    studies = load_studies(storage=storage, names=(plan.final_study_name for plan in plans))
    return _collect(studies=studies, plans=plans, seeds=seeds)


def load_studies(*, storage: optuna.storages.BaseStorage, names: Iterable[str]) -> dict[str, optuna.Study]:
    """Study name → the study, each loaded once."""
    return {name: optuna.load_study(study_name=name, storage=storage) for name in dict.fromkeys(names)}


def _collect(
    *, studies: Mapping[str, optuna.Study], plans: list[FinalPlan], seeds: int | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`collect_results` from the loaded ``<study>.final`` studies."""
    wanted = None if seeds is None else set(final_seeds(seeds))
    result_rows, curve_rows = [], []
    for plan in plans:
        for job in plan_jobs(study=studies[plan.final_study_name], plan=plan):
            if job.result is None or (wanted is not None and job.seed not in wanted):
                continue
            result_rows.append({**_result_row(plan=plan, job=job), "reruns": job.failed_attempts})
            curve_rows.extend(_curve_rows(plan=plan, seed=job.seed, trial=job.result))
    keys = ["arch", "search", "seed"]
    results = pd.DataFrame(result_rows, columns=RESULT_COLUMNS + PROVENANCE_KEYS)
    results = results.drop_duplicates(subset=keys).sort_values(keys)
    curves = pd.DataFrame(curve_rows, columns=CURVE_COLUMNS).drop_duplicates(subset=[*keys, "epoch"])
    return results.reset_index(drop=True), curves.reset_index(drop=True)


def _result_row(*, plan: FinalPlan, job: StoredJob) -> dict:
    trial = job.result
    facts = run_facts(trial)
    provenance = facts.provenance or {}
    return {
        "arch": plan.label, "search": plan.search, "seed": job.seed, "test_accuracy": trial.value,
        "status": facts.stop_reason or "completed", "seconds": facts.seconds,
        "n_parameters": facts.n_parameters, "params": json.dumps(plan.params, sort_keys=True),
        "recipe": plan.recipe.name,
        **{key: provenance.get(key) for key in PROVENANCE_KEYS},
    }


def _curve_rows(*, plan: FinalPlan, seed: int, trial: optuna.trial.FrozenTrial) -> list[dict]:
    return [
        {
            "arch": plan.label, "search": plan.search, "seed": seed, "epoch": epoch["epoch"], "train_loss": epoch["train_loss"],
            "train_accuracy": epoch["train_accuracy"], "test_accuracy": epoch["eval_accuracy"],
            "digit_accuracy": epoch["digit_accuracy"],
        }
        for epoch in run_facts(trial).history
    ]


TRIAL_COLUMNS = ["arch", "search", "number", "state", "value"]


def tuning_trials(*, studies: Mapping[str, optuna.Study], plans: list[FinalPlan]) -> pd.DataFrame:
    """Every finished trial of the plans' tuning studies (loaded, by name), for the budget curves.

    Returns:
        One row per complete or pruned trial with the columns :data:`TRIAL_COLUMNS`: ``arch`` is
        the plan's label; ``value`` the final validation accuracy, or a pruned trial's last
        reported one.
    """
    rows = []
    for plan in plans:
        study = studies[plan.study_name]
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
            value = trial.value if trial.state == TrialState.COMPLETE else _last_reported(trial)
            rows.append({"arch": plan.label, "search": plan.search, "number": trial.number,
                         "state": trial.state.name.lower(), "value": value})
    return pd.DataFrame(rows, columns=TRIAL_COLUMNS)


def _last_reported(trial: optuna.trial.FrozenTrial) -> float | None:
    steps = trial.intermediate_values
    return steps[max(steps)] if steps else None


def _recipe_pair(
    *, studies: Mapping[str, optuna.Study], plans: list[FinalPlan], baseline: list[FinalPlan], seeds: int
) -> RecipePair:
    """The reported recipe and the baseline's results, for the answer under both recipes."""
    recipe, default = plans[0].recipe, baseline[0].recipe
    name = recipe.name if recipe.name != default.name else f"{recipe.name} #{plans[0].recipe_record['hash'][:8]}"
    baseline_results, _ = _collect(studies=studies, plans=baseline, seeds=seeds)
    return RecipePair(recipe_name=name, recipe_summary=_summary(plans), baseline=default.name,
                      baseline_summary=_summary(baseline), baseline_results=baseline_results)


def _summary(plans: list[FinalPlan]) -> str:
    """``strong (25 epochs, …)``, with the epochs the jobs trained (``--epochs`` may differ)."""
    epochs = "/".join(str(e) for e in sorted({p.epochs for p in plans}))
    unit = "epoch" if epochs == "1" else "epochs"
    return f"{plans[0].recipe.name} ({epochs} {unit}, {plans[0].recipe.augmentation()})"


def default_report_dir() -> Path:
    """``storage/reports/<UTC timestamp>/``."""
    return REPORTS_DIR / datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def check_writable(out_dir: Path) -> None:
    """Fail before any training if the report cannot be written."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise PairsearchError(f"cannot write the report to {out_dir}: {error.strerror}") from None


@dataclass(frozen=True)
class ReportInputs:
    """Everything the report shows, read once from the storage (arguments of
    :func:`pairsearch.report.writer.write_report`)."""

    results: pd.DataFrame
    curves: pd.DataFrame
    protocol: dict
    studies: dict[str, TuningFacts]
    trials: pd.DataFrame
    recipes: RecipePair | None = None
    recipe_summary: str | None = None


def read_report_inputs(
    *, handle: StorageHandle, plans: list[FinalPlan], seeds: int, baseline: list[FinalPlan] | None = None
) -> ReportInputs:
    """Load each study the report needs once and read it into plain data.

    Args:
        handle: The storage, opened read-only here.
        plans: The plans whose results are reported.
        seeds: The first ``seeds`` final seeds of each search.
        baseline: Plans of the same studies under the recipe they were tuned with (None: none).

    Returns:
        The :class:`ReportInputs`.

    Raises:
        PairsearchError: No final job has finished.
    """
    storage = handle.open(readonly=True)
    finals = [plan.final_study_name for plan in [*plans, *(baseline or [])]]
    loaded = load_studies(storage=storage, names=[*finals, *(plan.study_name for plan in plans)])
    results, curves = _collect(studies=loaded, plans=plans, seeds=seeds)
    if results.empty:
        raise PairsearchError("no finished final jobs to report yet")
    tuned = {plan.study_name: loaded[plan.study_name] for plan in plans}
    named = baseline or any(plan.recipe.name != DEFAULT_RECIPE or plan.recipe.training_changes() for plan in plans)
    return ReportInputs(
        results=results, curves=curves, protocol=protocol(handle=handle, plans=plans, seeds=seeds, studies=tuned),
        studies=read_studies(studies=tuned), trials=tuning_trials(studies=tuned, plans=plans),
        recipes=_recipe_pair(studies=loaded, plans=plans, baseline=baseline, seeds=seeds) if baseline else None,
        recipe_summary=_summary(plans) if named else None,
    )


def write_final_report(
    *, handle: StorageHandle, plans: list[FinalPlan], seeds: int, out_dir: Path,
    baseline: list[FinalPlan] | None = None,
) -> str:
    """Read the results once, write every report file, and return the summary in Markdown.

    Args:
        handle: The storage.
        plans: The plans whose results are reported.
        seeds: The first ``seeds`` final seeds of each search.
        out_dir: The report folder.
        baseline: Plans of the same studies under the recipe they were tuned with: where given,
            the answer is also shown under that recipe, from whichever of its jobs have finished.

    Returns:
        The summary (summary.md) in Markdown.
    """
    inputs = read_report_inputs(handle=handle, plans=plans, seeds=seeds, baseline=baseline)
    try:
        paths = writer.write_report(
            out_dir=out_dir, results=inputs.results, curves=inputs.curves, protocol=inputs.protocol,
            studies=inputs.studies, recipes=inputs.recipes, recipe_summary=inputs.recipe_summary,
            trials=inputs.trials,
        )
    except OSError as error:
        raise PairsearchError(f"cannot write the report to {out_dir}: {error.strerror}") from None
    return paths["summary_md"].read_text(encoding="utf-8")
