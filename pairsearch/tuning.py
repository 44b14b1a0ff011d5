"""The tune stage: an objective that reports and prunes every epoch, under an exact study-wide budget.

:func:`tune` prepares (or checks) the study, then runs worker processes on the worker runtime
(:mod:`pairsearch.workers.runtime`): each one claims a trial under the study's lock only while
``finished + running`` is below the budget, so ``--trials N`` ends with exactly N finished
(complete + pruned) trials however many workers, hosts and re-runs join.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import optuna

from pairsearch import __version__
from pairsearch.data.pairs import DataChoice, tuning_split
from pairsearch.errors import PairsearchError
from pairsearch.jobs import tuning_studies
from pairsearch.records import (
    TunedStudy,
    is_labelled,
    label_study,
    note_tune_started,
    record_run,
    tuned_study,
)
from pairsearch.samplers import build_pruner, build_sampler, suggest_params
from pairsearch.searches import search_study_name, split_search_name, tuning_seed
from pairsearch.storage.failures import NoOptunaSchema, is_storage_outage
from pairsearch.storage.handle import StorageHandle
from pairsearch.studyspec import StudySpec
from pairsearch.training.recipes import Recipe, course_recipe
from pairsearch.workers.runtime import (
    Counts,
    SurplusTrial,
    WorkQueue,
    count_trials,
    label_objective,
    may_be_in_labelling,
    own_study,
    work_until_done,
    worker_exit_code,
)
from pairsearch.workers.supervisor import Display, Snapshot, WorkerExits, run_workers, snapshot

OBJECTIVE_LABEL = "validation accuracy"


@dataclass(frozen=True)
class TuneRequest:
    """A checked ``tune`` command; also what each worker process receives (picklable).

    Attributes:
        spec: The validated study file (with ``--epochs`` / ``--pruner`` applied).
        study_name: The study of search 0 (``--study``, default the arch); search r ≥ 1 is the
            study ``<study_name>.search<r>`` (:mod:`pairsearch.searches`).
        storage: Where the study lives.
        trials: The study-wide budget of finished trials, for each search.
        repeats: Independent searches 0 … repeats-1, each its own study and budget.
        search: Which search ``study_name`` is (set by :meth:`searches`; 0 for the command).
        data: The data source and folder.
        workers: Local worker processes.
        device: A device torch accepted (``cpu``, ``cuda``, ``cuda:1``).
        threads: Torch threads per worker process.
        timeout: Stop starting trials after this many seconds (None: no limit).
        recipe: ``--recipe``: how trials train besides their params, recorded on the study
            (None: the course's training, recorded as the course recipe).
            Its epochs are the spec's (see :func:`pairsearch.inputs.study_spec`).
    """

    spec: StudySpec
    study_name: str
    storage: StorageHandle
    trials: int
    data: DataChoice
    repeats: int = 1
    search: int = 0
    workers: int = 1
    device: str = "cpu"
    threads: int = 1
    timeout: float | None = None
    recipe: Recipe | None = None

    def searches(self) -> list[TuneRequest]:
        """One request per search, search 0 first, each naming its own study (a request of one
        search is its own)."""
        if self.repeats == 1:
            return [self]
        return [dataclasses.replace(self, study_name=search_study_name(group=self.study_name, search=r),
                                    search=r, repeats=1) for r in range(self.repeats)]

    @property
    def seed(self) -> int:
        """This search's tuning seed: training/validation pairs, initial weights, batch order."""
        return tuning_seed(study_seed=self.spec.seed, search=self.search)

    @property
    def training(self) -> Recipe:
        """The recipe every trial trains with, at the spec's epochs."""
        return dataclasses.replace(self.recipe or course_recipe(epochs=self.spec.epochs), epochs=self.spec.epochs)


@dataclass(frozen=True)
class TuneOutcome:
    """How a ``tune`` command ended: each search's study as the last worker left it, and the workers' exits."""

    searches: tuple[Snapshot, ...]
    exits: WorkerExits
    budget: int

    @property
    def final(self) -> Snapshot:
        """The last search's study (the only one without ``--repeats``)."""
        return self.searches[-1]

    @property
    def budget_spent(self) -> bool:
        return all(shot.counts.finished >= self.budget for shot in self.searches)

    @property
    def budget_held(self) -> bool:
        """Not spent, but every unit of it finished or RUNNING (in this command's workers or others')."""
        return not self.budget_spent and all(
            budget_decision(shot.counts, budget=self.budget) in ("full", "done") for shot in self.searches)


def tune(*, request: TuneRequest, display: Display) -> TuneOutcome:
    """Run ``request.workers`` local workers on the study until its budget is spent.

    Args:
        request: The checked command.
        display: Where status lines and the live progress go.

    Returns:
        The final state of the study and how the workers ended.
    """
    pools = request.data.load()
    searches = request.searches()
    studies = [prepare_study(request=search, fingerprint=pools.fingerprint) for search in searches]
    identity = request.storage.file_identity()
    note = unlike_studies_note(request=request)
    if note:
        display.say(note)
    if request.data.announcement():
        display.say(request.data.announcement())
    what = f"study {request.study_name}" if request.repeats == 1 else (
        f"{request.repeats} independent searches ({searches[0].study_name} … {searches[-1].study_name})")
    display.say(f"{what} in {request.storage.redacted}: {request.workers} worker(s), "
                f"budget {request.trials}{' each' if request.repeats > 1 else ''}")
    exits = run_workers(
        target=run_worker, config=request, count=request.workers,
        watch=lambda keep_watching: watch_searches(studies=studies, budget=request.trials,
                                                   keep_watching=keep_watching, display=display),
    )
    request.storage.check_still_there(identity=identity, what="the trials of this run")
    return TuneOutcome(searches=tuple(exits.watched), exits=exits, budget=request.trials)


def watch_searches(*, studies: list[optuna.Study], budget: int, keep_watching: Callable[[], bool],
                   display: Display) -> list[Snapshot]:
    """Show each search's progress in turn (workers finish them in order); the last snapshot of each."""
    if len(studies) == 1:
        return [display.watch_study(study=studies[0], budget=budget, keep_watching=keep_watching)]
    shots = []
    for study in studies:
        if study is studies[-1] or _unfinished(study=study, budget=budget):
            shots.append(display.watch_study(study=study, budget=budget, keep_watching=lambda study=study: (
                keep_watching() and _unfinished(study=study, budget=budget))))
        else:
            shots.append(snapshot(study))
    return shots


def _unfinished(*, study: optuna.Study, budget: int) -> bool:
    """Whether the search has budget left; during a storage outage, as far as we know, yes."""
    try:
        return snapshot(study).counts.finished < budget
    except Exception as error:
        if is_storage_outage(error):
            return True
        raise


# --- the study -------------------------------------------------------------------------------


def prepare_study(*, request: TuneRequest, fingerprint: str) -> optuna.Study:
    """Create the study, or check that an existing one is pairsearch's, with the same spec and data.

    A study that would be refused is refused from a read-only look, before the storage is
    opened for writing: a refused command changes no byte of it (no lock file either).
    """
    refusal = (f"study {request.study_name!r} in {request.storage.redacted} was not made by pairsearch; "
               "choose another name with --study")
    existing = _existing_study(request=request)
    if existing is not None and _foreign(existing):
        raise PairsearchError(refusal)
    if existing is not None and is_labelled(existing):
        check_compatible(study=existing, request=request, fingerprint=fingerprint)
        request.storage.check_writable()
        study = optuna.load_study(study_name=request.study_name, storage=request.storage.open())
        # A write before any worker starts (and before any lock file): a read-only storage fails
        # here with one clear line. To the microsecond: an unchanged value is no write (the ORM skips it).
        note_tune_started(study, when=datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds"))
        return study
    # Under the study's lock: a second `tune` starting at the same moment must not check the
    # attrs while the first is still writing them one by one, nor make the study twice.
    request.storage.check_writable()
    with request.storage.lock(study_name=request.study_name):
        study = own_study(
            storage=request.storage.open(), study_name=request.study_name,
            label=lambda new: _label_new_study(study=new, request=request, fingerprint=fingerprint),
            refusal=refusal, locked=request.storage.has_lock,
        )
    check_compatible(study=study, request=request, fingerprint=fingerprint)
    return study


def unlike_studies_note(*, request: TuneRequest) -> str | None:
    """A line when other studies in the storage were tuned under another recipe or at other
    epochs: a report will refuse to compare them with this one (as
    :func:`pairsearch.final.check_trained_alike` does), so the user learns it before hours of tuning."""
    other_recipe, other_epochs = [], []
    for summary in tuning_studies(storage=request.storage.open(readonly=True)):
        try:
            tuned = tuned_study(summary, study_name=summary.study_name)
            theirs = tuned.training_recipe
        except PairsearchError:  # a broken record: the report says so when it reads it
            continue
        if split_search_name(summary.study_name)[0] == request.study_name:  # its own searches
            continue
        if not theirs.trains_like(request.training):
            other_recipe.append(f"{summary.study_name} ({theirs.name})")
        elif tuned.epochs != request.spec.epochs:
            other_epochs.append(f"{summary.study_name} ({tuned.epochs})")
    if other_recipe:
        return (f"note: {', '.join(other_recipe)} in this storage {_was(other_recipe)} tuned under another recipe than "
                f"{request.training.name} ({request.training.augmentation()}); a report never compares studies of "
                "different recipes: tune under one recipe per --storage")
    if other_epochs:
        return (f"note: {', '.join(other_epochs)} in this storage {_was(other_epochs)} tuned at other epochs per trial than "
                f"{request.spec.epochs}; a report trains each study's choice at its own epochs and compares them "
                "only when given --epochs N for all")
    return None


def _was(studies: list[str]) -> str:
    return "was" if len(studies) == 1 else "were"


def _foreign(study: optuna.Study) -> bool:
    """Unmarked and not an empty maximize study another ``tune`` may be labelling right now."""
    return not is_labelled(study) and not may_be_in_labelling(study)


def _existing_study(*, request: TuneRequest) -> optuna.Study | None:
    """The study as it stands, read without writing; None when the storage or study is new."""
    path = request.storage.file_path
    if path is not None and not path.exists():
        return None
    try:
        storage = request.storage.open(readonly=True)
    except NoOptunaSchema:  # an empty database: tune makes Optuna's tables in it
        return None
    try:
        return optuna.load_study(study_name=request.study_name, storage=storage)
    except KeyError:
        return None


def tuned_record(*, request: TuneRequest, fingerprint: str) -> TunedStudy:
    """What a new tuning study records about itself: spec, data, recipe, search and versions."""
    import torch

    return TunedStudy(
        arch=request.spec.arch, spec=request.spec.to_json(), spec_hash=request.spec.spec_hash,
        epochs=request.spec.epochs, data_source=request.data.source, data_fingerprint=fingerprint,
        versions={"pairsearch": __version__, "optuna": optuna.__version__, "torch": torch.__version__},
        recipe=request.training.to_record(), group=split_search_name(request.study_name)[0],
        search=request.search, tuning_seed=request.seed,
    )


def _label_new_study(*, study: optuna.Study, request: TuneRequest, fingerprint: str) -> None:
    label_objective(study=study, name=OBJECTIVE_LABEL)
    label_study(study, record=tuned_record(request=request, fingerprint=fingerprint))


def check_compatible(*, study: optuna.Study, request: TuneRequest, fingerprint: str) -> None:
    """Refuse a study made under another recipe, with another spec, on other data or as another
    search (saying what to do)."""
    tuned = tuned_study(study, study_name=request.study_name)
    recipe = tuned.training_recipe
    if not recipe.trains_like(request.training):
        raise PairsearchError(
            f"study {request.study_name!r} was tuned under recipe {recipe.name} ({recipe.augmentation()}), "
            f"here {request.training.name} ({request.training.augmentation()}); use the same --recipe, "
            "or tune under this one in another --storage (a report compares the studies of one storage)"
        )
    if (tuned.spec_hash != request.spec.spec_hash
            and dataclasses.replace(request.spec, epochs=tuned.epochs).spec_hash == tuned.spec_hash):
        raise PairsearchError(
            f"study {request.study_name!r} was tuned at {tuned.epochs} epochs per trial, here "
            f"{request.spec.epochs} (from --epochs, --recipe or the study file); give --epochs {tuned.epochs} "
            "to continue it, or --study NEW_NAME to start a fresh study"
        )
    if tuned.spec_hash != request.spec.spec_hash:
        raise PairsearchError(
            f"study {request.study_name!r} was created with a different study spec "
            f"(arch {tuned.arch}, epochs {tuned.epochs}); "
            f"use --study NEW_NAME to start a fresh study"
        )
    if tuned.data_fingerprint != fingerprint:
        raise PairsearchError(
            f"study {request.study_name!r} was tuned on other data ({tuned.data_source} "
            f"{tuned.data_fingerprint}, here {request.data.source} {fingerprint}); "
            "use the same --dataset, or --study NEW_NAME"
        )
    if (tuned.search, tuned.tuning_seed) != (request.search, request.seed):
        raise PairsearchError(
            f"study {request.study_name!r} is search {tuned.search} (tuning seed {tuned.tuning_seed}), "
            f"here search {request.search} (tuning seed {request.seed}); use --study NEW_NAME"
        )


# --- the objective ---------------------------------------------------------------------------


def make_objective(*, request: TuneRequest, split, device):
    """The Optuna objective: train, report validation accuracy every epoch, prune when told."""
    from pairsearch.training.augment import make_augment
    from pairsearch.training.loop import train_run
    from pairsearch.training.models import resolve_params

    spec = request.spec
    max_shift = request.training.max_shift

    def objective(trial: optuna.Trial) -> float:
        params = resolve_params(arch=spec.arch, overrides=suggest_params(trial=trial, spec=spec))
        epoch_seconds: list[float] = []

        def on_start(run) -> None:  # before training: pruned, diverged and interrupted trials have it too
            record_run(trial, n_parameters=run.n_parameters)

        def on_epoch(record) -> None:
            epoch_seconds.append(record.seconds)
            trial.report(record.eval_accuracy, step=record.epoch)
            if trial.should_prune():
                record_run_attrs(trial=trial, seconds=epoch_seconds, stop_reason="pruned")
                raise optuna.TrialPruned(f"pruned after epoch {record.epoch}")

        result = train_run(
            arch=spec.arch, params=params, split=split, epochs=spec.epochs,
            seed=request.seed, device=device, on_epoch=on_epoch, on_start=on_start,
            augment=make_augment(max_shift=max_shift, seed=request.seed),  # every trial the same shifts
        )
        record_run_attrs(trial=trial, seconds=epoch_seconds, stop_reason=result.status)
        if result.status == "diverged":
            return math.nan  # Optuna records a NaN objective as a failed trial
        return result.final_accuracy

    return objective


def record_run_attrs(*, trial: optuna.Trial, seconds: list[float], stop_reason: str) -> None:
    """What a dashboard user reads of a trial: why it stopped, epochs run, seconds per epoch."""
    per_epoch = round(sum(seconds) / len(seconds), 3) if seconds else None
    record_run(trial, stop_reason=stop_reason, epochs_run=len(seconds), seconds_per_epoch=per_epoch)


def budget_decision(counts: Counts, *, budget: int) -> str:
    """``run`` a new trial, wait while running trials hold the budget (``full``), or ``done``."""
    if counts.finished >= budget:
        return "done"
    if counts.finished + counts.running >= budget:
        return "full"
    return "run"


def refuse_surplus(*, objective, study: optuna.Study, budget: int):
    """Without a lock (gRPC) the trials created first win; a later one beyond the budget fails."""

    def checked(trial: optuna.Trial) -> float:
        earlier = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number]
        if budget_decision(count_trials(earlier), budget=budget) != "run":
            record_run(trial, stop_reason="over budget")
            raise SurplusTrial("the study-wide budget was already taken")
        return objective(trial)

    return checked


# --- the worker ------------------------------------------------------------------------------


def run_worker(request: TuneRequest) -> int:
    """One worker process: run trials until the study-wide budget is spent. Returns an exit code."""
    return worker_exit_code(lambda: run_trials(request=request))


def worker_queue(*, request: TuneRequest) -> WorkQueue:
    """What a worker claims trials of in one search: its checked study with its sampler and
    pruner, the objective, and the budget rule."""
    import torch

    pools = request.data.load()
    study = optuna.load_study(
        study_name=request.study_name, storage=request.storage.open(schema_ready=True),
        sampler=build_sampler(spec=request.spec, search=request.search), pruner=build_pruner(spec=request.spec),
    )
    check_compatible(study=study, request=request, fingerprint=pools.fingerprint)
    split = tuning_split(pools=pools, seed=request.seed)
    objective = make_objective(request=request, split=split, device=torch.device(request.device))
    if not request.storage.has_lock:  # no shared lock (gRPC): re-check the budget after creating
        objective = refuse_surplus(objective=objective, study=study, budget=request.trials)
    return WorkQueue(study=study, objective=objective,
                     decide=lambda counts: budget_decision(counts, budget=request.trials))


def run_trials(*, request: TuneRequest) -> None:
    """The worker's loop, in this process: claim and run trials until every search's budget is
    spent, the first unfinished search first."""
    from pairsearch.training.loop import set_threads

    set_threads(request.threads)
    queues = [worker_queue(request=search) for search in request.searches()]
    deadline = None if request.timeout is None else time.monotonic() + request.timeout
    work_until_done(handle=request.storage, queues=queues, deadline=deadline)
