"""The final stage: each arch's best configuration retrained over paired seeds, as jobs.

Jobs live in the same storage as the tuning, as enqueued trials of a companion study
``<study>.final`` (one per seed). Any number of workers on any host run them with the same
lock, heartbeat and retry as tuning; a rerun only trains what is missing. A job is tied to its
configuration by a hash, so when a study's best trial changes, new jobs are made and old
results are never mixed in.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from pairsearch.errors import PairsearchError
from pairsearch.storage import BudgetLock, OutageBackoff, is_storage_outage, open_storage, redact
from pairsearch.tuning import (
    Counts,
    SurplusTrial,
    load_or_create_study,
    name_objective,
    run_one_trial,
    start_processes,
    worker_exit_code,
)

FINAL_SUFFIX = ".final"
METRIC_NAME = "test accuracy"
WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class FinalPlan:
    """What one arch's final jobs train: the tuned study's best params, at fixed epochs."""

    study_name: str
    arch: str
    params: dict
    epochs: int
    data_source: str
    data_fingerprint: str
    best_trial: int

    @property
    def config_hash(self) -> str:
        config = [self.arch, self.params, self.epochs, self.data_fingerprint]
        return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def final_study_name(self) -> str:
        return self.study_name + FINAL_SUFFIX

    @property
    def label(self) -> str:
        """The report's name for these runs: the study's (the arch's unless tuned with --study),
        so two studies of one arch are reported apart."""
        return self.study_name


def tuned_study_names(*, storage) -> list[str]:
    """Every pairsearch tuning study in the storage (not the final companions)."""
    return [
        summary.study_name
        for summary in optuna.get_all_study_summaries(storage=storage, include_best_trial=False)
        if summary.user_attrs.get("pairsearch") and not summary.study_name.endswith(FINAL_SUFFIX)
    ]


def make_plan(*, storage, study_name: str, epochs: int | None) -> FinalPlan:
    """The plan for one tuned study: its best complete trial's params."""
    from pairsearch.models import resolve_params

    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise PairsearchError(f"no study {study_name!r} in this storage; see 'pairsearch status'") from None
    attrs = study.user_attrs
    if not attrs.get("pairsearch"):
        raise PairsearchError(f"study {study_name!r} was not made by pairsearch tune")
    if attrs.get("kind") == "final":
        raise PairsearchError(
            f"study {study_name!r} holds final-report jobs; name its tuning study "
            f"{attrs.get('tuning_study')!r} instead"
        )
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise PairsearchError(f"study {study_name!r} has no complete trial yet; tune it first")
    best = max(complete, key=lambda trial: trial.value)
    spec = json.loads(attrs["spec"])
    params = resolve_params(arch=attrs["arch"], overrides={**spec.get("fixed", {}), **best.params})
    return FinalPlan(
        study_name=study_name, arch=attrs["arch"], params=params, epochs=epochs or attrs["epochs"],
        data_source=attrs["data_source"], data_fingerprint=attrs["data_fingerprint"],
        best_trial=best.number,
    )


def is_done_or_queued(trial: optuna.trial.FrozenTrial) -> bool:
    """A job that needs no new copy: finished, queued, running, or diverged (a result too)."""
    if trial.state in (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING):
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get("stop_reason") == "diverged"


def ensure_jobs(*, storage, url: str, plan: FinalPlan, seeds: int) -> tuple[int, list[str]]:
    """Enqueue the missing seeds of ``plan`` (idempotent). Returns (jobs added, notes for the user)."""
    study = load_or_create_study(storage=storage, study_name=plan.final_study_name)
    notes = []
    with BudgetLock(url=url, study_name=plan.final_study_name).hold():
        if not study.user_attrs.get("pairsearch"):
            _label_final_study(study=study, plan=plan)
        trials = study.get_trials(deepcopy=False)
        hashes = {t.user_attrs.get("config_hash") for t in trials}
        if hashes - {plan.config_hash, None} and plan.config_hash not in hashes:  # say it once
            notes.append(
                f"{plan.study_name}: its best trial (now #{plan.best_trial}) or the epochs changed since "
                "earlier final jobs were made; making new jobs, the old results are kept but not used"
            )
        have = {
            t.user_attrs.get("seed") for t in trials
            if t.user_attrs.get("config_hash") == plan.config_hash and is_done_or_queued(t)
        }
        missing = [seed for seed in range(seeds) if seed not in have]
        for seed in missing:
            study.enqueue_trial({}, user_attrs=job_attrs(plan=plan, seed=seed))
    return len(missing), notes


def _label_final_study(*, study: optuna.Study, plan: FinalPlan) -> None:
    study.set_user_attr("pairsearch", True)
    study.set_user_attr("kind", "final")
    study.set_user_attr("arch", plan.arch)
    study.set_user_attr("tuning_study", plan.study_name)
    name_objective(study=study, name=METRIC_NAME)


def job_attrs(*, plan: FinalPlan, seed: int) -> dict:
    return {
        "seed": seed, "arch": plan.arch, "params": plan.params, "epochs": plan.epochs,
        "config_hash": plan.config_hash, "data_source": plan.data_source,
        "data_fingerprint": plan.data_fingerprint, "best_trial": plan.best_trial,
    }


# --- the job worker --------------------------------------------------------------------------


@dataclass(frozen=True)
class FinalJob:
    url: str
    data_dir: Path
    study_names: tuple[str, ...] | None = None  # None: every final study in the storage
    device: str = "cpu"
    threads: int = 1


def final_study_names(*, storage) -> list[str]:
    return [
        summary.study_name
        for summary in optuna.get_all_study_summaries(storage=storage, include_best_trial=False)
        if summary.study_name.endswith(FINAL_SUFFIX)
    ]


def job_decision(counts: Counts) -> str:
    """Run while jobs wait; wait while some run (a killed one may come back); else done."""
    if counts.waiting:
        return "run"
    return "full" if counts.running else "done"


def make_job_objective(*, data_dir: Path, device):
    """Train one seeded job on the final protocol; the value is test accuracy after the last epoch."""
    from pairsearch.data import final_split, load_pools
    from pairsearch.training import train_run

    pools_by_source = {}

    def objective(trial: optuna.Trial) -> float:
        job = trial.user_attrs
        if "seed" not in job:  # only possible without a shared lock (gRPC): not a real job
            trial.set_user_attr("stop_reason", "no job")
            raise SurplusTrial("no waiting job")
        source = job["data_source"]
        if source not in pools_by_source:
            pools_by_source[source] = load_pools(source=source, data_dir=data_dir)
        pools = pools_by_source[source]
        if pools.fingerprint != job["data_fingerprint"]:
            raise PairsearchError(
                f"this worker's {source} data ({pools.fingerprint}) differs from the study's "
                f"({job['data_fingerprint']}); it refuses to run"
            )
        started = time.perf_counter()
        result = train_run(
            arch=job["arch"], params=job["params"], split=final_split(pools=pools, seed=job["seed"]),
            epochs=job["epochs"], seed=job["seed"], device=device,
        )
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 3))
        trial.set_user_attr("n_parameters", result.n_parameters)
        trial.set_user_attr("history", result.history_dicts())
        trial.set_user_attr("stop_reason", result.status)
        return math.nan if result.final_accuracy is None else result.final_accuracy

    return objective


def run_final_worker(job: FinalJob) -> int:
    """One worker process: run waiting jobs of every final study until none are left."""
    return worker_exit_code(lambda: run_jobs(job=job))


def run_jobs(*, job: FinalJob) -> None:
    from pairsearch.training import resolve_device, set_threads

    set_threads(job.threads)
    objective = make_job_objective(data_dir=job.data_dir, device=resolve_device(job.device))
    storage = open_storage(url=job.url)
    names = list(job.study_names) if job.study_names else final_study_names(storage=storage)
    pending = {name: optuna.load_study(study_name=name, storage=storage) for name in names}
    outage = OutageBackoff()
    while pending:
        waiting = False
        for name, study in list(pending.items()):
            lock = BudgetLock(url=job.url, study_name=name)
            try:
                outcome = run_one_trial(study=study, objective=objective, lock=lock, decide=job_decision)
            except Exception as error:
                if not is_storage_outage(error):
                    raise
                outage.wait(error)  # a job in flight is retried by the heartbeat sweep
                waiting = True
                continue
            outage.reset()
            if outcome == "done":
                del pending[name]
            waiting = waiting or outcome == "full"
        if waiting and pending:
            time.sleep(WAIT_SECONDS)


def _final_worker_entry(job: FinalJob) -> None:
    sys.exit(run_final_worker(job))


def start_final_workers(*, job: FinalJob, workers: int):
    return start_processes(target=_final_worker_entry, arg=job, count=workers)


# --- results ---------------------------------------------------------------------------------


def collect_results(*, storage, plans: list[FinalPlan], seeds: int | None = None):
    """Per-seed results and per-epoch curves of the current plans' finished jobs (DataFrames).

    With ``seeds``, only seeds 0…seeds-1 (jobs of an earlier run with more seeds stay out).
    A diverged job is a result too: its row has ``status`` diverged and no test accuracy.
    """
    import pandas as pd

    result_rows, curve_rows = [], []
    for plan in plans:
        study = optuna.load_study(study_name=plan.final_study_name, storage=storage)
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
            attrs = trial.user_attrs
            if attrs.get("config_hash") != plan.config_hash or not is_done_or_queued(trial):
                continue
            if seeds is not None and attrs["seed"] >= seeds:
                continue
            result_rows.append({
                "arch": plan.label, "seed": attrs["seed"], "test_accuracy": trial.value,
                "status": attrs.get("stop_reason", "completed"), "seconds": attrs.get("seconds"), "n_parameters": attrs.get("n_parameters"),
                "params": json.dumps(plan.params, sort_keys=True),
            })
            for epoch in attrs.get("history", []):
                curve_rows.append({
                    "arch": plan.label, "seed": attrs["seed"], "epoch": epoch["epoch"],
                    "train_loss": epoch["train_loss"], "train_accuracy": epoch["train_accuracy"],
                    "test_accuracy": epoch["eval_accuracy"], "digit_accuracy": epoch["digit_accuracy"],
                })
    columns = ["arch", "seed", "test_accuracy", "status", "seconds", "n_parameters", "params"]
    results = pd.DataFrame(result_rows, columns=columns)
    results = results.drop_duplicates(subset=["arch", "seed"]).sort_values(["arch", "seed"])
    curves = pd.DataFrame(curve_rows).drop_duplicates(subset=["arch", "seed", "epoch"]) if curve_rows else pd.DataFrame(
        columns=["arch", "seed", "epoch", "train_loss", "train_accuracy", "test_accuracy", "digit_accuracy"]
    )
    return results.reset_index(drop=True), curves.reset_index(drop=True)


def job_counts(*, storage, plans: list[FinalPlan]) -> dict[str, tuple[int, int]]:
    """arch → (finished jobs, all jobs) of the current plans, for the progress display."""
    counts = {}
    for plan in plans:
        study = optuna.load_study(study_name=plan.final_study_name, storage=storage)
        mine = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("config_hash") == plan.config_hash]
        finished = sum(1 for t in mine if t.state == TrialState.COMPLETE or (
            t.state == TrialState.FAIL and t.user_attrs.get("stop_reason") == "diverged"))
        queued = sum(1 for t in mine if t.state in (TrialState.WAITING, TrialState.RUNNING))
        counts[plan.label] = (finished, finished + queued)
    return counts


def protocol(*, plans: list[FinalPlan], storage, seeds: int, url: str, device: str) -> dict:
    """The facts a reader needs to reproduce the comparison."""
    import datetime
    import platform

    import torch

    from pairsearch import __version__

    trials = {}
    for plan in plans:
        study = optuna.load_study(study_name=plan.study_name, storage=storage)
        states = (TrialState.COMPLETE, TrialState.PRUNED)
        trials[plan.label] = len(study.get_trials(deepcopy=False, states=states))
    first = plans[0]
    return {
        "data source": first.data_source,
        "data fingerprint": ", ".join(sorted({p.data_fingerprint for p in plans})),
        "training pairs per seed": 1000,
        "test pairs per seed": 1000,
        "epochs": ", ".join(f"{p.label} {p.epochs}" for p in plans),
        "seeds": f"0…{seeds - 1} (the same for every arch: paired)",
        "reported": "test accuracy after the last epoch",
        "tuning trials (finished)": ", ".join(f"{arch} {n}" for arch, n in trials.items()),
        "storage": redact(url),
        "device": device,
        "pairsearch": __version__, "optuna": optuna.__version__, "torch": torch.__version__,
        "python": platform.python_version(),
        "date (UTC)": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
    }


def default_report_dir() -> Path:
    import datetime

    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path("storage/reports") / stamp


def check_writable(out_dir: Path) -> None:
    """Fail before any training if the report cannot be written."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise PairsearchError(f"cannot write the report to {out_dir}: {error.strerror}") from None


def check_local_data(*, plan: FinalPlan, data_dir: Path) -> None:
    """The local data must be the study's, or the comparison would not be the one tuned for."""
    from pairsearch.data import load_pools

    pools = load_pools(source=plan.data_source, data_dir=data_dir)
    if pools.fingerprint != plan.data_fingerprint:
        raise PairsearchError(
            f"{plan.study_name} was tuned on {plan.data_source} {plan.data_fingerprint}, "
            f"but the data here is {pools.fingerprint}"
        )


def write_final_report(
    *, storage, url: str, plans: list[FinalPlan], seeds: int, out_dir: Path, device: str
) -> str:
    """Collect results, write every report file, and return the summary table in Markdown."""
    from pairsearch import report, stats

    results, curves = collect_results(storage=storage, plans=plans, seeds=seeds)
    if results.empty:
        raise PairsearchError("no finished final jobs to report yet")
    studies = {plan.label: optuna.load_study(study_name=plan.study_name, storage=storage) for plan in plans}
    try:
        report.write_report(
            out_dir=out_dir, results=results, curves=curves,
            protocol=protocol(plans=plans, storage=storage, seeds=seeds, url=url, device=device),
            studies=studies,
        )
    except OSError as error:
        raise PairsearchError(f"cannot write the report to {out_dir}: {error.strerror}") from None
    return report.summary_markdown(summary=stats.summarize(results=results))
