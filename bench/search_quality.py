"""search_quality: how good is the configuration a search strategy picks, for the same compute?

The figure an optimisation tool owes its users: not the best validation accuracy a search
reports, but the *test* accuracy of the configuration it chooses, with the compute it used.

A *strategy* is a sampler, a pruner and a selection rule (:data:`STRATEGIES`): the shipped one
(the ``[sampler]`` and ``[pruner]`` of ``studies/ARCH.toml``, best trial) and, each with TPE
(the sampler the full run measured them with), the median pruner with a longer warm-up,
successive halving, Hyperband, no pruning, the shipped pruner, and the shipped pruner's search
whose top few trials are re-scored on extra tuning splits (validation pairs only) before
choosing.

For every arch and strategy, ``searches`` independent searches: search *i* is pairsearch's
search *i* + 1 (:mod:`pairsearch.searches`): its tuning split and its per-trial sampler seeds
come from the seed sequence keyed by it, so no two searches share a draw, and the same *i* for
every strategy, so strategies are compared search by search (paired). Every search of one (arch, *i*) gets
the same compute, counted in trained epochs: the shipped strategy's search runs
``reference_trials`` trials, and every other strategy trains until it has spent as many
epochs (a trial still running when the last epoch is spent is stopped there, so the totals
match exactly; the re-scoring rule spends part of the budget on its re-scoring). The chosen
configuration is then trained on final seeds 3000 … 3000+F−1 on the final protocol (fresh
training pairs, test pairs, accuracy after the last epoch), the same seeds for every strategy
and apart from the report's final seeds (1000…): a method choice is never scored on the pairs
the report uses.

Figures per arch and strategy, and over the archs (every arch's searches pooled): mean test
accuracy of the chosen configuration (mean over the final seeds) with a 95 % t interval over
searches; its paired difference from the shipped strategy (CI, share of searches it
wins); compute per search (epochs, training seconds); and the optimism — the chosen trial's
validation accuracy − its test accuracy.

Every search is pairsearch's own tuning machinery, in one worker process with one torch
thread: a study file written for it (``studies/ARCH.toml`` with the strategy's ``[sampler]``
and ``[pruner]``, checked by the study-file loader), the study made by
:func:`pairsearch.tuning_setup.prepare_study`, trials claimed by the runtime's locked loop and
trained by tune's objective (report and prune every epoch). The shipped strategy's search *is*
:func:`pairsearch.tuning.run_trials`; the others run the same loop with an epoch budget. One
worker per search keeps its trial sequence deterministic; searches run side by side,
``--workers`` at a time.

Modes (``python -m bench.search_quality --full|--quick|--toy``; ``python -m bench`` runs the
quick or full one):

* full — the real setting: the shipped study files as they are (10 epochs, the shipped
  spaces and TPE start-up), archs ``base`` and ``sep_aux``, 2 searches per strategy, a budget
  of the epochs 200 shipped trials spend (656 for ``base``, 854 for ``sep_aux`` in search 0),
  the top 3 re-scored on 2 extra splits, 5 final seeds. Measured cost on 2 cores: search 0 of
  both archs (the first 13 of its 14 searches) took about 2 hours — a ``base`` search 16–33 minutes, a ``sep_aux``
  one 5–16 minutes, on one core each; search 1 draws larger configurations (``base``'s
  shipped search 1 averaged 9 s per epoch on a busy box, about an hour a search). Five
  searches per strategy (70 searches) were planned; the run was cut to three after search
  0's pace, then to two after search 1's first hour (28 searches, about 9 hours in all), each
  time before any record of search 1 existed, so neither cut can favour a strategy. About
  0.5 hour on a 16-core GPU machine with ``--device cuda --workers 14``. Resumable:
  storages and one record per finished search live in ``--out`` (default
  ``bench/results/search_quality/full``, records committed); a re-run skips finished
  searches and continues unfinished ones from their storages (a search whose storage is
  gone starts again from its seeds). A search an hour or more long is continued across
  sessions by committing its storage, brought to rest in one file (``--rest``), with ``git add -f``: the
  trial the stop cut is failed by the heartbeat and retried, its epochs counted in the
  search's spend (at most 10 of its 656–854), and the resumed sampler draws afresh from
  its seed, so it is a search with the same budget, not the uninterrupted one.
* quick — the same strategies, reduced (:data:`SIZES` says how): the pruning figure's
  narrowed space and 6 epochs (``bench/pruning.py``), TPE after 6 trials, 5 searches, a
  budget of 20 shipped trials, the top 3 re-scored on 1 extra split, 3 final seeds: 312 s on a
  quiet 2-core box (measured 2026-11-29; 70 searches of ~69 + 18 final epochs). Its
  numbers are a smoke test of the machinery, not evidence for a default.
* toy — tiny widths and 2 epochs, 2 searches: what the tests and a code check run.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bench.common import REPO, BenchError, Context, shipped_study, write_study_file
from bench.pruning import QUICK_EPOCHS, QUICK_SPACE
from pairsearch.searches import tuning_seed

ARCHS = ("base", "sep_aux")  # without and with the auxiliary digit loss
REFERENCE = "shipped"  # the strategy whose spend sets every search's epoch budget
RESCORE_SEED_BASE = 2000  # the re-scoring rule's extra tuning splits (validation pairs only)
FINAL_SEED_BASE = 3000  # the chosen configuration's final runs: apart from the report's 1000…
CONFIDENCE = 0.95
STUDY = "search"  # the study name in each search's own storage
# One folder per size under it. The full run's records (one small JSON per finished search) are
# committed, so a run spread over several sessions resumes; storages and study files are not
# (.gitignore): a search stopped part-way starts again from its seeds.
DEFAULT_OUT = REPO / "bench" / "results" / "search_quality"


# --- strategies ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Strategy:
    """A sampler, a pruner and a selection rule.

    Attributes:
        name: Short name used in file names and tables.
        sampler: Keys that replace the shipped ``[sampler]`` table's.
        pruner: The ``[pruner]`` table; None for the shipped study file's.
        rescore: Choose by re-scoring the top trials on extra tuning splits (else: best trial).
    """

    name: str
    sampler: dict = field(default_factory=dict)
    pruner: dict | None = None
    rescore: bool = False


# TPE as the study files had it until the full run chose random sampling (bench/RESULTS.md): the
# alternatives keep the sampler they were measured with.
TPE = {"name": "tpe", "n_startup_trials": 20}

STRATEGIES = (
    Strategy(REFERENCE),
    Strategy("median_5_4", sampler=TPE, pruner={"name": "median", "n_startup_trials": 5, "n_warmup_steps": 4}),
    Strategy("halving", sampler=TPE, pruner={"name": "successive_halving", "reduction_factor": 3}),
    Strategy("hyperband", sampler=TPE, pruner={"name": "hyperband", "reduction_factor": 3}),
    Strategy("no_pruning", sampler=TPE, pruner={"name": "none"}),
    Strategy("tpe", sampler=TPE),
    Strategy("rescore", sampler=TPE, rescore=True),
)


# --- sizes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    """How big one run is; ``epochs``, ``space`` and ``tpe_startup`` narrow the shipped study.

    Attributes:
        name: full, quick or toy.
        archs: The archs compared.
        searches: Independent searches per arch and strategy.
        reference_trials: The budget: the epochs the shipped strategy spends in this many trials.
        final_seeds: Final-protocol seeds each chosen configuration is trained on.
        rescore_top: Candidates the re-scoring rule re-trains.
        rescore_splits: Extra tuning splits each candidate is re-trained on.
        epochs: Epochs per trial (None: the study file's).
        space: Search ranges that replace the study file's.
        tpe_startup: TPE's random start-up trials (None: the study file's).
    """

    name: str
    archs: tuple[str, ...]
    searches: int
    reference_trials: int
    final_seeds: int
    rescore_top: int
    rescore_splits: int
    epochs: int | None = None
    space: dict = field(default_factory=dict)
    tpe_startup: int | None = None

    def reductions(self) -> str:
        """What this size changes from the real setting, in words ('' for the full size)."""
        if self.name == "full":
            return ""
        ranges = ", ".join(f"{name} {describe_range(table)}" for name, table in self.space.items())
        return (f"{self.name} mode, reduced: {self.epochs} epochs, {ranges}, TPE after {self.tpe_startup} "
                f"trials; {len(self.archs)} archs × {self.searches} searches; budget = epochs of "
                f"{self.reference_trials} shipped trials; top {self.rescore_top} re-scored on "
                f"{self.rescore_splits} split(s); {self.final_seeds} final seeds — a smoke test, not "
                "evidence for a default")


TOY_SPACE = {
    "channels": {"type": "int", "low": 4, "high": 6},
    "hidden": {"type": "int", "low": 8, "high": 16, "log": True},
    "lr": {"type": "float", "low": 3e-3, "high": 1e-2, "log": True},  # learns something in 2 epochs
    "batch_size": {"type": "categorical", "choices": [100]},
}
SIZES = {
    "full": Size("full", archs=ARCHS, searches=2, reference_trials=200, final_seeds=5, rescore_top=3,
                 rescore_splits=2),
    "quick": Size("quick", archs=ARCHS, searches=5, reference_trials=20, final_seeds=3, rescore_top=3,
                  rescore_splits=1, epochs=QUICK_EPOCHS, space=QUICK_SPACE, tpe_startup=6),
    "toy": Size("toy", archs=ARCHS, searches=2, reference_trials=4, final_seeds=2, rescore_top=2,
                rescore_splits=1, epochs=2, space=TOY_SPACE, tpe_startup=2),
}


def describe_range(table: dict) -> str:
    if table["type"] == "categorical":
        return "/".join(map(str, table["choices"]))
    return f"{table['low']}–{table['high']}"


def study_document(*, arch: str, strategy: Strategy, size: Size, search: int) -> dict:
    """``studies/ARCH.toml`` with the size's narrowing, the strategy's sampler and pruner, the seeds."""
    document = shipped_study(arch)
    if size.epochs is not None:
        document["epochs"] = size.epochs
    document["params"].update({name: dict(table) for name, table in size.space.items()})
    document["sampler"] = {**document.get("sampler", {}), **strategy.sampler}
    if size.tpe_startup is not None:
        document["sampler"]["n_startup_trials"] = size.tpe_startup
    if strategy.pruner is not None:
        document["pruner"] = dict(strategy.pruner)
    return document


def describe_strategy(*, strategy: Strategy, arch: str, size: Size) -> str:
    """The strategy as its study file reads, e.g. ``tpe + median 2/1, best trial``."""
    from pairsearch.studyspec import parse_spec

    spec = parse_spec(document=study_document(arch=arch, strategy=strategy, size=size, search=0))
    pruner = spec.pruner
    if pruner["name"] == "median":
        pruner_text = f"median {pruner['n_startup_trials']}/{pruner['n_warmup_steps']}"
    elif pruner["name"] in ("hyperband", "successive_halving"):
        pruner_text = f"{pruner['name']} rf {pruner.get('reduction_factor', 3)}"
    else:
        pruner_text = "no pruner"
    rule = (f"top {size.rescore_top} re-scored on {size.rescore_splits} extra split(s)"
            if strategy.rescore else "best trial")
    return f"{spec.sampler['name']} + {pruner_text}, {rule}"


# --- one search: a job for a worker process --------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One search of one strategy on one arch, its choice, and the choice's final runs.

    Attributes:
        arch: The arch searched.
        strategy: The strategy.
        search: The search index (pairsearch's search ``search + 1``: its seeds).
        size: The run's size.
        out: The folder holding storages, study files and records.
        source: The data source.
        data_dir: The pairsearch data dir.
        device: The torch device trials and final runs train on.
        epoch_budget: Epochs the search may train; None for the reference (it runs trials).
    """

    arch: str
    strategy: Strategy
    search: int
    size: Size
    out: Path
    source: str
    data_dir: Path
    device: str = "cpu"
    epoch_budget: int | None = None

    @property
    def name(self) -> str:
        return f"{self.arch}-{self.strategy.name}-{self.search}"

    @property
    def record_path(self) -> Path:
        return self.out / "records" / f"{self.name}.json"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.out / 'storages' / self.name}.db"

    @property
    def rescore_epochs(self) -> int:
        """The most epochs the re-scoring rule can spend (0 for other rules)."""
        if not self.strategy.rescore:
            return 0
        return self.size.rescore_top * self.size.rescore_splits * self.spec().epochs

    def spec(self):
        from pairsearch.studyspec import parse_spec

        return parse_spec(document=self.document())

    def document(self) -> dict:
        return study_document(arch=self.arch, strategy=self.strategy, size=self.size, search=self.search)

    def plan(self) -> dict:
        """What a finished record must match to be reused on a re-run."""
        return {"job": self.name, "spec_hash": self.spec().spec_hash, "epoch_budget": self.epoch_budget,
                "reference_trials": self.size.reference_trials if self.epoch_budget is None else None,
                "final_seeds": self.size.final_seeds, "source": self.source,
                "rescore": [self.size.rescore_top, self.size.rescore_splits] if self.strategy.rescore else None}


def run_job(job: Job) -> dict:
    """In a worker process: search, choose, train the choice on the final seeds; write the record."""
    import optuna

    from pairsearch.data.pairs import DataChoice
    from pairsearch.training.loop import set_threads

    set_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the parent prints one line per search
    pools = DataChoice(source=job.source, data_dir=job.data_dir).load()
    started = time.perf_counter()
    trials = run_search(job=job, fingerprint=pools.fingerprint)
    search_wall = time.perf_counter() - started
    choice = choose(job=job, trials=trials, pools=pools)
    finals = train_finals(job=job, params=choice["params"], pools=pools)
    record = {
        "plan": job.plan(), "arch": job.arch, "strategy": job.strategy.name, "search": job.search,
        "seed": tuning_seed(study_seed=job.spec().seed, search=job.search + 1), **search_compute(trials), "search_wall_seconds": round(search_wall, 1),
        **choice, **finals,
    }
    record["epochs"] = record["search_epochs"] + record["rescore_epochs"]
    record["train_seconds"] = round(record["search_train_seconds"] + record["rescore_seconds"], 2)
    write_record(job.record_path, record)
    return record


def run_search(*, job: Job, fingerprint: str) -> list:
    """Run (or continue) the job's study to its budget; return its trials."""
    from pairsearch.data.pairs import DataChoice
    from pairsearch.storage.handle import StorageHandle
    from pairsearch.studyspec import load_study_file
    from pairsearch.training.recipes import course_recipe
    from pairsearch.tuning import TuneRequest, prepare_study, run_trials

    study_file = write_study_file(job.out / "studies" / f"{job.name}.toml", job.document())
    budget = None if job.epoch_budget is None else max(job.epoch_budget - job.rescore_epochs, 1)
    spec = load_study_file(path=study_file)
    request = TuneRequest(
        spec=spec, recipe=course_recipe(epochs=spec.epochs), study_name=STUDY, storage=StorageHandle.resolve(url=job.url),
        trials=job.size.reference_trials if budget is None else budget,  # an epoch budget caps trials too
        data=DataChoice(source=job.source, data_dir=job.data_dir), device=job.device, search=job.search + 1,
    )
    prepare_study(request=request, fingerprint=fingerprint)
    if budget is None:
        run_trials(request=request)  # exactly what a `pairsearch tune` worker runs
    else:
        run_trials_to_epoch_budget(request=request, budget=budget)
    return load_search_trials(url=job.url)


def run_trials_to_epoch_budget(*, request, budget: int) -> None:
    """:func:`pairsearch.tuning.run_trials` with an epoch budget in place of the trial budget.

    One worker per study: a trial starts while fewer than ``budget`` epochs were trained, and
    the trial that trains the last one is stopped there (pruned, user attr ``budget_cut``).
    """
    import optuna

    from pairsearch.tuning import worker_queue
    from pairsearch.workers.runtime import WorkQueue, work_until_done

    shipped = worker_queue(request=request)
    study, objective = shipped.study, shipped.objective

    def budgeted(trial: optuna.Trial) -> float:
        left = budget - epochs_spent(study.get_trials(deepcopy=False))  # the new trial has none yet
        return objective(BudgetedTrial(trial=trial, epochs_left=left, last_epoch=request.spec.epochs))

    queue = WorkQueue(study=study, objective=budgeted,
                      decide=lambda _: "done" if epochs_spent(study.get_trials(deepcopy=False)) >= budget else "run")
    work_until_done(handle=request.storage, queues=[queue])


class BudgetedTrial:
    """An Optuna trial whose ``should_prune`` is also true once the search's epochs are spent.

    A proxy rather than a pruner: Optuna's samplers treat a study whose pruner *is* a
    ``HyperbandPruner`` specially, so the strategy's pruner must stay the study's own.
    """

    def __init__(self, *, trial, epochs_left: int, last_epoch: int) -> None:
        self._trial, self._epochs_left, self._last_epoch = trial, epochs_left, last_epoch
        self._epochs = 0

    def __getattr__(self, name: str):
        return getattr(self._trial, name)

    def report(self, value: float, step: int) -> None:
        self._epochs += 1
        self._trial.report(value, step=step)

    def should_prune(self) -> bool:
        if self._epochs >= self._epochs_left and self._epochs < self._last_epoch:
            self._trial.set_user_attr("budget_cut", True)
            return True
        return self._trial.should_prune()


def epochs_spent(trials) -> int:
    """Epochs trained by a study's trials: one report per epoch (``epochs_run`` of finished trials)."""
    return sum(len(trial.intermediate_values) for trial in trials)


def load_search_trials(*, url: str) -> list:
    from bench.common import load_trials

    return load_trials(url=url, study=STUDY)


def search_compute(trials) -> dict:
    """Epochs, training seconds and trial counts of one search."""
    states = [trial.state.name for trial in trials]
    return {
        "search_epochs": epochs_spent(trials),
        "search_train_seconds": round(sum(
            t.user_attrs.get("seconds_per_epoch", 0) * t.user_attrs.get("epochs_run", 0) for t in trials), 2),
        "trials": {"complete": states.count("COMPLETE"), "pruned": states.count("PRUNED"),
                   "failed": states.count("FAIL"),
                   "budget_cut": sum(1 for t in trials if t.user_attrs.get("budget_cut"))},
    }


# --- choosing --------------------------------------------------------------------------------


def choose(*, job: Job, trials, pools) -> dict:
    """The search's choice: its best complete trial, or the best of the top few re-scored."""
    complete = sorted((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: -t.value)
    if not complete:
        raise BenchError(f"{job.name}: no complete trial to choose from")
    if not job.strategy.rescore:
        best = complete[0]
        return {"chosen_trial": best.number, "chosen_validation": best.value, "params": trial_params(job, best),
                "selection_score": best.value, "rescored": [], "rescore_epochs": 0, "rescore_seconds": 0.0}
    return rescore(job=job, candidates=complete[:job.size.rescore_top], pools=pools)


def rescore(*, job: Job, candidates, pools) -> dict:
    """Re-train each candidate on fresh tuning splits; choose the best mean validation accuracy.

    The search's own split is left out of the mean: its score is the one the choice inflated.
    """
    from pairsearch.data.pairs import tuning_split
    from pairsearch.training.loop import train_run

    seeds = [RESCORE_SEED_BASE + job.search * job.size.rescore_splits + r for r in range(job.size.rescore_splits)]
    epochs, rescored, epochs_run, seconds = job.spec().epochs, [], 0, 0.0
    for trial in candidates:
        params, scores = trial_params(job, trial), []
        for seed in seeds:
            started = time.perf_counter()
            result = train_run(arch=job.arch, params=params, split=tuning_split(pools=pools, seed=seed),
                               epochs=epochs, seed=seed, device=job.device)
            seconds += time.perf_counter() - started
            epochs_run += len(result.history)
            scores.append(result.final_accuracy or 0.0)  # a diverged run scores nothing
        rescored.append({"trial": trial.number, "validation": trial.value, "scores": scores,
                         "mean": statistics.mean(scores), "params": params})
    best = max(rescored, key=lambda item: item["mean"])
    return {"chosen_trial": best["trial"], "chosen_validation": best["validation"], "params": best["params"],
            "selection_score": best["mean"], "rescored": [{k: v for k, v in item.items() if k != "params"}
                                                          for item in rescored],
            "rescore_epochs": epochs_run, "rescore_seconds": round(seconds, 2)}


def trial_params(job: Job, trial) -> dict:
    """A trial's full params, as the final stage resolves them (``final_plans.make_plan``)."""
    from pairsearch.training.models import resolve_params

    return resolve_params(arch=job.arch, overrides={**job.spec().fixed, **trial.params})


def train_finals(*, job: Job, params: dict, pools) -> dict:
    """The chosen params on the final protocol, seeds 3000 … 3000+F−1: test accuracy after the last epoch."""
    from pairsearch.data.pairs import final_split
    from pairsearch.training.loop import train_run

    started, tests = time.perf_counter(), []
    for seed in range(FINAL_SEED_BASE, FINAL_SEED_BASE + job.size.final_seeds):
        result = train_run(arch=job.arch, params=params, split=final_split(pools=pools, seed=seed),
                           epochs=job.spec().epochs, seed=seed, device=job.device)
        tests.append(result.final_accuracy)  # None: diverged
    completed = [value for value in tests if value is not None]
    return {"final_tests": tests, "test": statistics.mean(completed) if completed else math.nan,
            "final_seconds": round(time.perf_counter() - started, 2)}


def write_record(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    partial.replace(path)  # a killed run leaves no half-written record


def finished_record(job: Job) -> dict | None:
    """The job's record from an earlier run, if it finished with the same plan."""
    if not job.record_path.exists():
        return None
    record = json.loads(job.record_path.read_text(encoding="utf-8"))
    if record.get("plan") != job.plan():
        raise BenchError(f"{job.record_path} was made with another plan ({record.get('plan')}); "
                         "use a fresh --out folder")
    return record


# --- running every search --------------------------------------------------------------------


def run_searches(*, size: Size, out: Path, source: str, data_dir: Path, device: str, workers: int,
                 strategies=STRATEGIES, say=print) -> list[dict]:
    """Every job of ``size``, ``workers`` at a time; finished jobs in ``out`` are reused.

    The reference searches go first: each one's spend is the epoch budget of the other
    strategies' searches of its (arch, search). Jobs start in search order (:func:`job_order`),
    so a run stopped part-way leaves whole paired comparisons, not a row of references.

    Returns:
        One record per job.
    """
    import multiprocessing

    jobs = [Job(arch=arch, strategy=strategy, search=search, size=size, out=out, source=source,
                data_dir=data_dir, device=device)
            for arch in size.archs for search in range(size.searches) for strategy in strategies]
    for folder in ("studies", "storages", "records"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    queue = [job for job in jobs if job.strategy.name == REFERENCE]
    dependants = {job.name: [other for other in jobs if other.strategy.name != REFERENCE
                             and (other.arch, other.search) == (job.arch, job.search)] for job in queue}
    records, failures, running = [], [], {}
    say(f"search_quality: {len(jobs)} searches ({len(strategies)} strategies × {len(size.archs)} archs × "
        f"{size.searches}), {workers} worker(s), storages and records in {out}")
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:

        def finish(job: Job, record: dict, *, reused: bool = False) -> None:
            records.append(record)
            say(f"  {job.name}: test {record['test']:.3f}, chosen validation {record['chosen_validation']:.3f}, "
                f"{record['epochs']} epochs{' (recorded earlier)' if reused else ''}")
            queue.extend(replace(dependant, epoch_budget=record["search_epochs"])
                         for dependant in dependants.get(job.name, []))

        def start_next() -> None:
            while queue and len(running) < workers:
                job = min(queue, key=lambda candidate: job_order(candidate, size=size, strategies=strategies))
                queue.remove(job)
                record = finished_record(job)
                if record is None:
                    running[pool.submit(run_job, job)] = job
                else:
                    finish(job, record, reused=True)

        start_next()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                job = running.pop(future)
                try:
                    finish(job, future.result())
                except Exception as error:  # noqa: BLE001 -- the other searches go on; a re-run resumes
                    failures.append(f"{job.name}: {type(error).__name__}: {error}")
                    say(f"  {job.name}: FAILED {failures[-1]}")
            start_next()
    if failures:
        raise BenchError(f"{len(failures)} search(es) failed (re-run to resume): {'; '.join(failures[:3])}")
    return records


def job_order(job: Job, *, size: Size, strategies=STRATEGIES) -> tuple:
    """Search index first, then the other strategies before the next reference, then arch and strategy."""
    names = [strategy.name for strategy in strategies]
    return (job.search, job.strategy.name == REFERENCE, size.archs.index(job.arch), names.index(job.strategy.name))


# --- figures ---------------------------------------------------------------------------------


def summarise(records: list[dict], *, strategies=STRATEGIES) -> list[dict]:
    """One row per (arch, strategy) and per strategy over every arch ("all")."""
    archs = sorted({record["arch"] for record in records})
    rows = []
    for arch in [*archs, "all"] if len(archs) > 1 else archs:
        mine = [record for record in records if arch in ("all", record["arch"])]
        reference = {(r["arch"], r["search"]): r for r in mine if r["strategy"] == REFERENCE}
        for strategy in strategies:
            units = [r for r in mine if r["strategy"] == strategy.name]
            if units:
                rows.append(strategy_row(arch=arch, strategy=strategy.name, units=units, reference=reference))
    return rows


def strategy_row(*, arch: str, strategy: str, units: list[dict], reference: dict) -> dict:
    """Test accuracy with its CI, the paired difference from the reference, optimism, compute."""
    import numpy as np
    import pandas as pd

    from pairsearch.report.statistics import paired_summary, t_interval

    tests = np.array([unit["test"] for unit in units])
    low, high = t_interval(values=tests, confidence=CONFIDENCE)
    paired = [(unit["test"] - reference[(unit["arch"], unit["search"])]["test"]) for unit in units
              if (unit["arch"], unit["search"]) in reference]
    # Each search is one replicate (its mean over the final seeds): the interval is over searches.
    index = pd.MultiIndex.from_tuples([(search, 0) for search in range(len(paired))], names=["search", "seed"])
    versus = paired_summary(differences=pd.Series(paired, index=index, dtype=float), confidence=CONFIDENCE)
    return {
        "arch": arch, "strategy": strategy, "searches": len(units),
        "test_mean": float(np.mean(tests)), "test_ci": [low, high],
        "diff_vs_shipped": versus["mean_diff"], "diff_ci": [versus["ci_low"], versus["ci_high"]],
        "share_won": versus["p_better"] if len(paired) > 1 else versus["share_won"],
        "optimism": statistics.mean(u["chosen_validation"] - u["test"] for u in units),
        "rescored_optimism": statistics.mean(u["selection_score"] - u["test"] for u in units),
        "epochs": statistics.mean(u["epochs"] for u in units),
        "train_seconds": statistics.mean(u["train_seconds"] for u in units),
    }


def points(value: float) -> str:
    return f"{100 * value:+.1f}"


def markdown_table(rows: list[dict]) -> str:
    """The figures as a Markdown table (accuracies in %, differences in points)."""
    head = ("| arch | strategy | searches | test acc % [95 % CI] | Δ vs shipped, pts [95 % CI] (wins) "
            "| optimism, pts | epochs / search | train s / search |")
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        low, high = row["test_ci"]
        if row["strategy"] == REFERENCE:
            versus = "—"
        else:
            versus = (f"{points(row['diff_vs_shipped'])} [{points(row['diff_ci'][0])}, {points(row['diff_ci'][1])}]"
                      f" ({row['share_won']:.0%})")
        optimism = points(row["optimism"])
        if row["strategy"] == "rescore":
            optimism += f" (re-scored {points(row['rescored_optimism'])})"
        lines.append(f"| {row['arch']} | {row['strategy']} | {row['searches']} | {100 * row['test_mean']:.1f} "
                     f"[{100 * low:.1f}, {100 * high:.1f}] | {versus} | {optimism} | {row['epochs']:.0f} "
                     f"| {row['train_seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def figure(*, records: list[dict], size: Size, strategies=STRATEGIES) -> dict:
    """The bench figure: values, one cell, notes and the raw records."""
    rows = summarise(records, strategies=strategies)
    overall = [row for row in rows if row["arch"] == ("all" if len(size.archs) > 1 else size.archs[0])]
    cell = "; ".join(
        f"{row['strategy']} {100 * row['test_mean']:.1f}%"
        + ("" if row["strategy"] == REFERENCE else f" ({points(row['diff_vs_shipped'])})")
        + f" opt {points(row['optimism'])} {row['epochs']:.0f} ep" for row in overall)
    prefix = f"{'+'.join(size.archs)} × {size.searches} searches, test acc of the choice (Δ vs shipped, pts)"
    notes = [size.reductions()] if size.reductions() else []
    notes.append("strategies: " + "; ".join(
        f"{s.name} = {describe_strategy(strategy=s, arch=size.archs[0], size=size)}" for s in strategies))
    return {
        "values": {f"search_quality.{row['arch']}.{row['strategy']}.{key}": round(row[key], 4)
                   for row in rows for key in ("test_mean", "diff_vs_shipped", "optimism", "epochs")},
        "targets": {},
        "raw": {"size": asdict(size), "rows": rows, "records": records, "table": markdown_table(rows)},
        "notes": notes,
        "cells": {"search_quality": f"{prefix}: {cell}" + (f" [{size.name}]" if size.name != "full" else "")},
    }


# --- entry points ----------------------------------------------------------------------------


def run(*, ctx: Context) -> dict:
    """``python -m bench``: quick mode in the scratch folder; full mode resumable under DEFAULT_OUT."""
    size = SIZES["quick" if ctx.quick else "full"]
    out = ctx.path("search_quality") if ctx.quick else DEFAULT_OUT / size.name
    records = run_searches(size=size, out=out, source=ctx.source, data_dir=ctx.data_dir, device="cpu",
                           workers=max(1, ctx.cores), strategies=STRATEGIES,
                           say=lambda line: print(line, file=sys.stderr, flush=True))
    return figure(records=records, size=size, strategies=STRATEGIES)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.search_quality",
        description="Test accuracy of the configuration each search strategy chooses, for equal epochs. "
                    "Resumable: re-run with the same --out to continue.")
    mode = parser.add_mutually_exclusive_group()
    for name, size in SIZES.items():
        mode.add_argument(f"--{name}", dest="size", action="store_const", const=name,
                          help=size.reductions() or "the real setting (hours on 2 cores)")
    parser.set_defaults(size="quick")
    parser.add_argument("--out", type=Path, help=f"storages and records [{DEFAULT_OUT}/MODE]")
    parser.add_argument("--workers", type=int, default=None, help="searches at a time [cores]")
    parser.add_argument("--device", default="cpu", help="torch device of every run (cpu, cuda) [cpu]")
    parser.add_argument("--data-dir", type=Path, default=REPO / "storage" / "data", help="pairsearch data dir")
    parser.add_argument("--record", action="store_true", help="append a row to bench/RESULTS.md")
    parser.add_argument("--note", default="", help="text for the row's note column")
    parser.add_argument("--rest", action="store_true",
                        help="only bring the storages of unfinished searches to rest in one file each (after "
                             "stopping the run), and list them for git add -f")
    return parser.parse_args(argv)


def rest_unfinished(out: Path) -> list[Path]:
    """Fold each unfinished search's write-ahead log into its file (rollback journal): one file to commit."""
    from pairsearch.storage.sqlite_files import rest_in_one_file

    finished = {record.stem for record in (out / "records").glob("*.json")}
    unfinished = [db for db in sorted((out / "storages").glob("*.db")) if db.stem not in finished]
    for db in unfinished:
        if not rest_in_one_file(db):
            raise BenchError(f"{db} is still in use: stop the run first")
    return unfinished


def main(argv: list[str] | None = None) -> int:
    import datetime
    import os

    from bench.common import RESULTS_MD, machine_facts, prepare_data
    from bench.results import append_row

    args = parse_args(argv)
    size, started = SIZES[args.size], time.perf_counter()
    out = (args.out or DEFAULT_OUT / size.name).resolve()
    if args.rest:
        for db in rest_unfinished(out):
            print(db.relative_to(REPO) if db.is_relative_to(REPO) else db)
        return 0
    source = prepare_data(data_dir=args.data_dir)
    records = run_searches(size=size, out=out, source=source, data_dir=args.data_dir.resolve(),
                           device=args.device, workers=args.workers or len(os.sched_getaffinity(0)))
    result = figure(records=records, size=size)
    result["seconds"] = round(time.perf_counter() - started, 1)
    (out / "search_quality.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (out / "search_quality.md").write_text(result["raw"]["table"], encoding="utf-8")
    print(result["raw"]["table"])
    for note in result["notes"]:
        print(f"note: {note}")
    print(f"{result['seconds']} s; figures in {out / 'search_quality.json'}")
    if args.record:
        document = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                    "mode": size.name, "machine": machine_facts(), "note": args.note,
                    "figures": {"search_quality": result}}
        append_row(document, path=RESULTS_MD)
    return 0


if __name__ == "__main__":
    # Through the package's own module: worker processes unpickle bench.search_quality.run_job.
    from bench.search_quality import main as package_main

    sys.exit(package_main())
