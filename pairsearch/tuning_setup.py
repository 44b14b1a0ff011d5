"""The tune command as data, and each search's study made or checked before any worker starts.

:class:`TuneRequest` is the checked command (what every worker process receives);
:func:`prepare_study` creates a search's study and labels it (:class:`pairsearch.records.TunedStudy`),
or checks that an existing one was made by pairsearch from the same spec, data, recipe and search.
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass

import optuna

from pairsearch import __version__
from pairsearch.data.pairs import DataChoice
from pairsearch.errors import PairsearchError
from pairsearch.jobs import tuning_studies
from pairsearch.records import TunedStudy, is_labelled, label_study, note_tune_started, tuned_study
from pairsearch.searches import search_study_name, split_search_name, tuning_seed
from pairsearch.storage.failures import NoOptunaSchema
from pairsearch.storage.handle import StorageHandle
from pairsearch.studyspec import StudySpec
from pairsearch.training.recipes import Recipe
from pairsearch.workers.runtime import label_objective, may_be_in_labelling, own_study

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
        data: The data source and folder.
        recipe: How every trial trains besides its params, recorded on the study: ``--recipe``'s,
            else the course's, at the spec's epochs (resolved once, by
            :func:`pairsearch.inputs.tuning_spec_and_recipe`).
        repeats: Independent searches 0 … repeats-1, each its own study and budget.
        search: Which search ``study_name`` is (set by :meth:`searches`; 0 for the command).
        workers: Local worker processes.
        device: A device torch accepted (``cpu``, ``cuda``, ``cuda:1``).
        threads: Torch threads per worker process.
        timeout: Stop starting trials after this many seconds (None: no limit).

    Raises:
        ValueError: the recipe's epochs are not the spec's (a trial trains one number of epochs).
    """

    spec: StudySpec
    study_name: str
    storage: StorageHandle
    trials: int
    data: DataChoice
    recipe: Recipe
    repeats: int = 1
    search: int = 0
    workers: int = 1
    device: str = "cpu"
    threads: int = 1
    timeout: float | None = None

    def __post_init__(self) -> None:
        if self.recipe.epochs != self.spec.epochs:
            raise ValueError(f"recipe {self.recipe.name} trains {self.recipe.epochs} epochs, "
                             f"the study spec {self.spec.epochs}: resolve the recipe at the spec's epochs")

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
        if not theirs.trains_like(request.recipe):
            other_recipe.append(f"{summary.study_name} ({theirs.name})")
        elif tuned.epochs != request.spec.epochs:
            other_epochs.append(f"{summary.study_name} ({tuned.epochs})")
    if other_recipe:
        return (f"note: {', '.join(other_recipe)} in this storage {_was(other_recipe)} tuned under another recipe than "
                f"{request.recipe.name} ({request.recipe.augmentation()}); a report never compares studies of "
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
        recipe_record=request.recipe.to_record(), group=split_search_name(request.study_name)[0],
        search=request.search, tuning_seed=request.seed,
    )


def _label_new_study(*, study: optuna.Study, request: TuneRequest, fingerprint: str) -> None:
    label_objective(study=study, name=OBJECTIVE_LABEL)
    label_study(study, record=tuned_record(request=request, fingerprint=fingerprint))


def check_compatible(*, study: optuna.Study, request: TuneRequest, fingerprint: str) -> None:
    """Refuse a study made under another recipe, with another spec, on other data or as another
    search (saying what to do)."""
    tuned = tuned_study(study, study_name=request.study_name)
    theirs = tuned.training_recipe
    if not theirs.trains_like(request.recipe):
        raise PairsearchError(
            f"study {request.study_name!r} was tuned under recipe {theirs.name} ({theirs.augmentation()}), "
            f"here {request.recipe.name} ({request.recipe.augmentation()}); use the same --recipe, "
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
